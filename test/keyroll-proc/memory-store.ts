// A ControllerStore (src/store/types.ts) kept in memory: a real implementation of the
// contract for in-process tests of the controller shell (the SQLite store is the one the
// real processes use). Values are copied in and out, as a database would, so nobody can
// change stored state through a reference. `failSaves` makes saveChannelState fail, the
// way a full disk or a locked database would, to test the write-ahead rule (and
// `failEntrySaves` makes saveEntry fail, for the settings service's). The seed-000 methods
// use the same checks as the SQLite store (src/store/settings-codec.ts), so both accept
// and refuse the same values.
import { randomBytes } from 'node:crypto';
import { StoreError, type ControllerStore, type DeviceRecord, type NewDevice, type NewPolicy, type StoredEvent } from '../../src/store/types.js';
import type { SenderPeerDurable } from '../../src/keyroll/types.js';
import type { DistributionPolicy, ManagementEntry } from '../../src/settings/types.js';
import { canonicalDeviceAddresses, checkEvent, checkNewPolicy, encodeEntryPublic, policyKey } from '../../src/store/settings-codec.js';
import { EVENT_LOG_CAP, MAX_EVENTS_PER_READ } from '../../src/store/sqlite-settings.js';

interface Row {
  record: DeviceRecord;
  initKey: Buffer;
  state: SenderPeerDurable | undefined;
}

export class MemoryStore implements ControllerStore {
  private readonly rows = new Map<string, Row>();
  private readonly policies = new Map<string, DistributionPolicy>();
  private readonly entries = new Map<string, ManagementEntry>();
  private events: StoredEvent[] = [];
  private lastEventId = 0;
  failSaves = false;
  failEntrySaves = false;
  saves = 0;
  entrySaves = 0;
  closed = false;

  private check(): void {
    if (this.closed) throw new StoreError('store.closed', 'store is closed');
  }

