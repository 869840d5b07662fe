// The manual-keying demo: scripts/demo-manual.sh runs end to end (two namespaces, keyplane
// dataplane run on each side, ping, TCP transfer with SHA-256 check, tshark sees only
// ESP in UDP), exits 0, leaks no key into its output or logs, and cleans up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../../scripts/demo-manual.sh', import.meta.url));

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function namespaces(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

test('scripts/demo-manual.sh: ping and TCP cross the tunnel, SHA-256 matches, only ESP on the link', { timeout: 300_000 }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('the demo needs root (network namespaces, TUN)');
    return;
  }
  const dir = join(mkdtempSync(join(tmpdir(), 'keyplane-demo-test-')), 'work');
  try {
    const { code, output } = await run(['--skip-install', '--dir', dir, '--size-mb', '4'], 280_000);
    assert.equal(code, 0, `demo failed:\n${output.slice(-4000)}`);

    // The checks the demo itself makes, as it reports them.
    const sent = /sent {5}([0-9a-f]{64})/.exec(output)?.[1];
    const received = /received ([0-9a-f]{64})/.exec(output)?.[1];
    assert.ok(sent && received, 'the demo did not report both hashes');
    assert.equal(received, sent);
    assert.match(output, /SHA-256 match: 4 MB arrived intact/);
    assert.match(output, /4 packets transmitted, 4 received, 0% packet loss/);
    assert.match(output, /only ESP in UDP\/4500 on the link/);
    assert.match(output, /anything else: +0\n/);
    assert.match(output, /demo OK/);
    // Status output of both sides lists both SAs with SPI and algorithm.
    assert.match(output, /\| +in +0x0000b001 +site-to-site +tunnel +192\.0\.2\.2 +aes128gcm16 +[1-9]/);
    assert.match(output, /\| +out +0x0000a001 +site-to-site +tunnel +192\.0\.2\.2 +aes128gcm16 +[1-9]/);
    assert.match(output, /\| +out +0x0000b001 +site-to-site +tunnel +192\.0\.2\.1 +aes128gcm16 +[1-9]/);

    // The received file really is the sent one (the demo kept its folder: --dir).
    assert.deepEqual(readFileSync(join(dir, 'received.bin')), readFileSync(join(dir, 'payload.bin')));

    // No key material in what the demo printed or what keyplane logged.
    const keys = readdirSync(dir)
      .filter((f) => f.endsWith('.key'))
      .map((f) => readFileSync(join(dir, f), 'utf8').trim());
    assert.equal(keys.length, 2);
    const logs = ['site-a.log', 'site-b.log'].map((f) => readFileSync(join(dir, f), 'utf8'));
    for (const key of keys) {
      assert.match(key, /^[0-9a-f]{40}$/);
      for (const text of [output, ...logs]) assert.ok(!text.toLowerCase().includes(key.slice(0, 16)), 'key material printed');
    }
    assert.match(logs[0]!, /installed SA out spi 0x0000a001 policy site-to-site: aes128gcm16/);
    assert.match(logs[0]!, /SIGTERM: shutting down/);
    assert.match(logs[0]!, /stopped; TUN device and routes removed/);

    // Cleaned up: namespaces gone, control sockets removed.
    assert.doesNotMatch(namespaces(), /kpdemo[AB]/);
    assert.equal(existsSync(join(dir, 'a.sock')), false);
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});
