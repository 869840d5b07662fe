// `keyplane dataplane status`: SAs from a manual-keying config, installed into real data
// planes (the memory backend, two of them on a memory wire), traffic between them, then
// the CLI asks over the control socket. --json is valid JSON with SPIs, algorithms and
// counters that match the traffic; neither form shows key material.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { parseManualKeyingConfig } from '../../src/config/manual-keying.js';
import { startControlServer } from '../../src/cli/control-socket.js';
import { collectStatus, type DataplaneStatus } from '../../src/cli/status.js';
import { MemoryWire, createMemoryDataPlane } from '../../src/ipsec/memory-dataplane.js';
import { parseIp } from '../../src/wire/address.js';
import { encodeIpv4Packet } from '../../src/wire/ipv4.js';
import { CBC256_KEY, GCM128_KEY, SHA256_KEY, tempDir } from './config-helpers.js';
import { KEYPLANE, type RunResult } from './cli-run.js';

function side(local: string, peer: string, localNet: string, remoteNet: string, outSa: string, inSa: string): string {
  return `dataplane: { localAddress: ${local} }
policies:
  - { name: site, action: protect, local: ${localNet}, remote: ${remoteNet}, remoteTunnel: ${peer} }
sas:
${outSa}
${inSa}
`;
}
const GCM = (dir: string, spi: string) => `  - { policy: site, direction: ${dir}, spi: ${spi}, encryption: { algorithm: aes128gcm16, key: "${GCM128_KEY}" } }`;
const CBC = (dir: string, spi: string) =>
  `  - { policy: site, direction: ${dir}, spi: ${spi}, encryption: { algorithm: aes256, key: "${CBC256_KEY}" }, integrity: { algorithm: sha256, key: "${SHA256_KEY}" } }`;

// Async: the control server lives in this process, so the event loop must keep running.
function keyplaneAsync(args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KEYPLANE, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('status --json and text report the SAs and counters of a running data plane, without keys', async () => {
  const cfgA = parseManualKeyingConfig(side('192.0.2.1', '192.0.2.2', '10.1.0.0/24', '10.2.0.0/24', GCM('out', '0x1001'), CBC('in', '0x2001')), { file: 'a.yaml' });
  const cfgB = parseManualKeyingConfig(side('192.0.2.2', '192.0.2.1', '10.2.0.0/24', '10.1.0.0/24', CBC('out', '0x2001'), GCM('in', '0x1001')), { file: 'b.yaml' });
  const wire = new MemoryWire();
  const now = () => 1_000_000;
  const a = createMemoryDataPlane({ wire, addresses: ['192.0.2.1'], nowMs: now });
  const b = createMemoryDataPlane({ wire, addresses: ['192.0.2.2'], nowMs: now });
  for (const [dp, cfg] of [[a, cfgA], [b, cfgB]] as const) {
    for (const p of cfg.policies) await dp.installPolicy(p);
    for (const s of cfg.sas) await dp.installSa(s.config);
  }
  let delivered = 0;
  b.onInner(() => delivered++);
  const src = parseIp('10.1.0.1');
  const dst = parseIp('10.2.0.1');
  const sizes = [28, 100, 1000];
  for (const [i, size] of sizes.entries()) {
    a.sendInner(encodeIpv4Packet({ ttl: 64, protocol: 253, src, dst, identification: i }, new Uint8Array(size - 20)));
  }
  assert.equal(delivered, sizes.length, 'the config-built SAs do not carry traffic');

  const dir = tempDir();
  const path = join(dir.path, 'a.sock');
  const server = await startControlServer(path, () => collectStatus(a, cfgA, { tunName: 'kpa0', startedAtMs: Date.now(), routes: ['10.2.0.0/24 dev kpa0 src 10.1.0.1'] }));
  try {
    const json = await keyplaneAsync(['dataplane', 'status', '--socket', path, '--json']);
    assert.equal(json.status, 0, json.stderr);
    const status = JSON.parse(json.stdout) as DataplaneStatus;
    assert.equal(status.pid, process.pid);
    assert.equal(status.config, 'a.yaml');
    assert.equal(status.tunName, 'kpa0');
    assert.deepEqual(status.routes, ['10.2.0.0/24 dev kpa0 src 10.1.0.1']);
    const out = status.sas.find((s) => s.direction === 'out');
    const inb = status.sas.find((s) => s.direction === 'in');
    assert.deepEqual(
      { ...out, lastUsedAt: null },
      {
        name: null,
        policy: 'site',
        direction: 'out',
        spi: '0x00001001',
        mode: 'tunnel',
        localAddress: '192.0.2.1',
        remoteAddress: '192.0.2.2',
        encryption: 'aes128gcm16',
        integrity: null,
        bytes: sizes.reduce((x, y) => x + y, 0),
        packets: sizes.length,
        replayDrops: 0,
        authFailures: 0,
        softExpired: false,
        lastUsedAt: null,
      },
    );
    assert.equal(inb?.spi, '0x00002001');
    assert.equal(inb?.encryption, 'aes256');
    assert.equal(inb?.integrity, 'sha256');
    assert.equal(inb?.packets, 0);
    assert.deepEqual(status.policies, [
      { name: 'site', priority: 1000, action: 'protect', selector: '10.1.0.0/24 -> 10.2.0.0/24 proto any', mode: 'tunnel', tunnel: '192.0.2.1 -> 192.0.2.2' },
    ]);
    assert.equal(typeof status.counters, 'object');

    const text = await keyplaneAsync(['dataplane', 'status', '--socket', path]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^ {2}out +0x00001001 +site +tunnel +192\.0\.2\.2 +aes128gcm16 +3 +1128 +0 +0$/m);
    assert.match(text.stdout, /^ {2}in +0x00002001 +site +tunnel +192\.0\.2\.2 +aes256\+sha256 +0 +0 +0 +0$/m);
    for (const o of [json.stdout, text.stdout]) {
      for (const key of [GCM128_KEY, CBC256_KEY, SHA256_KEY]) assert.ok(!o.includes(key.slice(0, 16)), 'key material in status output');
    }
  } finally {
    await server.close();
    await a.close();
    await b.close();
    dir.remove();
  }
});
