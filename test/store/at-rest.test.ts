// Secrets at rest: the database file and its WAL hold no key byte in any encoding; the
// master key file is private and checked; a wrong master key is refused up front; and a
// sealed value moved to another device's row does not open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../../src/store/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { SenderPeerDurable } from '../../src/keyroll/types.js';
import { findSecret, numberedState, readIfExists, realChannelStates, secretsOf, storeIn, tempDir } from './helpers.js';

function isStoreError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && e.code === code;
}

test('the secret scanner finds a planted key in every encoding (so the scans below can fail)', () => {
  const secret = randomBytes(32);
  for (const enc of ['raw', 'hex', 'base64', 'base64url'] as const) {
    for (const pad of [0, 1, 2, 5]) {
      const inner = enc === 'raw' ? secret : Buffer.from(Buffer.concat([Buffer.alloc(pad, 7), secret]).toString(enc));
      const hay = Buffer.concat([randomBytes(100), inner, randomBytes(100)]);
      assert.ok(findSecret(hay, secret) !== undefined, `${enc} with ${pad} bytes before`);
    }
  }
  assert.equal(findSecret(randomBytes(100_000), secret), undefined);
});

test('the database, WAL and shared-memory files contain no init key, channel key or master key', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const secrets: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      const key = randomBytes(32);
      secrets.push(key);
      const d = await store.addDevice({ name: `gw${i}`, variant: i % 2 ? 'spi' : 'explicit', forwardSecrecy: true }, key, i);
      const states: SenderPeerDurable[] = realChannelStates({ deviceId: d.id, initKey: key, initSpi: d.initSpi, variant: d.variant, forwardSecrecy: true }, 3);
      for (const s of states) {
        await store.saveChannelState(d.id, s); // every intermediate state passes through the WAL
        secrets.push(...secretsOf(s));
      }
    }
    secrets.push(Buffer.from(readFileSync(dir.file('master.key'), 'latin1').trim(), 'hex'));
    const files = ['controller.db', 'controller.db-wal', 'controller.db-shm'].map((f) => dir.file(f));
    const scan = (when: string) => {
      for (const f of files) {
        const data = readIfExists(f);
        for (const [i, s] of secrets.entries()) assert.equal(findSecret(data, s), undefined, `${when}: secret ${i} in ${f}`);
      }
    };
    assert.ok(readIfExists(dir.file('controller.db-wal')).length > 0, 'the WAL is in use while the store is open');
    scan('open');
    await store.close();
    scan('closed');
    // And the store still has it all.
    const again = storeIn(dir);
    assert.equal((await again.listDevices()).length, 4);
    await again.close();
  } finally {
    dir.remove();
  }
});

