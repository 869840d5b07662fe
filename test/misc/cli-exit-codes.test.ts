// Exit codes (docs/cli.md): 0 ok, 1 runtime failure, 2 usage or config error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir, GCM128_KEY } from './config-helpers.js';
import { keyplane } from './cli-run.js';

const GOOD = `dataplane: { localAddress: 192.0.2.1, tunName: kpt0 }
policies: [{ name: p, action: protect, local: 10.1.0.0/24, remote: 10.2.0.0/24, remoteTunnel: 192.0.2.2 }]
sas:
  - { policy: p, direction: out, spi: 0x1001, encryption: { algorithm: aes128gcm16, key: "${GCM128_KEY}" } }
  - { policy: p, direction: in, spi: 0x2001, encryption: { algorithm: aes128gcm16, key: "${GCM128_KEY}" } }
`;

test('config check: a valid file exits 0 with a summary that shows no keys', () => {
  const dir = tempDir();
  try {
    const file = dir.write('ok.yaml', GOOD);
    const r = keyplane(['config', 'check', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${file}: OK$`, 'm'));
    assert.match(r.stdout, /out spi 0x00001001 policy p: aes128gcm16, tunnel, 192\.0\.2\.1 <-> 192\.0\.2\.2/);
    assert.match(r.stdout, /in {2}spi 0x00002001 policy p: aes128gcm16/);
    assert.ok(!r.stdout.includes(GCM128_KEY) && !r.stderr.includes(GCM128_KEY));
  } finally {
    dir.remove();
  }
});

test('config check: a bad file exits 2 and names file, field and expectation', () => {
  const dir = tempDir();
  try {
    const file = dir.write('bad.yaml', GOOD.replace('spi: 0x1001', 'spi: 0x10').replace('aes128gcm16, key', 'aes128gcm, key'));
    const r = keyplane(['config', 'check', file]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^keyplane: invalid config ${file}: 2 problems`, 'm'));
    assert.match(r.stderr, /^ {2}sas\[0\]\.spi: SPI 16 is reserved/m);
    assert.match(r.stderr, /^ {2}sas\[0\]\.encryption\.algorithm: unknown encryption algorithm "aes128gcm"; expected one of aes128gcm16/m);
    assert.ok(!r.stderr.includes(GCM128_KEY));
  } finally {
    dir.remove();
  }
});

test('dataplane run with a bad config exits 2 before touching the network', () => {
  const dir = tempDir();
  try {
    const file = dir.write('bad.yaml', GOOD.replace('localAddress: 192.0.2.1', 'localAddress: nowhere'));
    const r = keyplane(['dataplane', 'run', '--config', file]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /dataplane\.localAddress: expected an IPv4 or IPv6 address, got "nowhere"/);
  } finally {
    dir.remove();
  }
});

test('a missing config file exits 2', () => {
  const r = keyplane(['config', 'check', '/nonexistent/kp.yaml']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/nonexistent\/kp\.yaml: 1 problem\n {2}\(file\): cannot read: ENOENT/);
});

test('usage errors exit 2: unknown command, unknown option, missing argument or option', () => {
  for (const args of [['frobnicate'], ['keygen', '--alg', 'aes128gcm16', '--bogus'], ['config', 'check'], ['keygen'], ['dataplane', 'run']]) {
    const r = keyplane(args);
    assert.equal(r.status, 2, `keyplane ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /error|Usage/);
  }
});

test('status without a running data plane is a runtime failure (exit 1) with a hint', () => {
  const r = keyplane(['dataplane', 'status', '--socket', '/nonexistent/dir/kp.sock']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot connect to \/nonexistent\/dir\/kp\.sock: ENOENT \(is `keyplane dataplane run` running/);
});

test('version and --version exit 0 and agree with package.json', async () => {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(keyplane(['--version']).stdout, `${pkg.version}\n`);
  const r = keyplane(['version']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `keyplane ${pkg.version} (node ${process.versions.node})\n`);
});

test('a reader that goes away (| head) does not crash the CLI with EPIPE', async () => {
  const { spawn } = await import('node:child_process');
  const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [cli, 'agent', 'run', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.destroy(); // the reader is gone before the help is written
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
});
