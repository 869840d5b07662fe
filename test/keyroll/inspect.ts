// Test-only: read captured channel packets with a known key (what the other end, or an
// attacker who learned the key, would see).
import { ChannelKey } from '../../src/keyroll/channel-key.js';
import { decodeControl, openEsp } from '../../src/keyroll/channel-esp.js';
import { readKeyrollItems, isKeyrollItemType, type KeyrollItems } from '../../src/wire/control-keyroll.js';
import { readEspSpi } from '../../src/wire/esp.js';
import type { ControlMessage } from '../../src/wire/control-message.js';

export function spiOf(packet: Uint8Array): number {
  return readEspSpi(packet);
}

// Opens `packet` travelling in `direction` under `material` / `spi`; null if it does not
// authenticate.
export function openPacket(
  material: Uint8Array,
  spi: number,
  direction: 's2r' | 'r2s',
  packet: Uint8Array,
): { message: ControlMessage; items: KeyrollItems } | null {
  // A ChannelKey whose *inbound* direction is `direction`.
  const k = new ChannelKey(material, spi, 0, false, direction === 's2r' ? 'r2s' : 's2r', 0);
  const opened = openEsp(k, packet);
  if (typeof opened === 'string') return null;
  const message = decodeControl(opened.payload, isKeyrollItemType);
  if (message === null) return null;
  return { message, items: readKeyrollItems(message) };
}

export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}
