// The seed-000 tables of the SQLite store (schema.ts version 2): device addresses,
// distribution policies, the management table and the event log. Used by sqlite.ts,
// which owns the connection, the transactions' error mapping and the sealing key.
//
// Every change is one IMMEDIATE transaction, like the rest of the store, so the checks
// ("the address is free", "no policy covers this pair") and the writes cannot interleave
// with another process's. The entries' SA parameters are sealed under the master key
// (sealed-box.ts, table "entries", row = entry id); the plaintext buffers are wiped.
import type Database from 'better-sqlite3';
import { randomBytes } from '../crypto/random.js';
import type { DistributionPolicy, ManagementEntry } from '../settings/types.js';
import { StoreError, type NewPolicy, type StoredEvent } from './types.js';
import { StoreErrorCode } from './error-codes.js';
import type { SealingKey } from './sealed-box.js';
import { ENTRIES_TABLE } from './schema.js';
import {
  canonicalDeviceAddresses,
  checkEvent,
  checkNewPolicy,
  decodeApplied,
  decodeEntry,
  decodeEventDetail,
  encodeApplied,
  encodeEntryPublic,
  encodeParams,
  policyKey,
} from './settings-codec.js';

// The event log keeps at least this many of the newest events (types.ts: "at least 10,000").
export const EVENT_LOG_CAP = 10_000;
export const MAX_EVENTS_PER_READ = 10_000;
const POLICY_ID_BYTES = 8;

interface PolicyRow {
  id: string;
  name: string;
  a: string;
  b: string;
  flow_protocol: number | null;
  flow_port: number | null;
  applied: string;
  created_at_ms: number;
}

interface EventRow {
  id: number;
  at_ms: number;
  kind: string;
  device_id: string | null;
  detail: string;
}

const POLICY_COLUMNS = 'id, name, a, b, flow_protocol, flow_port, applied, created_at_ms';

function policy(r: PolicyRow): DistributionPolicy {
  return {
    id: r.id,
    name: r.name,
    a: r.a,
    b: r.b,
    flow: r.flow_protocol === null ? null : { protocol: r.flow_protocol, port: r.flow_port },
    applied: decodeApplied(r.applied, `policy ${r.name}`),
    createdAtMs: r.created_at_ms,
  };
}

export class SqliteSettingsTables {
  private readonly q;

