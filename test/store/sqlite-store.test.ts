// The SQLite controller store keeps devices, their init keys and their channel states
// exactly, across close and reopen, and enforces its rules (unique names and SPIs,
// revocation, removal) with typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { StoreError } from '../../src/store/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { senderInitKeyStateOnly } from '../../src/keyroll/durable.js';
import type { KeyrollVariant } from '../../src/keyroll/types.js';
import { norm, numberedState, realChannelStates, storeIn, tempDir } from './helpers.js';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof StoreError && e.code === code);
}

test('round trip: devices, init keys and channel states read back exactly, also after close and reopen', async () => {
  const dir = tempDir();
  try {
    let store = storeIn(dir);
    const controllerId = await store.controllerId();
    assert.match(controllerId, /^[0-9a-f]{32}$/);
    const kinds: [string, KeyrollVariant, boolean][] = [
      ['gw-berlin', 'explicit', true],
      ['pc.17', 'spi', true],
      ['sensor_3', 'spi', false],
      ['A-b.c_D', 'explicit', false],
    ];
    const keys = new Map<string, Buffer>();
    const states = new Map<string, unknown>();
    for (const [i, [name, variant, forwardSecrecy]] of kinds.entries()) {
      const key = randomBytes(32);
      const d = await store.addDevice({ name, variant, forwardSecrecy }, key, 1_700_000_000_000 + i);
      assert.match(d.id, /^[0-9a-f]{16}$/);
      assert.ok(d.initSpi >= 0x100 && d.initSpi <= 0xffff_ffff);
      assert.deepEqual(d, { id: d.id, name, createdAtMs: 1_700_000_000_000 + i, revokedAtMs: null, initSpi: d.initSpi, variant, forwardSecrecy, addresses: [] });
      assert.deepEqual(await store.getDevice(d.id), d);
      assert.deepEqual(await store.getDeviceByName(name), d);
      keys.set(d.id, key);
      // A real channel state from the keyroll cores, after a few rotations.
      const real = realChannelStates({ deviceId: d.id, initKey: key, initSpi: d.initSpi, variant, forwardSecrecy }, 2);
      const last = real[real.length - 1]!;
      await store.saveChannelState(d.id, last);
      states.set(d.id, norm(last));
    }
    const before = await store.listDevices();
    assert.deepEqual(
      before.map((d) => d.name),
      kinds.map(([n]) => n).sort(),
    );
    assert.equal(new Set(before.map((d) => d.initSpi)).size, kinds.length);
    await store.close();

    store = storeIn(dir); // a controller restart
    assert.equal(await store.controllerId(), controllerId);
    assert.deepEqual(await store.listDevices(), before);
    for (const d of before) {
      assert.deepEqual(Buffer.from(await store.initKey(d.id)), keys.get(d.id));
      assert.deepEqual(norm(await store.loadChannelState(d.id)), states.get(d.id));
    }
    await store.close();
  } finally {
    dir.remove();
  }
});

test('every state of a real channel survives a save/load round trip, and the latest save wins', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const key = randomBytes(32);
    const d = await store.addDevice({ name: 'gw', variant: 'explicit', forwardSecrecy: true }, key, 0);
    assert.equal(await store.loadChannelState(d.id), undefined);
    const real = realChannelStates({ deviceId: d.id, initKey: key, initSpi: d.initSpi, variant: 'explicit', forwardSecrecy: true }, 3);
    assert.ok(real.some((s) => s.previous === 'init') && real.some((s) => s.previous !== null && s.previous !== 'init'));
    for (const s of real) {
      await store.saveChannelState(d.id, s);
      assert.deepEqual(norm(await store.loadChannelState(d.id)), norm(s));
    }
    const lost = senderInitKeyStateOnly(real[real.length - 1]!); // flows 5/11: keys lost
    await store.saveChannelState(d.id, lost);
    assert.deepEqual(norm(await store.loadChannelState(d.id)), norm(lost));
    await store.close();
  } finally {
    dir.remove();
  }
});

