// A ControllerStore (src/store/types.ts) kept in memory: a real implementation of the
// contract for in-process tests of the controller shell (the SQLite store is the one the
// real processes use). Values are copied in and out, as a database would, so nobody can
// change stored state through a reference. `failSaves` makes saveChannelState fail, the
// way a full disk or a locked database would, to test the write-ahead rule.
import { randomBytes } from 'node:crypto';
import { StoreError, type ControllerStore, type DeviceRecord, type NewDevice } from '../../src/store/types.js';
import type { SenderPeerDurable } from '../../src/keyroll/types.js';

interface Row {
  record: DeviceRecord;
  initKey: Buffer;
  state: SenderPeerDurable | undefined;
}

export class MemoryStore implements ControllerStore {
  private readonly rows = new Map<string, Row>();
  failSaves = false;
  saves = 0;
  closed = false;

  private check(): void {
    if (this.closed) throw new StoreError('store.closed', 'store is closed');
  }

  async addDevice(device: NewDevice, initKey: Uint8Array, nowMs: number): Promise<DeviceRecord> {
    this.check();
    if ([...this.rows.values()].some((r) => r.record.name === device.name)) throw new StoreError('store.device-exists', `device ${device.name} exists`);
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
    };
    this.rows.set(record.id, { record, initKey: Buffer.from(initKey), state: undefined });
    return { ...record };
  }

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    this.check();
    const r = this.rows.get(id);
    return r === undefined ? undefined : { ...r.record };
  }

  async getDeviceByName(name: string): Promise<DeviceRecord | undefined> {
    this.check();
    const r = [...this.rows.values()].find((x) => x.record.name === name);
    return r === undefined ? undefined : { ...r.record };
  }

  async listDevices(): Promise<DeviceRecord[]> {
    this.check();
    return [...this.rows.values()].map((r) => ({ ...r.record }));
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

  async close(): Promise<void> {
    this.closed = true;
  }
}
