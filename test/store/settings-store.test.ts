// The seed-000 part of the controller store: device addresses, distribution policies,
// the management table and the event log. The contract tests run against both the
// SQLite store and the in-memory one the controller tests use; the rest (migration of a
// version-1 database, sealing at rest, tampering, SIGKILL) is SQLite's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { StoreError, type ControllerStore } from '../../src/store/types.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { SealingKey } from '../../src/store/sealed-box.js';
import { EVENT_LOG_CAP } from '../../src/store/sqlite-settings.js';
import type { ManagementEntry } from '../../src/settings/types.js';
import { MemoryStore } from '../keyroll-proc/memory-store.js';
import { findSecret, norm, numberedState, readIfExists, storeIn, tempDir } from './helpers.js';
import { applied, entryNumbered, newPolicy, randomKeys, secretsOfEntry } from './settings-fixtures.js';

function isStoreError(code: string, message?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && e.code === code && (message === undefined || message.test(e.message));
}

const key32 = () => randomBytes(32);
const dev = (name: string, addresses?: string[]) => ({ name, variant: 'explicit' as const, forwardSecrecy: true, ...(addresses ? { addresses } : {}) });

// ------------------------------------------------------------- the contract, both stores

interface Backend {
  readonly name: string;
  open(): { store: ControllerStore; reopen: () => ControllerStore; done: () => void };
}

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    open() {
      const dir = tempDir();
      return { store: storeIn(dir), reopen: () => storeIn(dir), done: () => dir.remove() };
    },
  },
  {
    name: 'memory',
    open() {
      const store = new MemoryStore();
      return {
        store,
        reopen: () => {
          store.closed = false; // the same memory, as a reopened file
          return store;
        },
        done: () => undefined,
      };
    },
  },
];