test('names: unique, 1-64 characters of A-Za-z0-9_.-; bad devices are refused with typed errors', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const key = randomBytes(32);
    const ok = { variant: 'explicit', forwardSecrecy: true } as const;
    await store.addDevice({ name: 'a'.repeat(64), ...ok }, key, 0);
    for (const name of ['', 'a'.repeat(65), 'with space', 'semi;colon', 'ümlaut', 'a/b', '../x', 'tab\t', 'nl\n']) {
      await rejectsWith(store.addDevice({ name, ...ok }, key, 0), 'store.bad-name');
    }
    await store.addDevice({ name: 'gw1', ...ok }, key, 0);
    await rejectsWith(store.addDevice({ name: 'gw1', variant: 'spi', forwardSecrecy: false }, key, 0), 'store.device-exists');
    await rejectsWith(store.addDevice({ name: 'k', ...ok }, randomBytes(16), 0), 'store.bad-device');
    await rejectsWith(store.addDevice({ name: 'v', variant: 'other' as never, forwardSecrecy: true }, key, 0), 'store.bad-device');
    await rejectsWith(store.addDevice({ name: 'f', variant: 'spi', forwardSecrecy: 1 as never }, key, 0), 'store.bad-device');
    assert.equal((await store.listDevices()).length, 2);
    await store.close();
  } finally {
    dir.remove();
  }
});

test('revoke: recorded once, refuses channel state, destroys the stored keys; rm drops everything', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const a = await store.addDevice({ name: 'a', variant: 'explicit', forwardSecrecy: true }, randomBytes(32), 100);
    const b = await store.addDevice({ name: 'b', variant: 'spi', forwardSecrecy: true }, randomBytes(32), 100);
    await store.saveChannelState(a.id, numberedState(1));
    await store.saveChannelState(b.id, numberedState(2));

    assert.equal(await store.revokeDevice(a.id, 5000), true);
    assert.equal(await store.revokeDevice(a.id, 9000), false); // already revoked: first time kept
    assert.equal(await store.revokeDevice('0000000000000000', 5000), false);
    assert.equal((await store.getDevice(a.id))?.revokedAtMs, 5000);
    assert.equal(await store.loadChannelState(a.id), undefined);
    await rejectsWith(store.saveChannelState(a.id, numberedState(3)), 'store.revoked');
    await rejectsWith(store.saveChannelState('nope', numberedState(3)), 'store.not-found');
    assert.deepEqual(norm(await store.loadChannelState(b.id)), norm(numberedState(2))); // others untouched

    assert.equal(await store.removeDevice(b.id), true);
    assert.equal(await store.removeDevice(b.id), false);
    assert.equal(await store.getDevice(b.id), undefined);
    assert.equal(await store.getDeviceByName('b'), undefined);
    assert.equal(await store.loadChannelState(b.id), undefined);
    await rejectsWith(store.initKey(b.id), 'store.not-found');
    // The name is free again, with a new id.
    const b2 = await store.addDevice({ name: 'b', variant: 'spi', forwardSecrecy: true }, randomBytes(32), 200);
    assert.notEqual(b2.id, b.id);
    assert.deepEqual(
      (await store.listDevices()).map((d) => [d.name, d.revokedAtMs]),
      [
        ['a', 5000],
        ['b', null],
      ],
    );
    await store.close();
    await rejectsWith(store.listDevices(), 'store.closed');
    await store.close(); // twice is fine
  } finally {
    dir.remove();
  }
});