  constructor(
    private readonly db: Database.Database,
    private readonly sealing: SealingKey,
  ) {
    this.q = {
      addressOwner: db.prepare<[string], { device_id: string; name: string }>(
        'SELECT a.device_id, d.name FROM device_addresses a JOIN devices d ON d.id = a.device_id WHERE a.address = ?',
      ),
      addressesOf: db.prepare<[string], { address: string }>('SELECT address FROM device_addresses WHERE device_id = ? ORDER BY position'),
      allAddresses: db.prepare<[], { device_id: string; address: string }>('SELECT device_id, address FROM device_addresses ORDER BY device_id, position'),
      dropAddresses: db.prepare<[string]>('DELETE FROM device_addresses WHERE device_id = ?'),
      insertAddress: db.prepare<[string, string, number]>('INSERT INTO device_addresses (address, device_id, position) VALUES (?, ?, ?)'),
      deviceExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM devices WHERE id = ?'),

      policyByName: db.prepare<[string], PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM policies WHERE name = ?`),
      policyById: db.prepare<[string], PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM policies WHERE id = ?`),
      policyByKey: db.prepare<[string, string, string], { name: string }>('SELECT name FROM policies WHERE end_low = ? AND end_high = ? AND flow_key = ?'),
      policies: db.prepare<[], PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM policies ORDER BY name`),
      insertPolicy: db.prepare(
        'INSERT INTO policies (id, name, a, b, end_low, end_high, flow_key, flow_protocol, flow_port, applied, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      deletePolicy: db.prepare<[string]>('DELETE FROM policies WHERE id = ?'),

      saveEntry: db.prepare<[string, string, Buffer | null, number]>(
        'INSERT INTO entries (id, entry, params_sealed, created_at_ms) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET entry = excluded.entry, params_sealed = excluded.params_sealed, created_at_ms = excluded.created_at_ms',
      ),
      deleteEntry: db.prepare<[string]>('DELETE FROM entries WHERE id = ?'),
      entries: db.prepare<[], { id: string; entry: string; params_sealed: Buffer | null }>('SELECT id, entry, params_sealed FROM entries ORDER BY created_at_ms, id'),

      insertEvent: db.prepare<[number, string, string | null, string]>('INSERT INTO events (at_ms, kind, device_id, detail) VALUES (?, ?, ?, ?)'),
      // AUTOINCREMENT ids are consecutive for this writer (a rolled-back insert does not
      // advance sqlite_sequence), so this keeps exactly the newest EVENT_LOG_CAP.
      trimEvents: db.prepare<[number]>('DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?'),
      events: db.prepare<[number, number], EventRow>('SELECT id, at_ms, kind, device_id, detail FROM events WHERE id > ? ORDER BY id LIMIT ?'),
    };
  }

  // ------------------------------------------------------------------ addresses

  // Inside the caller's transaction. `addresses` are canonical (canonicalDeviceAddresses).
  writeAddresses(deviceId: string, addresses: readonly string[]): void {
    for (const a of addresses) {
      const owner = this.q.addressOwner.get(a);
      if (owner !== undefined && owner.device_id !== deviceId) {
        throw new StoreError(StoreErrorCode.ADDRESS_TAKEN, `address ${a} already belongs to device ${owner.name}`);
      }
    }
    this.q.dropAddresses.run(deviceId);
    for (const [i, a] of addresses.entries()) this.q.insertAddress.run(a, deviceId, i);
  }

  addressesOf(deviceId: string): string[] {
    return this.q.addressesOf.all(deviceId).map((r) => r.address);
  }

  allAddresses(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of this.q.allAddresses.all()) {
      const list = out.get(r.device_id);
      if (list === undefined) out.set(r.device_id, [r.address]);
      else list.push(r.address);
    }
    return out;
  }

  setDeviceAddresses(id: string, addresses: readonly string[]): void {
    const list = canonicalDeviceAddresses(addresses);
    this.db
      .transaction(() => {
        if (this.q.deviceExists.get(id) === undefined) throw new StoreError(StoreErrorCode.NOT_FOUND, `no device with id ${id}`);
        this.writeAddresses(id, list);
      })
      .immediate();
  }

  // ------------------------------------------------------------------- policies

  addPolicy(p: NewPolicy, nowMs: number): DistributionPolicy {
    const checked = checkNewPolicy(p);
    if (!Number.isFinite(nowMs)) throw new StoreError(StoreErrorCode.BAD_POLICY, 'nowMs must be a finite number');
    const key = policyKey(checked);
    const applied = encodeApplied(checked.applied);
    return this.db
      .transaction((): DistributionPolicy => {
        if (this.q.policyByName.get(checked.name) !== undefined) {
          throw new StoreError(StoreErrorCode.POLICY_EXISTS, `a policy named ${checked.name} already exists`);
        }
        const same = this.q.policyByKey.get(key.low, key.high, key.flow);
        if (same !== undefined) {
          const flow = key.flow === '' ? 'with no flow selector' : `for flow ${key.flow}`;
          throw new StoreError(StoreErrorCode.POLICY_EXISTS, `policy ${same.name} already covers ${key.low} <-> ${key.high} ${flow}`);
        }
        let id: string;
        do id = randomBytes(POLICY_ID_BYTES).toString('hex');
        while (this.q.policyById.get(id) !== undefined);
        const createdAtMs = Math.floor(nowMs);
        this.q.insertPolicy.run(id, checked.name, checked.a, checked.b, key.low, key.high, key.flow, checked.flow?.protocol ?? null, checked.flow?.port ?? null, applied, createdAtMs);
        return { id, name: checked.name, a: checked.a, b: checked.b, flow: checked.flow, applied: checked.applied, createdAtMs };
      })
      .immediate();
  }

  listPolicies(): DistributionPolicy[] {
    return this.q.policies.all().map(policy);
  }

  // By name first (what operators type), then by id.
  removePolicy(idOrName: string): boolean {
    if (typeof idOrName !== 'string') return false;
    return this.db
      .transaction((): boolean => {
        const row = this.q.policyByName.get(idOrName) ?? this.q.policyById.get(idOrName);
        return row !== undefined && this.q.deletePolicy.run(row.id).changes === 1;
      })
      .immediate();
  }

  // -------------------------------------------------------------------- entries

  saveEntry(entry: ManagementEntry): void {
    const pub = encodeEntryPublic(entry);
    const plain = encodeParams(entry.params, pub);
    try {
      const sealed = plain === null ? null : this.sealing.seal(ENTRIES_TABLE, entry.id, plain);
      this.db.transaction(() => this.q.saveEntry.run(entry.id, pub, sealed, Math.floor(entry.createdAtMs))).immediate();
    } finally {
      plain?.fill(0);
    }
  }

  deleteEntry(id: string): void {
    if (typeof id !== 'string') return;
    this.db.transaction(() => this.q.deleteEntry.run(id)).immediate();
  }

  listEntries(): ManagementEntry[] {
    return this.q.entries.all().map((r) => {
      const plain = r.params_sealed === null ? null : this.sealing.open(ENTRIES_TABLE, r.id, r.params_sealed, `entry ${r.id}: SA parameters`);
      try {
        return decodeEntry(r.entry, plain, r.id);
      } finally {
        plain?.fill(0);
      }
    });
  }

  // --------------------------------------------------------------------- events

  appendEvents(events: readonly Omit<StoredEvent, 'id'>[]): void {
    if (!Array.isArray(events)) throw new StoreError(StoreErrorCode.BAD_EVENT, 'events must be a list');
    const checked = events.map(checkEvent); // all or nothing: check before writing any
    if (checked.length === 0) return;
    this.db
      .transaction(() => {
        for (const e of checked) this.q.insertEvent.run(e.atMs, e.kind, e.deviceId, e.detail);
        this.q.trimEvents.run(EVENT_LOG_CAP);
      })
      .immediate();
  }

  listEvents(afterId: number, limit: number): StoredEvent[] {
    if (!Number.isSafeInteger(afterId) || afterId < 0) throw new StoreError(StoreErrorCode.BAD_EVENT, 'afterId must be an integer >= 0');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_EVENTS_PER_READ) {
      throw new StoreError(StoreErrorCode.BAD_EVENT, `limit must be an integer in 1..${MAX_EVENTS_PER_READ}`);
    }
    return this.q.events.all(afterId, limit).map((r) => ({ id: r.id, atMs: r.at_ms, kind: r.kind, deviceId: r.device_id, detail: decodeEventDetail(r.detail, r.id) }));
  }
}