for (const backend of BACKENDS) {
  test(`${backend.name}: device addresses are canonical, unique across devices, replaced as a set and freed on removal`, async () => {
    const b = backend.open();
    const s = b.store;
    try {
      const gw = await s.addDevice(dev('gw', ['2001:DB8:0:0::1', '192.0.2.1', '2001:db8::1']), key32(), 0);
      assert.deepEqual(gw.addresses, ['2001:db8::1', '192.0.2.1'], 'canonical (RFC 5952), two spellings of one address kept once');
      assert.deepEqual((await s.getDevice(gw.id))?.addresses, gw.addresses);
      assert.deepEqual((await s.getDeviceByName('gw'))?.addresses, gw.addresses);
      const pc = await s.addDevice(dev('pc'), key32(), 0);
      assert.deepEqual(pc.addresses, []);

      // Taken in another spelling: refused, and the refused device was not created.
      await assert.rejects(s.addDevice(dev('other', ['10.9.9.9', '2001:db8:0::1']), key32(), 0), isStoreError('store.address-taken', /2001:db8::1.*device gw/));
      assert.equal(await s.getDeviceByName('other'), undefined);
      await assert.rejects(s.setDeviceAddresses(pc.id, ['192.0.2.1']), isStoreError('store.address-taken', /192\.0\.2\.1/));
      assert.deepEqual((await s.getDevice(pc.id))?.addresses, [], 'a refused change changes nothing');

      // Replace as a set; a device may keep its own addresses.
      await s.setDeviceAddresses(gw.id, ['192.0.2.1', '198.51.100.7']);
      assert.deepEqual((await s.getDevice(gw.id))?.addresses, ['192.0.2.1', '198.51.100.7']);
      await s.setDeviceAddresses(pc.id, ['2001:db8::1']); // freed by gw just now
      const list = await s.listDevices();
      assert.deepEqual(Object.fromEntries(list.map((d) => [d.name, d.addresses])), { gw: ['192.0.2.1', '198.51.100.7'], pc: ['2001:db8::1'] });

      for (const bad of [['not-an-ip'], ['10.0.0.256'], ['0.0.0.0'], ['::'], ['fe80::1%eth0'], Array.from({ length: 65 }, (_, i) => `10.1.0.${i}`)]) {
        await assert.rejects(s.setDeviceAddresses(pc.id, bad), isStoreError('store.bad-address'), bad.join(','));
      }
      await assert.rejects(s.addDevice(dev('x', ['300.1.1.1']), key32(), 0), isStoreError('store.bad-address', /addresses\[0\]/));
      await assert.rejects(s.setDeviceAddresses('0000000000000000', ['10.0.0.1']), isStoreError('store.not-found'));

      // Removal frees the addresses.
      assert.equal(await s.removeDevice(gw.id), true);
      const again = await s.addDevice(dev('gw2', ['192.0.2.1']), key32(), 0);
      assert.deepEqual(again.addresses, ['192.0.2.1']);

      await s.close();
      const r = b.reopen();
      assert.deepEqual((await r.getDeviceByName('gw2'))?.addresses, ['192.0.2.1'], 'addresses survive a reopen');
      await r.close();
    } finally {
      b.done();
    }
  });

  test(`${backend.name}: policies round-trip; names and unordered (a, b, flow) are unique; remove by name or id`, async () => {
    const b = backend.open();
    const s = b.store;
    try {
      const p1 = await s.addPolicy(newPolicy('berlin-paris', '192.0.2.1', '2001:DB8::2'), 1_700_000_000_123.7);
      assert.match(p1.id, /^[0-9a-f]{16}$/);
      assert.equal(p1.b, '2001:db8::2', 'endpoints are canonical');
      assert.equal(p1.createdAtMs, 1_700_000_000_123);
      const p2 = await s.addPolicy(newPolicy('berlin-paris-https', '2001:db8::2', '192.0.2.1', { flow: { protocol: 6, port: 443 }, applied: applied('aes128-sha256', { mode: 'transport', esn: true, lifetimeSeconds: 1 }) }), 5);
      const p3 = await s.addPolicy(newPolicy('default', '*', '*', { applied: applied('chacha20poly1305') }), 6);
      const p4 = await s.addPolicy(newPolicy('berlin-any', '192.0.2.1', '*', { flow: { protocol: 17, port: null } }), 7);

      for (const [p, why] of [
        [newPolicy('berlin-paris', '10.0.0.1', '10.0.0.2'), /named berlin-paris/],
        [newPolicy('reversed', '2001:db8::2', '192.0.2.1'), /berlin-paris already covers/],
        [newPolicy('reversed-https', '192.0.2.1', '2001:0db8::2', { flow: { protocol: 6, port: 443 } }), /berlin-paris-https/],
        [newPolicy('default2', '*', '*'), /default/],
        [newPolicy('any-berlin', '*', '192.0.2.1', { flow: { protocol: 17, port: null } }), /berlin-any/],
      ] as const) {
        await assert.rejects(s.addPolicy(p, 8), isStoreError('store.policy-exists', why), p.name);
      }
      // Different flow = different policy.
      await s.addPolicy(newPolicy('berlin-paris-udp', '192.0.2.1', '2001:db8::2', { flow: { protocol: 17, port: 53 } }), 9);

      const bad: [unknown, RegExp][] = [
        [newPolicy('bad name', '10.0.0.1', '10.0.0.2'), /name/],
        [newPolicy('x', 'nope', '10.0.0.2'), /policy: a/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2/24'), /policy: b/],
        [newPolicy('x', '10.0.0.1', '0.0.0.0'), /policy: b/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { flow: { protocol: 256, port: null } }), /flow\.protocol/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { flow: { protocol: 6, port: 0 } }), /flow\.port/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { applied: { ...applied('aes256gcm16'), integrity: { id: 12 } } }), /applied\.integrity/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { applied: { ...applied('aes128-sha256'), integrity: null } }), /applied\.integrity/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { applied: { ...applied('aes256gcm16'), encryption: { id: 20, keyBits: 100 } } }), /applied\.encryption/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { applied: { ...applied('aes256gcm16'), lifetimeSeconds: 0 } }), /lifetimeSeconds/],
        [newPolicy('x', '10.0.0.1', '10.0.0.2', { applied: { ...applied('aes256gcm16'), mode: 'beet' as 'tunnel' } }), /applied\.mode/],
        [{ ...newPolicy('x', '10.0.0.1', '10.0.0.2'), extra: 1 }, /only the fields/],
      ];
      for (const [p, why] of bad) await assert.rejects(s.addPolicy(p as never, 1), isStoreError('store.bad-policy', why), String(why));

      const names = (await s.listPolicies()).map((p) => p.name);
      assert.deepEqual(names, ['berlin-any', 'berlin-paris', 'berlin-paris-https', 'berlin-paris-udp', 'default']);
      await s.close();
      const r = b.reopen();
      const listed = await r.listPolicies();
      assert.deepEqual(listed.find((p) => p.name === 'berlin-paris-https'), p2, 'read back exactly');
      assert.deepEqual(listed.find((p) => p.name === 'default'), p3);
      assert.deepEqual(listed.find((p) => p.name === 'berlin-any'), p4);

      assert.equal(await r.removePolicy('berlin-paris'), true, 'by name');
      assert.equal(await r.removePolicy(p3.id), true, 'by id');
      assert.equal(await r.removePolicy(p3.id), false);
      assert.equal(await r.removePolicy('nobody'), false);
      assert.deepEqual((await r.listPolicies()).map((p) => p.name), ['berlin-any', 'berlin-paris-https', 'berlin-paris-udp']);
      // The pair is free again.
      await r.addPolicy(newPolicy('reversed', '2001:db8::2', '192.0.2.1'), 10);
      await r.close();
    } finally {
      b.done();
    }
  });

  test(`${backend.name}: management-table entries round-trip pending and complete, replace by id, delete`, async () => {
    const b = backend.open();
    const s = b.store;
    try {
      const entries = Array.from({ length: 12 }, (_, i) => entryNumbered(i, i % 4 !== 1, randomKeys));
      for (const e of entries) await s.saveEntry(e);
      const pending = entryNumbered(100, false);
      await s.saveEntry(pending);
      await s.saveEntry(entryNumbered(100, true)); // completed in place (seed S10)
      await s.deleteEntry(entries[3]!.id);
      await s.deleteEntry('not-there');
      await s.close();
      const r = b.reopen();
      const got = await r.listEntries();
      const want = [...entries.filter((_, i) => i !== 3), entryNumbered(100, true)];
      assert.deepEqual(norm(got), norm(want), 'exactly what was saved, in creation order');

      const bad: [ManagementEntry, RegExp][] = [
        [{ ...entryNumbered(1, true), id: '' }, /id/],
        [{ ...entryNumbered(1, true), rows: [entryNumbered(1, true).rows[0]] as never }, /rows/],
        [{ ...entryNumbered(1, true), rows: [{ ...entryNumbered(1, true).rows[0], spi: 255 }, entryNumbered(1, true).rows[1]] }, /rows\[0\]\.spi/],
        [{ ...entryNumbered(1, true), params: [entryNumbered(1, true).params![1], entryNumbered(1, true).params![0]] }, /params/],
        [{ ...entryNumbered(1, true), params: [{ ...entryNumbered(1, true).params![0], encryptionKey: 'abc' as never }, entryNumbered(1, true).params![1]] }, /params\[0\]\.encryptionKey/],
        [{ ...entryNumbered(1, true), createdAtMs: Number.NaN }, /createdAtMs/],
        [{ ...entryNumbered(1, true), applied: { ...applied('aes256gcm16'), protocol: 'ah' as 'esp' } }, /applied\.protocol/],
      ];
      for (const [e, why] of bad) await assert.rejects(r.saveEntry(e), isStoreError('store.bad-entry', why), String(why));
      assert.equal((await r.listEntries()).length, want.length, 'nothing refused was stored');
      await r.close();
    } finally {
      b.done();
    }
  });

  test(`${backend.name}: events get increasing ids, are read after an id, keep the newest ${EVENT_LOG_CAP}, and never hold bytes`, async () => {
    const b = backend.open();
    const s = b.store;
    try {
      await s.appendEvents([
        { atMs: 1.5, kind: 'request', deviceId: 'd1', detail: { step: 'S11', peer: '10.0.0.2' } },
        { atMs: 2, kind: 'distributed', deviceId: null, detail: { spis: ['0x00001000', '0x00001001'], nested: { n: 1 } } },
      ]);
      const first = await s.listEvents(0, 100);
      assert.equal(first.length, 2);
      assert.ok(first[0]!.id < first[1]!.id);
      assert.deepEqual(first.map((e) => ({ ...e, id: 0 })), [
        { id: 0, atMs: 1, kind: 'request', deviceId: 'd1', detail: { step: 'S11', peer: '10.0.0.2' } },
        { id: 0, atMs: 2, kind: 'distributed', deviceId: null, detail: { spis: ['0x00001000', '0x00001001'], nested: { n: 1 } } },
      ]);
      assert.deepEqual(await s.listEvents(first[0]!.id, 100), [first[1]]);
      assert.deepEqual(await s.listEvents(first[1]!.id, 100), []);

      // All or nothing, and no key material: a byte string anywhere in the detail is refused.
      const refused: unknown[][] = [
        [{ atMs: 3, kind: 'ok', deviceId: null, detail: {} }, { atMs: 4, kind: 'leak', deviceId: null, detail: { key: randomBytes(16) } }],
        [{ atMs: 4, kind: 'leak', deviceId: null, detail: { deep: { list: [new Uint8Array(4)] } } }],
        [{ atMs: 4, kind: 'Bad Kind', deviceId: null, detail: {} }],
        [{ atMs: Number.POSITIVE_INFINITY, kind: 'x', deviceId: null, detail: {} }],
        [{ atMs: 4, kind: 'x', deviceId: null, detail: [] }],
        [{ atMs: 4, kind: 'x', deviceId: null, detail: { big: 'x'.repeat(9000) } }],
      ];
      for (const events of refused) await assert.rejects(s.appendEvents(events as never), isStoreError('store.bad-event'));
      assert.equal((await s.listEvents(0, 100)).length, 2, 'a refused batch writes nothing');
      await assert.rejects(s.listEvents(-1, 10), isStoreError('store.bad-event'));
      await assert.rejects(s.listEvents(0, 0), isStoreError('store.bad-event'));

      // Beyond the cap the oldest go; the ids go on increasing.
      const batch = Array.from({ length: EVENT_LOG_CAP + 48 }, (_, i) => ({ atMs: 10 + i, kind: 'tick', deviceId: null, detail: { i } }));
      await s.appendEvents(batch);
      const all: { id: number; i: unknown }[] = [];
      for (let after = 0; ; ) {
        const page = await s.listEvents(after, 5000);
        if (page.length === 0) break;
        all.push(...page.map((e) => ({ id: e.id, i: e.detail['i'] })));
        after = page[page.length - 1]!.id;
      }
      assert.equal(all.length, EVENT_LOG_CAP);
      assert.equal(all[all.length - 1]!.i, EVENT_LOG_CAP + 47, 'the newest is kept');
      assert.equal(all[0]!.i, 48, 'exactly the oldest 50 were dropped: the 2 from before and the first 48 of the batch');
      for (let k = 1; k < all.length; k++) assert.equal(all[k]!.id, all[k - 1]!.id + 1);
      assert.ok(all[0]!.id > first[1]!.id);
      await s.close();
    } finally {
      b.done();
    }
  });
}

