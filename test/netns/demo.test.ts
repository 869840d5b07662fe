// The README's main job: scripts/demo.sh (seed 000) runs end to end — a controller and
// three agents (two router-mode gateways with hosts behind them, one PC-mode host) in
// network namespaces; the first packet triggers distribution, TCP crosses encrypted, the
// pair without a policy gets no keys — exits 0, prints no key material and cleans up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../../scripts/demo.sh', import.meta.url));

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

test('scripts/demo.sh: settings on the first packet, TCP encrypted, no keys without a policy', { timeout: 300_000 }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('the demo needs root (network namespaces, TUN)');
    return;
  }
  const dir = join(mkdtempSync(join(tmpdir(), 'keyplane-demo-test-')), 'work');
  try {
    const { code, output } = await run(['--skip-install', '--dir', dir, '--size-mb', '2'], 280_000);
    assert.equal(code, 0, `demo failed:\n${output.slice(-4000)}`);
    assert.match(output, /3 packets transmitted, 3 received, 0% packet loss/);
    const sent = /sent {5}([0-9a-f]{64})/.exec(output)?.[1];
    const received = /received ([0-9a-f]{64})/.exec(output)?.[1];
    assert.ok(sent && received);
    assert.equal(received, sent);
    assert.match(output, /2 packets transmitted, 2 received/); // pc -> site B
    assert.match(output, /failure=no-policy/); // pc -> site A refused
    assert.match(output, /only ESP on the Internet/);
    assert.match(output, /visible TCP\/ICMP or protected addresses: 0\n/);
    // sa list shows exactly the two pairs with policies, with their algorithms.
    assert.match(output, /192\.0\.2\.1 \(gw-a\) +192\.0\.2\.2 \(gw-b\) +any +0x[0-9a-f]{8} +0x[0-9a-f]{8} +aes256gcm16 +tunnel/);
    assert.match(output, /192\.0\.2\.3 \(pc\) +192\.0\.2\.2 \(gw-b\) +any +0x[0-9a-f]{8} +0x[0-9a-f]{8} +chacha20poly1305 +tunnel/);
    assert.doesNotMatch(output, /192\.0\.2\.3 \(pc\) +192\.0\.2\.1 \(gw-a\)/);
    assert.match(output, /demo OK/);
    // Both gateways installed the same entry, mirrored.
    const a = /gw-a \| .*event=installed policyId=to-site-b entryId=(\w+) inboundSpi=(0x\w+) outboundSpi=(0x\w+)/.exec(output);
    const b = /gw-b \| .*event=installed policyId=to-site-a entryId=(\w+) inboundSpi=(0x\w+) outboundSpi=(0x\w+)/.exec(output);
    assert.ok(a && b, 'both installs shown');
    assert.equal(a[1], b[1]);
    assert.equal(a[2], b[3]);
    assert.equal(a[3], b[2]);
    // No key material anywhere: the admin token and the master key never appear in the
    // output or the logs (SA keys are only in memory and sealed in the store).
    const secrets = [readFileSync(join(dir, 'admin.token'), 'utf8').trim(), readFileSync(join(dir, 'master.key')).toString('hex').slice(0, 24)];
    const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(dir, f), 'utf8'));
    for (const s of secrets) for (const text of [output, ...logs]) assert.ok(!text.includes(s), 'secret printed');
    // Cleaned up.
    assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, /kpd(ctl|gwa|gwb|pc|net|ha|hb)/);
    assert.equal(existsSync(join(dir, 'gw-a.sock')), false);
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});
