// CONTRACT — the controller's store (DESIGN.md "Processes": SQLite embedded by default,
// PostgreSQL later when replicas share the load). Async on purpose: the PostgreSQL backend
// will need it, and the sans-I/O cores never call the store themselves — the controller
// shell does, on the cores' 'persist' outputs (write-ahead: await the save, then send).
//
// Secrets (init keys, channel key material) are encrypted at rest under the controller
// master key (store/master-key.ts); rows hold only ciphertext for them.

import type { KeyrollVariant, SenderPeerDurable } from '../keyroll/types.js';
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
}

export interface NewDevice {
  readonly name: string;
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
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
  close(): Promise<void>;
}