// ------------------------------------------------------------------ SQLite specifics

// The version-1 schema as keyplane 0.1 created it (copied, not imported: a later change
// to the current migrations must not change what this test builds).
const V1_SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at_ms INTEGER NOT NULL, revoked_at_ms INTEGER,
    init_spi INTEGER NOT NULL UNIQUE CHECK (init_spi BETWEEN 256 AND 4294967295),
    variant TEXT NOT NULL CHECK (variant IN ('explicit', 'spi')),
    forward_secrecy INTEGER NOT NULL CHECK (forward_secrecy IN (0, 1)), init_key_sealed BLOB NOT NULL
  ) STRICT;
  CREATE TABLE channel_state (
    device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE, state_sealed BLOB NOT NULL,
    latest_spi INTEGER, previous_spi INTEGER, writes INTEGER NOT NULL
  ) STRICT;
`;

test('a version-1 database (made with the old CREATE statements) is migrated: devices kept, new tables usable', async () => {
  const dir = tempDir();
  try {
    const initKey = randomBytes(32);
    const master = randomBytes(32);
    const raw = new Database(dir.file('controller.db'));
    raw.pragma('journal_mode = WAL');
    raw.exec(V1_SCHEMA);
    const sealing = new SealingKey(master);
    const meta = raw.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    meta.run('schema_version', '1');
    meta.run('controller_id', 'ab'.repeat(16));
    meta.run('created_at_ms', '1');
    meta.run('master_key_check', sealing.seal('meta', 'master_key_check', Buffer.from('keyplane master key check v1', 'ascii')).toString('base64'));
    raw
      .prepare('INSERT INTO devices (id, name, created_at_ms, revoked_at_ms, init_spi, variant, forward_secrecy, init_key_sealed) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)')
      .run('0123456789abcdef', 'old-gw', 42, 0x4000, 'spi', 1, sealing.seal('devices', '0123456789abcdef', initKey));
    raw.close();
    sealing.destroy();
    writeFileSync(dir.file('master.key'), `${master.toString('hex')}\n`, { mode: 0o600 });

    const s = storeIn(dir);
    assert.equal(await s.controllerId(), 'ab'.repeat(16));
    const old = await s.getDeviceByName('old-gw');
    assert.deepEqual(old, { id: '0123456789abcdef', name: 'old-gw', createdAtMs: 42, revokedAtMs: null, initSpi: 0x4000, variant: 'spi', forwardSecrecy: true, addresses: [] });
    assert.deepEqual(Buffer.from(await s.initKey(old.id)), initKey, 'sealed values from before the migration still open');
    await s.setDeviceAddresses(old.id, ['10.1.1.1']);
    await s.addPolicy(newPolicy('p', '10.1.1.1', '*'), 1);
    await s.saveEntry(entryNumbered(7, true));
    await s.appendEvents([{ atMs: 1, kind: 'migrated', deviceId: null, detail: {} }]);
    await s.close();

    const check = new Database(dir.file('controller.db'), { readonly: true });
    assert.equal((check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value, String(SCHEMA_VERSION));
    const tables = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    for (const t of ['device_addresses', 'policies', 'entries', 'events']) assert.ok(tables.includes(t), t);
    check.close();

    const again = storeIn(dir); // opening a migrated store is a no-op
    assert.deepEqual((await again.getDevice(old.id))?.addresses, ['10.1.1.1']);
    assert.equal((await again.listPolicies()).length, 1);
    assert.deepEqual(norm(await again.listEntries()), norm([entryNumbered(7, true)]));
    assert.equal((await again.listEvents(0, 10)).length, 1);
    await again.close();
  } finally {
    dir.remove();
  }
});

test('the database, WAL and shm files never hold entry keys in any encoding, open or closed', async () => {
  const dir = tempDir();
  try {
    const s = storeIn(dir);
    const secrets: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const e = entryNumbered(i, true, randomKeys);
      await s.saveEntry(entryNumbered(i, false)); // pending first, then completed, as the server does
      await s.saveEntry(e);
      secrets.push(...secretsOfEntry(e));
      if (i % 5 === 0) await s.deleteEntry(e.id); // deleted rows leave old pages behind
      await s.appendEvents([{ atMs: i, kind: 'distributed', deviceId: null, detail: { entryId: e.id, spis: [e.rows[0].spi, e.rows[1].spi] } }]);
    }
    secrets.push(Buffer.from(readFileSync(dir.file('master.key'), 'latin1').trim(), 'hex'));
    const files = ['controller.db', 'controller.db-wal', 'controller.db-shm'].map((f) => dir.file(f));
    const scan = (when: string) => {
      for (const f of files) {
        const data = readIfExists(f);
        for (const [i, k] of secrets.entries()) assert.equal(findSecret(data, k), undefined, `${when}: secret ${i} in ${f}`);
      }
    };
    assert.ok(readIfExists(dir.file('controller.db-wal')).length > 0, 'the WAL is in use');
    // The scan can fail: the public part of an entry is in the file in the clear.
    assert.ok(readIfExists(dir.file('controller.db-wal')).includes(Buffer.from('2001:db8::1')), 'the scan reads real data');
    scan('open');
    await s.close();
    scan('closed');
    const again = storeIn(dir);
    assert.equal((await again.listEntries()).length, 32);
    await again.close();
  } finally {
    dir.remove();
  }
});

test('entries: sealed parameters moved to another entry, altered, or with an altered public part do not open', async () => {
  const dir = tempDir();
  try {
    const s = storeIn(dir);
    const e1 = entryNumbered(1, true);
    const e2 = entryNumbered(2, true);
    const e3 = entryNumbered(3, true);
    const e4 = entryNumbered(4, true);
    for (const e of [e1, e2, e3, e4]) await s.saveEntry(e);
    await s.close();

    const raw = new Database(dir.file('controller.db'));
    const sealed = (id: string) => (raw.prepare('SELECT params_sealed p FROM entries WHERE id = ?').get(id) as { p: Buffer }).p;
    raw.prepare('UPDATE entries SET params_sealed = ? WHERE id = ?').run(sealed(e1.id), e2.id);
    const flipped = Buffer.from(sealed(e3.id));
    flipped[flipped.length - 30]! ^= 1;
    raw.prepare('UPDATE entries SET params_sealed = ? WHERE id = ?').run(flipped, e3.id);
    // Send e4's keys to another device: change the public part only.
    const pub = JSON.parse((raw.prepare('SELECT entry FROM entries WHERE id = ?').get(e4.id) as { entry: string }).entry) as { rows: { deviceId: string }[] };
    pub.rows[1]!.deviceId = 'attacker';
    raw.prepare('UPDATE entries SET entry = ? WHERE id = ?').run(JSON.stringify(pub), e4.id);
    raw.close();

    for (const [mangle, code] of [
      [e2.id, 'store.sealed-data-invalid'],
      [e3.id, 'store.sealed-data-invalid'],
      [e4.id, 'store.bad-entry'],
    ] as const) {
      const t = storeIn(dir);
      await assert.rejects(t.listEntries(), isStoreError(code), mangle);
      await t.deleteEntry(mangle);
      await t.close();
    }
    const ok = storeIn(dir);
    assert.deepEqual(norm(await ok.listEntries()), norm([e1]), 'the untouched entry still opens');
    await ok.close();
  } finally {
    dir.remove();
  }
});

const CHILD = fileURLToPath(new URL('./entry-crash-child.js', import.meta.url));

function runAndKill(args: string[], minSaves: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, '--entry-crash-child', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let armed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!armed && out.split('\n').length > minSaves) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child exited (${code}) before it was killed: ${err}`));
      const done = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
      resolve(done.length === 0 ? 0 : done[done.length - 1]!);
    });
  });
}