test('a store is not created when create is false, and refuses files that are not keyplane stores', async () => {
  const dir = tempDir();
  try {
    assert.throws(
      () => openSqliteStore({ path: dir.file('none.db'), masterKeyFile: dir.file('m.key'), create: false }),
      (e: unknown) => e instanceof StoreError && e.code === 'store.missing',
    );
    const { writeFileSync } = await import('node:fs');
    writeFileSync(dir.file('junk.db'), Buffer.alloc(4096, 0x41));
    assert.throws(
      () => openSqliteStore({ path: dir.file('junk.db'), masterKeyFile: dir.file('m.key') }),
      (e: unknown) => e instanceof StoreError && e.code === 'store.not-a-store',
    );
    // An SQLite database of something else.
    const Database = (await import('better-sqlite3')).default;
    const other = new Database(dir.file('other.db'));
    other.exec('CREATE TABLE t (x)');
    other.close();
    assert.throws(
      () => openSqliteStore({ path: dir.file('other.db'), masterKeyFile: dir.file('m.key') }),
      (e: unknown) => e instanceof StoreError && e.code === 'store.not-a-store',
    );
  } finally {
    dir.remove();
  }
});

test('a store written by a newer schema is refused with a clear error', async () => {
  const dir = tempDir();
  try {
    await storeIn(dir).close();
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(dir.file('controller.db'));
    raw.prepare('UPDATE meta SET value = ? WHERE key = ?').run(String(SCHEMA_VERSION + 1), 'schema_version');
    raw.close();
    assert.throws(
      () => storeIn(dir),
      (e: unknown) =>
        e instanceof StoreError &&
        e.code === 'store.schema-too-new' &&
        new RegExp(`schema version ${SCHEMA_VERSION + 1}.*newer keyplane.*up to ${SCHEMA_VERSION}`).test(e.message),
    );
  } finally {
    dir.remove();
  }
});

test('ids are 16 hex digits and init SPIs stay unique across many devices', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const key = randomBytes(32);
    for (let i = 0; i < 300; i++) await store.addDevice({ name: `d${i}`, variant: 'spi', forwardSecrecy: false }, key, i);
    const all = await store.listDevices();
    assert.equal(all.length, 300);
    assert.equal(new Set(all.map((d) => d.id)).size, 300);
    assert.equal(new Set(all.map((d) => d.initSpi)).size, 300);
    assert.ok(all.every((d) => /^[0-9a-f]{16}$/.test(d.id) && d.initSpi >= 256));
    // CSPRNG SPIs spread over the 32-bit space (a counter would cluster near 256).
    assert.ok(all.filter((d) => d.initSpi > 0x8000_0000).length > 100);
    await store.close();
  } finally {
    dir.remove();
  }
});

test("a new device's init SPI avoids other init SPIs and the SPIs of stored channel keys", async () => {
  const dir = tempDir();
  try {
    const script: number[] = [];
    const store = openSqliteStore({
      path: dir.file('controller.db'),
      masterKeyFile: dir.file('master.key'),
      spiSource: () => {
        const v = script.shift();
        if (v === undefined) throw new Error('script exhausted');
        return v;
      },
    });
    const key = randomBytes(32);
    script.push(0x7000);
    const a = await store.addDevice({ name: 'a', variant: 'explicit', forwardSecrecy: true }, key, 0);
    assert.equal(a.initSpi, 0x7000);
    const state = numberedState(1); // latest SPI 0x1001, previous SPI 0x1000
    await store.saveChannelState(a.id, state);
    script.push(0x1001, 0x1000, 0x7000, 0x8000);
    const b = await store.addDevice({ name: 'b', variant: 'explicit', forwardSecrecy: true }, key, 0);
    assert.equal(b.initSpi, 0x8000, 'latest, previous and init SPIs in use were skipped');
    assert.equal(script.length, 0);
    // Nothing free in 64 draws: a StoreError, and no device.
    for (let i = 0; i < 64; i++) script.push(0x8000);
    await rejectsWith(store.addDevice({ name: 'c', variant: 'explicit', forwardSecrecy: true }, key, 0), 'store.no-free-value');
    assert.equal(await store.getDeviceByName('c'), undefined);
    // After a rotation the old SPI is free again.
    await store.saveChannelState(a.id, numberedState(2)); // latest 0x1002, previous 'init'
    script.push(0x1001);
    assert.equal((await store.addDevice({ name: 'd', variant: 'spi', forwardSecrecy: true }, key, 0)).initSpi, 0x1001);
    await store.close();
  } finally {
    dir.remove();
  }
});
