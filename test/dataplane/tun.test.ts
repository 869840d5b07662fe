// The TUN shell (src/io/tun.ts + native addon): devices open with the requested name and
// MTU and disappear on close; every way of failing to open one is a KeyplaneError with a
// clear code and message, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { KeyplaneError } from '../../src/util/errors.js';
import { IoError } from '../../src/io/errors.js';
import { MAX_TUN_NAME_LENGTH, openTun } from '../../src/io/tun.js';
import { verifyInternetChecksum } from '../../src/wire/checksum.js';
import { verifyUdpChecksum } from '../../src/wire/udp.js';

const root = process.getuid?.() === 0 && existsSync('/dev/net/tun');
const skip = root ? false : 'needs root and /dev/net/tun';
const unique = `kpt${process.pid % 100000}`;

function assertIoError(f: () => unknown, code: string, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof KeyplaneError && e instanceof IoError, `not a KeyplaneError: ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('a name longer than IFNAMSIZ-1 bytes is refused before the kernel is asked', () => {
  const name = 'k'.repeat(MAX_TUN_NAME_LENGTH + 1);
  assertIoError(() => openTun({ name }), 'tun-bad-name', /too long: at most 15 bytes/);
  // Multi-byte characters count in bytes: 8 characters, 16 bytes.
  assertIoError(() => openTun({ name: 'é'.repeat(8) }), 'tun-bad-name', /too long/);
});

test('names with "/", ":" or spaces, and "." / "..", are refused', () => {
  for (const name of ['a/b', 'kp:0', 'kp 0', '.', '..', 'kp\t0']) {
    assertIoError(() => openTun({ name }), 'tun-bad-name', /not a valid interface name/);
  }
});

test('an out-of-range MTU is refused', () => {
  for (const mtu of [1, 67, 65536, 1.5, -1]) assertIoError(() => openTun({ name: 'kpx', mtu }), 'tun-open', /MTU/);
});

test('the name of an existing non-TUN interface is refused by the kernel, cleanly', { skip }, () => {
  assertIoError(() => openTun({ name: 'lo' }), 'tun-bad-name', /kernel refused the name/);
});

test('opens with a chosen name and MTU, is up, and is gone after close', { skip }, () => {
  const tun = openTun({ name: unique, mtu: 1380 });
  try {
    assert.equal(tun.name, unique);
    assert.equal(readFileSync(`/sys/class/net/${unique}/mtu`, 'utf8').trim(), '1380');
    const flags = Number(readFileSync(`/sys/class/net/${unique}/flags`, 'utf8').trim());
    assert.equal(flags & 1, 1, 'IFF_UP');
    // A second open of the same name while the first holds it is refused.
    assertIoError(() => openTun({ name: unique }), 'tun-bad-name', /in use/);
  } finally {
    tun.close();
  }
  assert.equal(existsSync(`/sys/class/net/${unique}`), false);
  tun.close(); // idempotent
  assert.equal(tun.write([new Uint8Array(20)]), 0);
  assert.throws(() => tun.start(() => {}), (e: unknown) => e instanceof IoError && e.code === 'closed');
});

test('a kernel-chosen name follows the %d pattern', { skip }, () => {
  const tun = openTun({ name: 'kpauto%d' });
  try {
    assert.match(tun.name, /^kpauto\d+$/);
    assert.ok(existsSync(`/sys/class/net/${tun.name}`));
  } finally {
    tun.close();
  }
});

for (const offload of [true, false]) {
  test(`packets the kernel routes into the device arrive in batches with valid checksums (offload ${offload})`, { skip }, async () => {
    const tun = openTun({ name: `${unique}${offload ? 'o' : 'p'}`, mtu: 1400, offload });
    try {
      const got: Buffer[] = [];
      tun.start((batch) => got.push(...batch));
      // A /30 on the device; datagrams to the other address are routed into the TUN.
      const net = `10.254.${(process.pid + (offload ? 1 : 0)) % 250}`;
      execFileSync('ip', ['addr', 'add', `${net}.1/30`, 'dev', tun.name]);
      const { createSocket } = await import('node:dgram');
      const s = createSocket('udp4');
      for (let i = 0; i < 20; i++) s.send(Buffer.from(`packet ${i}`), 9, `${net}.2`);
      await new Promise((r) => setTimeout(r, 300));
      s.close();
      // IPv4 (0x45: version 4, 20-byte header), protocol 17 (UDP), destination net.2.
      const udp = got.filter((p) => p[0] === 0x45 && p[9] === 17 && `${p[16]}.${p[17]}.${p[18]}.${p[19]}` === `${net}.2`);
      assert.equal(udp.length, 20);
      assert.deepEqual(
        udp.map((p) => p.subarray(28).toString()),
        Array.from({ length: 20 }, (_, i) => `packet ${i}`),
      );
      // With offload the kernel leaves checksums to the device; the addon completes them.
      for (const p of udp) {
        assert.ok(verifyInternetChecksum(p, 0, 20), 'IPv4 header checksum');
        assert.notEqual(p.readUInt16BE(26), 0, 'Linux computes UDP checksums; 0 would pass unchecked');
        assert.ok(verifyUdpChecksum(p.subarray(12, 16), p.subarray(16, 20), p.subarray(20)), 'UDP checksum');
      }
    } finally {
      tun.close();
    }
  });
}

test('without CAP_NET_ADMIN opening fails with tun-permission, and the process lives on', { skip }, () => {
  const module = new URL('../../src/io/tun.js', import.meta.url).pathname;
  const script = `import('${module}').then((m) => { try { m.openTun({ name: 'kpnopriv' }); console.log('opened'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); } })`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { name: string; code: string; message: string };
  assert.equal(out.name, 'IoError');
  assert.equal(out.code, 'tun-permission');
  assert.match(out.message, /permission denied .*root or with CAP_NET_ADMIN/);
});
