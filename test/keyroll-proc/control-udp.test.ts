// The control channel's UDP helper (src/io/control-udp.ts) and the controller's store
// sync plan (src/controller/device-sync.ts), and the CLI's refusal of bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { IoError } from '../../src/io/errors.js';
import { formatEndpoint, openControlUdp, parseEndpoint, type ControlEndpoint } from '../../src/io/control-udp.js';
import { planSync } from '../../src/controller/device-sync.js';
import type { DeviceRecord } from '../../src/store/types.js';
import { keyplane } from './procs.js';
import { tempDir, waitFor } from './helpers.js';

test('parseEndpoint: IPv4, bracketed IPv6, names, default ports; bad input is an IoError', () => {
  assert.deepEqual(parseEndpoint('192.0.2.1:4501'), { address: '192.0.2.1', port: 4501 });
  assert.deepEqual(parseEndpoint('[2001:db8::1]:4501'), { address: '2001:db8::1', port: 4501 });
  assert.deepEqual(parseEndpoint('2001:db8::1', 4501), { address: '2001:db8::1', port: 4501 });
  assert.deepEqual(parseEndpoint('ctl.example', 4501), { address: 'ctl.example', port: 4501 });
  assert.deepEqual(parseEndpoint('0.0.0.0:0'), { address: '0.0.0.0', port: 0 });
  for (const bad of ['', ':4501', '192.0.2.1:', '192.0.2.1:65536', '192.0.2.1:x', '[192.0.2.1]:1', '[::1', 'a b:1', '192.0.2.1']) {
    assert.throws(() => parseEndpoint(bad), IoError, bad);
  }
  assert.equal(formatEndpoint({ address: '2001:db8::1', port: 7 }), '[2001:db8::1]:7');
  assert.equal(formatEndpoint({ address: '192.0.2.1', port: 7 }), '192.0.2.1:7');
});

test('datagrams arrive with their source; oversize ones are reported, not delivered', async () => {
  const got: { bytes: Buffer; from: ControlEndpoint }[] = [];
  const oversize: number[] = [];
  const sock = await openControlUdp({
    bind: { address: '127.0.0.1', port: 0 },
    maxDatagramBytes: 100,
    onMessage: (bytes, from) => got.push({ bytes, from }),
    onOversize: (n) => oversize.push(n),
  });
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', () => resolve()));
  try {
    for (const n of [100, 101, 1]) peer.send(Buffer.alloc(n, 7), sock.local.port, '127.0.0.1');
    await waitFor('two datagrams and one oversize', () => got.length === 2 && oversize.length === 1, 5000);
    assert.deepEqual(got.map((g) => g.bytes.length), [100, 1]);
    assert.deepEqual(oversize, [101]);
    assert.equal(got[0]!.from.port, peer.address().port);
    // And back to the source.
    const answer = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    sock.send(Buffer.from('hi'), got[0]!.from);
    assert.equal((await answer).toString(), 'hi');
    // A second socket on the same port is refused.
    await assert.rejects(openControlUdp({ bind: sock.local, onMessage: () => undefined }), (e: unknown) => e instanceof IoError && e.code === 'udp-bind');
  } finally {
    peer.close();
    await sock.close();
  }
});

function rec(id: string, revoked = false): DeviceRecord {
  return { id, name: `n-${id}`, createdAtMs: 0, revokedAtMs: revoked ? 1 : null, initSpi: 300, variant: 'spi', forwardSecrecy: true, addresses: [] };
}

test('planSync: serve the enrolled, refuse the revoked, drop the removed', () => {
  const plan = planSync([rec('a'), rec('b'), rec('c', true), rec('d', true)], new Set(['a', 'c', 'x']), new Set(['d', 'y']));
  assert.deepEqual(plan.add.map((r) => r.id), ['b']);
  assert.deepEqual(plan.revoke.map((r) => r.id), ['c']);
  assert.deepEqual(plan.remove, ['x']);
  assert.deepEqual(plan.forget, ['y']);
  const steady = planSync([rec('a'), rec('d', true)], new Set(['a']), new Set(['d']));
  assert.deepEqual(steady, { add: [], revoke: [], remove: [], forget: [] });
});

test('the CLI refuses bad options and missing files with exit code 2', async () => {
  const dir = tempDir();
  try {
    const store = ['--store', `${dir.path}/c.db`, '--master-key', `${dir.path}/m.key`, '--control-socket', `${dir.path}/c.sock`];
    for (const args of [
      ['controller', 'run', ...store, '--rotation-seconds', 'soon'],
      ['controller', 'run', ...store, '--listen', '192.0.2.1:99999'],
      ['controller', 'run', ...store, '--init-burst', '0'],
      ['agent', 'run', '--file', `${dir.path}/none.json`, '--state', `${dir.path}/s.json`],
      ['agent', 'run', '--file', `${dir.path}/none.json`, '--registration-seconds', '0'],
    ]) {
      const r = await keyplane(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^keyplane: /);
    }
    const s = await keyplane(['controller', 'status', '--socket', `${dir.path}/nothing.sock`]);
    assert.equal(s.code, 1);
  } finally {
    dir.remove();
  }
});
