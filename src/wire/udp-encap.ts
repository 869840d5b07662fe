// What arrives in a UDP/4500 datagram (RFC 3948): a NAT-keepalive (§2.3), an IKE message
// behind the 4-byte Non-ESP Marker (§2.2), or an ESP packet starting at the SPI (§2.1).
import { DecodeError } from './errors.js';
import { ESP_HEADER_BYTES } from './esp.js';

export const NAT_T_PORT = 4500;
export const NON_ESP_MARKER_BYTES = 4;
export const NAT_KEEPALIVE_BYTE = 0xff;

// 'esp': the payload is an ESP packet from offset 0 (SPI non-zero, at least the 8-byte header).
// 'ike': an IKE message starts at offset NON_ESP_MARKER_BYTES.
// 'keepalive': a single 0xFF byte; the receiver ignores it (§2.3).
export type UdpEncapKind = 'esp' | 'ike' | 'keepalive';

export function classifyUdpEncap(payload: Uint8Array): UdpEncapKind {
  const n = payload.length;
  if (n === 1 && payload[0] === NAT_KEEPALIVE_BYTE) return 'keepalive';
  if (n < NON_ESP_MARKER_BYTES) throw new DecodeError('udp-encap', 'truncated', `${n} bytes: neither keepalive, marker nor ESP`);
  if (payload[0] === 0 && payload[1] === 0 && payload[2] === 0 && payload[3] === 0) {
    // The marker sits where an ESP SPI would be; SPI 0 is never sent (RFC 4303 §2.1).
    if (n === NON_ESP_MARKER_BYTES) throw new DecodeError('udp-encap', 'truncated', 'Non-ESP Marker with no IKE message');
    return 'ike';
  }
  if (n < ESP_HEADER_BYTES) throw new DecodeError('udp-encap', 'truncated', `${n} bytes, ESP header needs ${ESP_HEADER_BYTES}`);
  return 'esp';
}

export function buildNatKeepalive(): Uint8Array {
  return Uint8Array.of(NAT_KEEPALIVE_BYTE);
}

// The UDP payload carrying `ikeMessage` on port 4500: four zero bytes, then the message.
export function buildMarkedIke(ikeMessage: Uint8Array): Uint8Array {
  if (ikeMessage.length === 0) throw new RangeError('empty IKE message');
  const out = new Uint8Array(NON_ESP_MARKER_BYTES + ikeMessage.length);
  out.set(ikeMessage, NON_ESP_MARKER_BYTES);
  return out;
}