test('SIGKILL during saveEntry loses no acknowledged entry and leaves none half-written', async () => {
  const dir = tempDir();
  try {
    const setup = storeIn(dir);
    const d = await setup.addDevice(dev('gw', ['192.0.2.1']), key32(), 0);
    await setup.saveChannelState(d.id, numberedState(3));
    await setup.close();
    for (const [round, extraMs] of [0, 7, 23].entries()) {
      // Each round starts again from 1 and overwrites the same ids.
      const minSaves = 15 + round * 10;
      const reported = await runAndKill([dir.file('controller.db'), dir.file('master.key')], minSaves, extraMs);
      assert.ok(reported >= minSaves, `round ${round}: ${reported} saves`);
      const s = storeIn(dir);
      const entries = await s.listEntries();
      const byId = new Map(entries.map((e) => [e.id, e]));
      for (let i = 1; i <= reported; i++) {
        assert.deepEqual(norm(byId.get(entryNumbered(i, true).id)), norm(entryNumbered(i, true)), `round ${round}: acknowledged entry ${i}`);
      }
      // The one being written when the child died: absent, or intact (pending or complete).
      const next = byId.get(entryNumbered(reported + 1, true).id);
      if (next !== undefined) {
        const n = norm(next);
        assert.ok(
          isDeepStrictEqual(n, norm(entryNumbered(reported + 1, true))) || isDeepStrictEqual(n, norm(entryNumbered(reported + 1, false))),
          `round ${round}: entry ${reported + 1} is not intact`,
        );
      }
      // Earlier rounds may have saved further; none is torn.
      for (const e of entries) assert.ok(e.params === null || e.params[0].spi === e.rows[1].spi);
      assert.deepEqual(norm(await s.loadChannelState(d.id)), norm(numberedState(3)), 'the rest of the store is untouched');
      assert.deepEqual((await s.getDevice(d.id))?.addresses, ['192.0.2.1']);
      await s.close();
    }
  } finally {
    dir.remove();
  }
});
