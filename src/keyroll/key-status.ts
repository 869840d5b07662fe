// A channel key as status output shows it (controller and agent alike): role, generation,
// SPI and fingerprint, a one-way digest (kdf.ts), never the key itself.
import { spiHex } from '../util/spi-hex.js';
import type { KeyView } from './types.js';

export interface KeyStatus {
  readonly role: 'init' | 'dynamic';
  readonly generation: number; // 0 = the init key
  readonly spi: string; // 0x-prefixed, 8 hex digits
  readonly fingerprint: string;
}

export function keyStatus(k: KeyView): KeyStatus {
  return { role: k.role, generation: k.generation, spi: spiHex(k.spi), fingerprint: k.fingerprint };
}

export function keyStatusText(k: KeyStatus | null): string {
  if (k === null) return '-';
  return k.role === 'init' ? `init ${k.spi} ${k.fingerprint}` : `g${k.generation} ${k.spi} ${k.fingerprint}`;
}