  async addDevice(device: NewDevice, initKey: Uint8Array, nowMs: number): Promise<DeviceRecord> {
    this.check();
    if ([...this.rows.values()].some((r) => r.record.name === device.name)) throw new StoreError('store.device-exists', `device ${device.name} exists`);
    const addresses = canonicalDeviceAddresses(device.addresses ?? []);
    this.checkAddressesFree('', addresses);
    const used = new Set([...this.rows.values()].map((r) => r.record.initSpi));
    let initSpi: number;
    do initSpi = randomBytes(4).readUInt32BE(0);
    while (initSpi < 256 || used.has(initSpi));
    const record: DeviceRecord = {
      id: randomBytes(8).toString('hex'),
      name: device.name,
      createdAtMs: nowMs,
      revokedAtMs: null,
      initSpi,
      variant: device.variant,
      forwardSecrecy: device.forwardSecrecy,
      addresses,
    };
    this.rows.set(record.id, { record, initKey: Buffer.from(initKey), state: undefined });
    return copy(record);
  }

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    this.check();
    const r = this.rows.get(id);
    return r === undefined ? undefined : copy(r.record);
  }

  async getDeviceByName(name: string): Promise<DeviceRecord | undefined> {
    this.check();
    const r = [...this.rows.values()].find((x) => x.record.name === name);
    return r === undefined ? undefined : copy(r.record);
  }

  async listDevices(): Promise<DeviceRecord[]> {
    this.check();
    return [...this.rows.values()].map((r) => (copy(r.record)));
  }

  async revokeDevice(id: string, nowMs: number): Promise<boolean> {
    this.check();
    const r = this.rows.get(id);
    if (r === undefined || r.record.revokedAtMs !== null) return false;
    r.record = { ...r.record, revokedAtMs: nowMs };
    return true;
  }

  async removeDevice(id: string): Promise<boolean> {
    this.check();
    return this.rows.delete(id);
  }

  async initKey(id: string): Promise<Uint8Array> {
    this.check();
    const r = this.rows.get(id);
    if (r === undefined) throw new StoreError('store.not-found', `no device ${id}`);
    return Buffer.from(r.initKey);
  }

  async saveChannelState(deviceId: string, state: SenderPeerDurable): Promise<void> {
    this.check();
    // A little real latency, so saves and packets interleave as they do on a disk.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failSaves) throw new StoreError('store.sqlite', 'disk full (injected)');
    const r = this.rows.get(deviceId);
    if (r === undefined) throw new StoreError('store.not-found', `no device ${deviceId}`);
    r.state = structuredClone(state);
    this.saves += 1;
  }

  async loadChannelState(deviceId: string): Promise<SenderPeerDurable | undefined> {
    this.check();
    const s = this.rows.get(deviceId)?.state;
    return s === undefined ? undefined : structuredClone(s);
  }

  // ---- seed 000

  private checkAddressesFree(deviceId: string, addresses: readonly string[]): void {
    for (const r of this.rows.values()) {
      if (r.record.id === deviceId) continue;
      const a = addresses.find((x) => r.record.addresses.includes(x));
      if (a !== undefined) throw new StoreError('store.address-taken', `address ${a} already belongs to device ${r.record.name}`);
    }
  }

  async setDeviceAddresses(id: string, addresses: readonly string[]): Promise<void> {
    this.check();
    const list = canonicalDeviceAddresses(addresses);
    const r = this.rows.get(id);
    if (r === undefined) throw new StoreError('store.not-found', `no device with id ${id}`);
    this.checkAddressesFree(id, list);
    r.record = { ...r.record, addresses: list };
  }

  async addPolicy(policy: NewPolicy, nowMs: number): Promise<DistributionPolicy> {
    this.check();
    const p = checkNewPolicy(policy);
    const key = JSON.stringify(policyKey(p));
    for (const q of this.policies.values()) {
      if (q.name === p.name) throw new StoreError('store.policy-exists', `a policy named ${p.name} already exists`);
      if (JSON.stringify(policyKey(q)) === key) throw new StoreError('store.policy-exists', `policy ${q.name} already covers this pair and flow`);
    }
    const stored: DistributionPolicy = { ...p, id: randomBytes(8).toString('hex'), createdAtMs: Math.floor(nowMs) };
    this.policies.set(stored.id, stored);
    return structuredClone(stored);
  }

  async listPolicies(): Promise<DistributionPolicy[]> {
    this.check();
    return [...this.policies.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((p) => structuredClone(p));
  }

  async removePolicy(idOrName: string): Promise<boolean> {
    this.check();
    const p = [...this.policies.values()].find((x) => x.name === idOrName) ?? this.policies.get(idOrName);
    return p !== undefined && this.policies.delete(p.id);
  }

  async saveEntry(entry: ManagementEntry): Promise<void> {
    this.check();
    encodeEntryPublic(entry); // the same shape checks as the SQLite store
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failEntrySaves) throw new StoreError('store.sqlite', 'disk full (injected)');
    this.entries.set(entry.id, structuredClone(entry));
    this.entrySaves += 1;
  }

  async deleteEntry(id: string): Promise<void> {
    this.check();
    this.entries.delete(id);
  }

  async listEntries(): Promise<ManagementEntry[]> {
    this.check();
    return [...this.entries.values()].sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : 1)).map((e) => structuredClone(e));
  }

  async appendEvents(events: readonly Omit<StoredEvent, 'id'>[]): Promise<void> {
    this.check();
    const checked = events.map(checkEvent);
    for (const e of checked) this.events.push({ id: ++this.lastEventId, atMs: e.atMs, kind: e.kind, deviceId: e.deviceId, detail: JSON.parse(e.detail) as Record<string, unknown> });
    if (this.events.length > EVENT_LOG_CAP) this.events = this.events.slice(this.events.length - EVENT_LOG_CAP);
  }

  async listEvents(afterId: number, limit: number): Promise<StoredEvent[]> {
    this.check();
    if (!Number.isSafeInteger(afterId) || afterId < 0) throw new StoreError('store.bad-event', 'afterId must be an integer >= 0');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_EVENTS_PER_READ) throw new StoreError('store.bad-event', 'bad limit');
    return this.events.filter((e) => e.id > afterId).slice(0, limit).map((e) => structuredClone(e));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function copy(r: DeviceRecord): DeviceRecord {
  return { ...r, addresses: [...r.addresses] };
}
