// ControllerStore on SQLite (better-sqlite3), the embedded default (DESIGN.md "Processes").
//
// - WAL journal with synchronous=FULL: a commit is on disk before the call returns, which
//   the controller's write-ahead rule needs (store the keyroll state, then send), and a
//   crash or power cut at any moment leaves the last committed state, never a mix.
// - Every change is one transaction, started IMMEDIATE (the write lock first), so several
//   processes (the controller and `keyplane device add`) can share the file: the others
//   wait up to busyTimeoutMs.
// - Secrets are sealed under the master key (sealed-box.ts); rows hold only ciphertext.
//   Opening checks a sealed marker in `meta`, so a wrong master key is refused up front
//   (store.master-key-mismatch) instead of producing garbage later.
// - The seed-000 tables (addresses, policies, management table, events) are in
//   sqlite-settings.ts.
import Database from 'better-sqlite3';
import { closeSync, constants, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes, randomSpi } from '../crypto/random.js';
import { KEYROLL_KEY_BYTES, type SenderPeerDurable } from '../keyroll/index.js';
import type { DistributionPolicy, ManagementEntry } from '../settings/types.js';
import { StoreError, type ControllerStore, type DeviceRecord, type NewDevice, type NewPolicy, type StoredEvent } from './types.js';
import { StoreErrorCode } from './error-codes.js';
import { checkDeviceName } from './device-name.js';
import { createOrReadMasterKey, readMasterKey } from './master-key.js';
import { SealingKey } from './sealed-box.js';
import { decodeSenderPeerDurable, encodeSenderPeerDurable } from './durable-codec.js';
import { CHANNEL_STATE_TABLE, DEVICES_TABLE, META_KEY_CHECK, MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { canonicalDeviceAddresses } from './settings-codec.js';
import { SqliteSettingsTables } from './sqlite-settings.js';

export interface SqliteStoreOptions {
  readonly path: string; // the database file
  readonly masterKeyFile: string;
  // Create the file, its folder (mode 0700), the schema and the master key file when
  // missing (default true). false: StoreError 'store.missing' instead.
  readonly create?: boolean;
  readonly busyTimeoutMs?: number; // default 5000
  // Where init SPIs come from (default: randomSpi, the CSPRNG); tests pass a scripted one
  // to drive the collision path.
  readonly spiSource?: () => number;
}

const DEVICE_ID_BYTES = 8; // 16 hex digits
const KEY_CHECK_PLAINTEXT = Buffer.from('keyplane master key check v1', 'ascii');
const FRESH_ATTEMPTS = 64;

interface DeviceRow {
  id: string;
  name: string;
  created_at_ms: number;
  revoked_at_ms: number | null;
  init_spi: number;
  variant: 'explicit' | 'spi';
  forward_secrecy: number;
}

const DEVICE_COLUMNS = 'id, name, created_at_ms, revoked_at_ms, init_spi, variant, forward_secrecy';

function record(r: DeviceRow, addresses: readonly string[]): DeviceRecord {
  return {
    id: r.id,
    name: r.name,
    createdAtMs: r.created_at_ms,
    revokedAtMs: r.revoked_at_ms,
    initSpi: r.init_spi,
    variant: r.variant,
    forwardSecrecy: r.forward_secrecy === 1,
    addresses: [...addresses],
  };
}

// SQLite's own errors become StoreErrors; ours pass through.
function wrap(e: unknown, doing: string): never {
  if (e instanceof StoreError) throw e;
  if (e instanceof Database.SqliteError) {
    if (e.code === 'SQLITE_BUSY' || e.code.startsWith('SQLITE_BUSY_')) {
      throw new StoreError(StoreErrorCode.BUSY, `${doing}: the store is locked by another process`, { cause: e });
    }
    if (e.code === 'SQLITE_NOTADB') throw new StoreError(StoreErrorCode.NOT_A_STORE, `${doing}: the file is not an SQLite database`, { cause: e });
    throw new StoreError(StoreErrorCode.SQLITE, `${doing}: ${e.message} (${e.code})`, { cause: e });
  }
  throw e;
}

function checkNewDevice(d: NewDevice, initKey: Uint8Array, nowMs: number): string[] {
  checkDeviceName(d.name);
  if (d.variant !== 'explicit' && d.variant !== 'spi') throw new StoreError(StoreErrorCode.BAD_DEVICE, 'variant must be "explicit" or "spi"');
  if (typeof d.forwardSecrecy !== 'boolean') throw new StoreError(StoreErrorCode.BAD_DEVICE, 'forwardSecrecy must be true or false');
  if (!(initKey instanceof Uint8Array) || initKey.length !== KEYROLL_KEY_BYTES) {
    throw new StoreError(StoreErrorCode.BAD_DEVICE, `the init key must be ${KEYROLL_KEY_BYTES} bytes`);
  }
  if (!Number.isFinite(nowMs)) throw new StoreError(StoreErrorCode.BAD_DEVICE, 'nowMs must be a finite number');
  return canonicalDeviceAddresses(d.addresses ?? []);
}

export class SqliteControllerStore implements ControllerStore {
  private closed = false;
  private readonly q;
  private readonly settings: SqliteSettingsTables;

  constructor(
    private readonly db: Database.Database,
    private readonly sealing: SealingKey,
    private readonly id: string,
    readonly path: string,
    private readonly spiSource: () => number = randomSpi,
  ) {
    this.settings = new SqliteSettingsTables(db, sealing);
    this.q = {
      byId: db.prepare<[string], DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`),
      byName: db.prepare<[string], DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE name = ?`),
      all: db.prepare<[], DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY name`),
      idTaken: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM devices WHERE id = ?'),
      spiTaken: db.prepare<{ spi: number }, { one: number }>(
        'SELECT 1 AS one FROM devices WHERE init_spi = @spi UNION ALL ' +
          'SELECT 1 FROM channel_state WHERE latest_spi = @spi OR previous_spi = @spi LIMIT 1',
      ),
      insert: db.prepare(
        'INSERT INTO devices (id, name, created_at_ms, revoked_at_ms, init_spi, variant, forward_secrecy, init_key_sealed) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)',
      ),
      revoke: db.prepare<[number, string]>('UPDATE devices SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL'),
      remove: db.prepare<[string]>('DELETE FROM devices WHERE id = ?'),
      initKey: db.prepare<[string], { init_key_sealed: Buffer }>('SELECT init_key_sealed FROM devices WHERE id = ?'),
      stateOf: db.prepare<[string], { state_sealed: Buffer }>('SELECT state_sealed FROM channel_state WHERE device_id = ?'),
      dropState: db.prepare<[string]>('DELETE FROM channel_state WHERE device_id = ?'),
      saveState: db.prepare<[string, Buffer, number | null, number | null]>(
        'INSERT INTO channel_state (device_id, state_sealed, latest_spi, previous_spi, writes) VALUES (?, ?, ?, ?, 1) ' +
          'ON CONFLICT (device_id) DO UPDATE SET state_sealed = excluded.state_sealed, latest_spi = excluded.latest_spi, ' +
          'previous_spi = excluded.previous_spi, writes = writes + 1',
      ),
    };
  }

  private open(): void {
    if (this.closed) throw new StoreError(StoreErrorCode.CLOSED, 'the store is closed');
  }

  // The random identity of this controller, made when the store was created; enrollment
  // tokens carry it so an agent knows which controller it belongs to.
  async controllerId(): Promise<string> {
    this.open();
    return this.id;
  }

  async addDevice(device: NewDevice, initKey: Uint8Array, nowMs: number): Promise<DeviceRecord> {
    this.open();
    const addresses = checkNewDevice(device, initKey, nowMs);
    const createdAtMs = Math.floor(nowMs);
    try {
      return this.db
        .transaction((): DeviceRecord => {
          if (this.q.byName.get(device.name) !== undefined) {
            throw new StoreError(StoreErrorCode.DEVICE_EXISTS, `a device named ${device.name} already exists`);
          }
          const id = this.fresh(() => randomBytes(DEVICE_ID_BYTES).toString('hex'), (v) => this.q.idTaken.get(v) !== undefined, 'device id');
          const initSpi = this.fresh(this.spiSource, (v) => this.q.spiTaken.get({ spi: v }) !== undefined, 'init SPI');
          const sealed = this.sealing.seal(DEVICES_TABLE, id, initKey);
          this.q.insert.run(id, device.name, createdAtMs, initSpi, device.variant, device.forwardSecrecy ? 1 : 0, sealed);
          this.settings.writeAddresses(id, addresses);
          return { id, name: device.name, createdAtMs, revokedAtMs: null, initSpi, variant: device.variant, forwardSecrecy: device.forwardSecrecy, addresses };
        })
        .immediate();
    } catch (e) {
      wrap(e, `adding device ${device.name}`);
    }
  }

  // A random value not yet in use (the transaction holds the write lock, so it stays free).
  // Init SPIs avoid other init SPIs and the SPIs of stored channel keys.
  private fresh<T>(draw: () => T, taken: (v: T) => boolean, what: string): T {
    for (let i = 0; i < FRESH_ATTEMPTS; i++) {
      const v = draw();
      if (!taken(v)) return v;
    }
    throw new StoreError(StoreErrorCode.NO_FREE_VALUE, `no free ${what} found in ${FRESH_ATTEMPTS} random draws`);
  }

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    this.open();
    const r = this.q.byId.get(id);
    return r === undefined ? undefined : record(r, this.settings.addressesOf(r.id));
  }

  async getDeviceByName(name: string): Promise<DeviceRecord | undefined> {
    this.open();
    const r = this.q.byName.get(name);
    return r === undefined ? undefined : record(r, this.settings.addressesOf(r.id));
  }

  async listDevices(): Promise<DeviceRecord[]> {
    this.open();
    // One read transaction, so devices and addresses are from the same moment.
    return this.db.transaction(() => {
      const addresses = this.settings.allAddresses();
      return this.q.all.all().map((r) => record(r, addresses.get(r.id) ?? []));
    })();
  }

  // true when this call revoked an active device; false for an unknown device or one
  // already revoked (its first revocation time stays). Revocation also destroys the
  // device's channel keys: nothing a revoked device could use is kept.
  async revokeDevice(id: string, nowMs: number): Promise<boolean> {
    this.open();
    if (!Number.isFinite(nowMs)) throw new StoreError(StoreErrorCode.BAD_DEVICE, 'nowMs must be a finite number');
    try {
      return this.db
        .transaction((): boolean => {
          if (this.q.revoke.run(Math.floor(nowMs), id).changes !== 1) return false;
          this.q.dropState.run(id);
          return true;
        })
        .immediate();
    } catch (e) {
      wrap(e, `revoking device ${id}`);
    }
  }

  async removeDevice(id: string): Promise<boolean> {
    this.open();
    try {
      return this.db
        .transaction((): boolean => {
          this.q.dropState.run(id);
          return this.q.remove.run(id).changes === 1;
        })
        .immediate();
    } catch (e) {
      wrap(e, `removing device ${id}`);
    }
  }

  async initKey(id: string): Promise<Uint8Array> {
    this.open();
    const row = this.q.initKey.get(id);
    if (row === undefined) throw new StoreError(StoreErrorCode.NOT_FOUND, `no device with id ${id}`);
    const key = this.sealing.open(DEVICES_TABLE, id, row.init_key_sealed, `device ${id}: init key`);
    if (key.length !== KEYROLL_KEY_BYTES) {
      key.fill(0);
      throw new StoreError(StoreErrorCode.SEALED_DATA_INVALID, `device ${id}: init key has the wrong length`);
    }
    return key;
  }

  // Refuses an unknown device (store.not-found) and a revoked one (store.revoked).
  async saveChannelState(deviceId: string, state: SenderPeerDurable): Promise<void> {
    this.open();
    const plain = encodeSenderPeerDurable(state);
    try {
      this.db
        .transaction(() => {
          const row = this.q.byId.get(deviceId);
          if (row === undefined) throw new StoreError(StoreErrorCode.NOT_FOUND, `no device with id ${deviceId}`);
          if (row.revoked_at_ms !== null) throw new StoreError(StoreErrorCode.REVOKED, `device ${row.name} (${deviceId}) is revoked`);
          const previousSpi = state.previous === null || state.previous === 'init' ? null : state.previous.spi;
          this.q.saveState.run(deviceId, this.sealing.seal(CHANNEL_STATE_TABLE, deviceId, plain), state.latest?.spi ?? null, previousSpi);
        })
        .immediate();
    } catch (e) {
      wrap(e, `saving the channel state of device ${deviceId}`);
    } finally {
      plain.fill(0);
    }
  }

  async loadChannelState(deviceId: string): Promise<SenderPeerDurable | undefined> {
    this.open();
    const row = this.q.stateOf.get(deviceId);
    if (row === undefined) return undefined;
    const plain = this.sealing.open(CHANNEL_STATE_TABLE, deviceId, row.state_sealed, `device ${deviceId}: channel state`);
    try {
      return decodeSenderPeerDurable(plain);
    } finally {
      plain.fill(0);
    }
  }

  // ---- seed 000 settings service (sqlite-settings.ts)

  async setDeviceAddresses(id: string, addresses: readonly string[]): Promise<void> {
    this.open();
    try {
      this.settings.setDeviceAddresses(id, addresses);
    } catch (e) {
      wrap(e, `setting the addresses of device ${id}`);
    }
  }

  async addPolicy(policy: NewPolicy, nowMs: number): Promise<DistributionPolicy> {
    this.open();
    try {
      return this.settings.addPolicy(policy, nowMs);
    } catch (e) {
      wrap(e, 'adding a policy');
    }
  }

  async listPolicies(): Promise<DistributionPolicy[]> {
    this.open();
    try {
      return this.settings.listPolicies();
    } catch (e) {
      wrap(e, 'listing policies');
    }
  }

  async removePolicy(idOrName: string): Promise<boolean> {
    this.open();
    try {
      return this.settings.removePolicy(idOrName);
    } catch (e) {
      wrap(e, `removing policy ${idOrName}`);
    }
  }

  async saveEntry(entry: ManagementEntry): Promise<void> {
    this.open();
    try {
      this.settings.saveEntry(entry);
    } catch (e) {
      wrap(e, 'saving a management-table entry');
    }
  }

  async deleteEntry(id: string): Promise<void> {
    this.open();
    try {
      this.settings.deleteEntry(id);
    } catch (e) {
      wrap(e, `deleting entry ${id}`);
    }
  }

  async listEntries(): Promise<ManagementEntry[]> {
    this.open();
    try {
      return this.settings.listEntries();
    } catch (e) {
      wrap(e, 'listing management-table entries');
    }
  }

  async appendEvents(events: readonly Omit<StoredEvent, 'id'>[]): Promise<void> {
    this.open();
    try {
      this.settings.appendEvents(events);
    } catch (e) {
      wrap(e, 'appending events');
    }
  }

  async listEvents(afterId: number, limit: number): Promise<StoredEvent[]> {
    this.open();
    try {
      return this.settings.listEvents(afterId, limit);
    } catch (e) {
      wrap(e, 'listing events');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    this.sealing.destroy();
  }
}

// Opens (and by default creates) the store. Synchronous, so it can be awaited or not.
export function openSqliteStore(options: SqliteStoreOptions): SqliteControllerStore {
  const { path, masterKeyFile } = options;
  const create = options.create ?? true;
  if (!existsSync(path)) {
    if (!create) throw new StoreError(StoreErrorCode.MISSING, `no store at ${path}`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Mode 0600 from the start; SQLite gives its -wal and -shm files the same mode.
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600));
  }
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
  } catch (e) {
    if (e instanceof Database.SqliteError) wrap(e, `opening ${path}`);
    throw new StoreError(StoreErrorCode.OPEN_FAILED, `cannot open store ${path}: ${(e as Error).message}`, { cause: e });
  }
  let sealing: SealingKey | undefined;
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new StoreError(StoreErrorCode.OPEN_FAILED, `${path}: SQLite refused WAL mode (got ${String(mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    const controllerId = db
      .transaction((): string => {
        const s = setUp(db, path, masterKeyFile, create);
        sealing = s.sealing;
        return s.controllerId;
      })
      .immediate();
    if (sealing === undefined) throw new Error('unreachable: no sealing key');
    return new SqliteControllerStore(db, sealing, controllerId, path, options.spiSource);
  } catch (e) {
    db.close();
    sealing?.destroy();
    wrap(e, `opening ${path}`);
  }
}

function meta(db: Database.Database, key: string): string | undefined {
  return db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key)?.value;
}

function setMeta(db: Database.Database, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

// Inside the opening transaction: create or check the schema and the master key.
function setUp(db: Database.Database, path: string, masterKeyFile: string, create: boolean): { sealing: SealingKey; controllerId: string } {
  const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name);
  if (!tables.includes('meta')) {
    if (tables.length > 0) throw new StoreError(StoreErrorCode.NOT_A_STORE, `${path} is an SQLite database but not a keyplane store`);
    if (!create) throw new StoreError(StoreErrorCode.MISSING, `${path} is an empty file, not a keyplane store`);
    return createSchema(db, masterKeyFile);
  }
  const versionText = meta(db, 'schema_version');
  const version = versionText !== undefined && /^[1-9][0-9]{0,8}$/.test(versionText) ? Number(versionText) : NaN;
  if (Number.isNaN(version)) throw new StoreError(StoreErrorCode.NOT_A_STORE, `${path} has no valid schema_version`);
  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      StoreErrorCode.SCHEMA_TOO_NEW,
      `${path} has schema version ${version}, written by a newer keyplane; this one reads up to ${SCHEMA_VERSION}`,
    );
  }
  const controllerId = meta(db, 'controller_id');
  const check = meta(db, META_KEY_CHECK);
  if (controllerId === undefined || check === undefined) throw new StoreError(StoreErrorCode.NOT_A_STORE, `${path} lacks its controller id or key check`);
  const key = readMasterKey(masterKeyFile);
  const sealing = new SealingKey(key);
  key.fill(0);
  try {
    let plain: Buffer;
    try {
      plain = sealing.open('meta', META_KEY_CHECK, Buffer.from(check, 'base64'), 'master key check');
    } catch (e) {
      if (e instanceof StoreError && e.code === StoreErrorCode.SEALED_DATA_INVALID) {
        throw new StoreError(StoreErrorCode.MASTER_KEY_MISMATCH, `${masterKeyFile} is not the master key of the store ${path}`);
      }
      throw e;
    }
    if (!plain.equals(KEY_CHECK_PLAINTEXT)) throw new StoreError(StoreErrorCode.MASTER_KEY_MISMATCH, `${masterKeyFile} is not the master key of the store ${path}`);
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]!);
      setMeta(db, 'schema_version', String(v + 1));
    }
    return { sealing, controllerId };
  } catch (e) {
    sealing.destroy();
    throw e;
  }
}

function createSchema(db: Database.Database, masterKeyFile: string): { sealing: SealingKey; controllerId: string } {
  const key = createOrReadMasterKey(masterKeyFile);
  const sealing = new SealingKey(key);
  key.fill(0);
  for (const sql of MIGRATIONS) db.exec(sql);
  const controllerId = randomBytes(16).toString('hex');
  setMeta(db, 'schema_version', String(SCHEMA_VERSION));
  setMeta(db, 'controller_id', controllerId);
  setMeta(db, 'created_at_ms', String(Date.now()));
  setMeta(db, META_KEY_CHECK, sealing.seal('meta', META_KEY_CHECK, KEY_CHECK_PLAINTEXT).toString('base64'));
  return { sealing, controllerId };
}
