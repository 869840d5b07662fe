// CONTRACT — the controller's store (DESIGN.md "Processes": SQLite embedded by default,
// PostgreSQL later when replicas share the load). Async on purpose: the PostgreSQL backend
// will need it, and the sans-I/O cores never call the store themselves — the controller
// shell does, on the cores' 'persist' outputs (write-ahead: await the save, then send).
//
// Secrets (init keys, channel key material) are encrypted at rest under the controller
// master key (store/master-key.ts); rows hold only ciphertext for them.

import type { KeyrollVariant, SenderPeerDurable } from '../keyroll/types.js';
import type { DistributionPolicy, ManagementEntry } from '../settings/types.js';
import { KeyplaneError } from '../util/errors.js';

export class StoreError extends KeyplaneError {}

export interface DeviceRecord {
  readonly id: string; // stable device id, also the keyroll ChannelParams.deviceId
  readonly name: string; // operator's name, unique
  readonly createdAtMs: number;
  readonly revokedAtMs: number | null; // revoked devices are refused by the controller
  readonly initSpi: number; // SPI of the device's init key, unique per controller
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
  // The IPsec addresses the device may ask settings for (seed 000: the requester address
  // is bound to the authenticated channel). Canonical text form; unique across devices.
  readonly addresses: readonly string[];
}

export interface NewDevice {
  readonly name: string;
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
  readonly addresses?: readonly string[]; // default none
}

export type NewPolicy = Omit<DistributionPolicy, 'id' | 'createdAtMs'>;

// One line of `keyplane events` (requests, distributions, errors, renewals). No secrets.
export interface StoredEvent {
  readonly id: number; // increasing
  readonly atMs: number;
  readonly kind: string; // e.g. 'request', 'distributed', 'activation', 'error', 'expired'
  readonly deviceId: string | null;
  readonly detail: Readonly<Record<string, unknown>>; // JSON
}

export interface ControllerStore {
  // Creates the device with a fresh id, a fresh unique init SPI and the given init key.
  // StoreError 'store.device-exists' when the name is taken.
  addDevice(device: NewDevice, initKey: Uint8Array, nowMs: number): Promise<DeviceRecord>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  getDeviceByName(name: string): Promise<DeviceRecord | undefined>;
  listDevices(): Promise<DeviceRecord[]>;
  revokeDevice(id: string, nowMs: number): Promise<boolean>;
  removeDevice(id: string): Promise<boolean>; // also drops its channel state
  initKey(id: string): Promise<Uint8Array>; // decrypted; StoreError 'store.not-found'
  saveChannelState(deviceId: string, state: SenderPeerDurable): Promise<void>;
  loadChannelState(deviceId: string): Promise<SenderPeerDurable | undefined>;

  // ---- seed 000 settings service
  // StoreError 'store.address-taken' when another device already has one of the addresses.
  setDeviceAddresses(id: string, addresses: readonly string[]): Promise<void>;
  // StoreError 'store.policy-exists' (same name, or same endpoints and flow).
  addPolicy(policy: NewPolicy, nowMs: number): Promise<DistributionPolicy>;
  listPolicies(): Promise<DistributionPolicy[]>;
  removePolicy(idOrName: string): Promise<boolean>;
  // Management-table entries; key material sealed under the master key at rest.
  saveEntry(entry: ManagementEntry): Promise<void>; // insert or replace by id
  deleteEntry(id: string): Promise<void>;
  listEntries(): Promise<ManagementEntry[]>;
  // Bounded event log (the oldest are dropped beyond a cap of at least 10,000).
  appendEvents(events: readonly Omit<StoredEvent, 'id'>[]): Promise<void>;
  listEvents(afterId: number, limit: number): Promise<StoredEvent[]>;

  close(): Promise<void>;
}