test('store files are private: folder 0700, database and master key 0600; the key file is 64 hex digits', async () => {
  const dir = tempDir();
  try {
    const store = openSqliteStore({ path: dir.file('lib/keyplane/controller.db'), masterKeyFile: dir.file('lib/keyplane/master.key') });
    await store.addDevice({ name: 'x', variant: 'explicit', forwardSecrecy: true }, randomBytes(32), 0);
    assert.equal(statSync(dir.file('lib/keyplane')).mode & 0o777, 0o700);
    assert.equal(statSync(dir.file('lib/keyplane/controller.db')).mode & 0o777, 0o600);
    assert.equal(statSync(dir.file('lib/keyplane/master.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(dir.file('lib/keyplane/master.key'), 'latin1'), /^[0-9a-f]{64}\n$/);
    await store.close();
  } finally {
    dir.remove();
  }
});

test('a master key file that group or others can access is refused, as are bad contents and symlinks', async () => {
  const dir = tempDir();
  try {
    await storeIn(dir).close();
    const keyFile = dir.file('master.key');
    for (const mode of [0o640, 0o604, 0o610, 0o601, 0o620, 0o644, 0o666]) {
      chmodSync(keyFile, mode);
      assert.throws(
        () => storeIn(dir),
        (e: unknown) => isStoreError('store.master-key-permissions')(e) && (e as Error).message.includes(`0${mode.toString(8)}`) && /chmod 600/.test((e as Error).message),
        mode.toString(8),
      );
    }
    chmodSync(keyFile, 0o400); // owner read-only is fine
    await storeIn(dir).close();
    chmodSync(keyFile, 0o600);

    symlinkSync(keyFile, dir.file('link.key'));
    assert.throws(() => openSqliteStore({ path: dir.file('controller.db'), masterKeyFile: dir.file('link.key') }), isStoreError('store.master-key-permissions'));
    for (const content of ['', 'zz'.repeat(32) + '\n', 'ab'.repeat(31) + '\n', 'ab'.repeat(33) + '\n', 'AB'.repeat(32) + '\n', randomBytes(32).toString('latin1')]) {
      writeFileSync(dir.file('bad.key'), content, { mode: 0o600 });
      assert.throws(() => openSqliteStore({ path: dir.file('controller.db'), masterKeyFile: dir.file('bad.key') }), isStoreError('store.master-key-invalid'));
    }
  } finally {
    dir.remove();
  }
});

test('a wrong master key is refused (store.master-key-mismatch); a missing one is not replaced', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const key = randomBytes(32);
    const d = await store.addDevice({ name: 'gw', variant: 'explicit', forwardSecrecy: true }, key, 0);
    await store.saveChannelState(d.id, numberedState(5));
    await store.close();

    writeFileSync(dir.file('other.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    assert.throws(
      () => storeIn(dir, 'other.key'),
      (e: unknown) => isStoreError('store.master-key-mismatch')(e) && /is not the master key of the store/.test((e as Error).message),
    );
    // A key that differs in one bit only.
    const right = readFileSync(dir.file('master.key'), 'latin1').trim();
    const flipped = Buffer.from(right, 'hex');
    flipped[31]! ^= 1;
    writeFileSync(dir.file('flip.key'), `${flipped.toString('hex')}\n`, { mode: 0o600 });
    assert.throws(() => storeIn(dir, 'flip.key'), isStoreError('store.master-key-mismatch'));

    assert.throws(() => storeIn(dir, 'missing.key'), isStoreError('store.master-key-missing'));
    assert.equal(existsSync(dir.file('missing.key')), false, 'opening an existing store never makes a new master key');

    const ok = storeIn(dir);
    assert.deepEqual(Buffer.from(await ok.initKey(d.id)), key);
    await ok.close();
  } finally {
    dir.remove();
  }
});

test('a sealed value copied or swapped to another device, or altered, does not open', async () => {
  const dir = tempDir();
  try {
    const store = storeIn(dir);
    const a = await store.addDevice({ name: 'a', variant: 'explicit', forwardSecrecy: true }, randomBytes(32), 0);
    const b = await store.addDevice({ name: 'b', variant: 'explicit', forwardSecrecy: true }, randomBytes(32), 0);
    const c = await store.addDevice({ name: 'c', variant: 'explicit', forwardSecrecy: true }, randomBytes(32), 0);
    await store.saveChannelState(a.id, numberedState(1));
    await store.close();

    const raw = new Database(dir.file('controller.db'));
    const sealedKey = (id: string) => (raw.prepare('SELECT init_key_sealed k FROM devices WHERE id = ?').get(id) as { k: Buffer }).k;
    const ka = sealedKey(a.id);
    const kb = sealedKey(b.id);
    raw.prepare('UPDATE devices SET init_key_sealed = ? WHERE id = ?').run(kb, a.id);
    raw.prepare('UPDATE devices SET init_key_sealed = ? WHERE id = ?').run(ka, b.id);
    const state = (raw.prepare('SELECT state_sealed s FROM channel_state WHERE device_id = ?').get(a.id) as { s: Buffer }).s;
    raw.prepare('INSERT INTO channel_state (device_id, state_sealed, writes) VALUES (?, ?, 1)').run(b.id, state);
    // The init key's sealed blob in the channel_state table (another table, same device).
    raw.prepare('INSERT INTO channel_state (device_id, state_sealed, writes) VALUES (?, ?, 1)').run(c.id, sealedKey(c.id));
    // One flipped bit in c's own init key.
    const kc = Buffer.from(sealedKey(c.id));
    kc[kc.length - 20]! ^= 0x01;
    raw.prepare('UPDATE devices SET init_key_sealed = ? WHERE id = ?').run(kc, c.id);
    raw.close();

    const s = storeIn(dir); // the master key is right: the store opens
    const invalid = isStoreError('store.sealed-data-invalid');
    await assert.rejects(s.initKey(a.id), invalid);
    await assert.rejects(s.initKey(b.id), invalid);
    await assert.rejects(s.initKey(c.id), invalid);
    await assert.rejects(s.loadChannelState(b.id), invalid);
    await assert.rejects(s.loadChannelState(c.id), invalid);
    assert.ok((await s.loadChannelState(a.id)) !== undefined, 'the original row still opens');
    await s.close();
  } finally {
    dir.remove();
  }
});
