// UDP header (RFC 768) and its checksum over the IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1)
// pseudo-header.
import { DecodeError } from './errors.js';
import { transportChecksum, verifyTransportChecksum } from './checksum.js';

const WHAT = 'udp';
export const UDP_HEADER_BYTES = 8;
export const IPPROTO_UDP = 17;

export interface UdpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number; // header + data, bytes
  readonly checksum: number; // 0 = none (IPv4 only)
}

// Decodes the header at the start of `segment` (the IP payload). The datagram is
// segment[0, length); bytes after it (if any) are not part of it.
export function decodeUdpHeader(segment: Uint8Array): UdpHeader {
  if (segment.length < UDP_HEADER_BYTES) {
    throw new DecodeError(WHAT, 'truncated', `${segment.length} bytes, header needs ${UDP_HEADER_BYTES}`);
  }
  const length = (segment[4]! << 8) | segment[5]!;
  if (length < UDP_HEADER_BYTES) throw new DecodeError(WHAT, 'bad-length', `length ${length} < 8`);
  if (length > segment.length) throw new DecodeError(WHAT, 'truncated', `length ${length} > ${segment.length} bytes`);
  return {
    srcPort: (segment[0]! << 8) | segment[1]!,
    dstPort: (segment[2]! << 8) | segment[3]!,
    length,
    checksum: (segment[6]! << 8) | segment[7]!,
  };
}

// Checks the checksum of the datagram segment[0, its length field) against the
// pseudo-header. IPv4: a zero checksum means "not computed" and passes (RFC 768). IPv6: a
// zero checksum is invalid (RFC 8200 §8.1). A malformed length fails.
export function verifyUdpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): boolean {
  if (segment.length < UDP_HEADER_BYTES) return false;
  const length = (segment[4]! << 8) | segment[5]!;
  if (length < UDP_HEADER_BYTES || length > segment.length) return false;
  if (segment[6] === 0 && segment[7] === 0) return src.length === 4;
  return verifyTransportChecksum(src, dst, IPPROTO_UDP, segment, 0, length);
}

// Decodes and, when addresses are given, verifies the checksum ('bad-checksum').
export function decodeUdp(segment: Uint8Array, addresses?: { src: Uint8Array; dst: Uint8Array }): UdpHeader {
  const h = decodeUdpHeader(segment);
  if (addresses !== undefined && !verifyUdpChecksum(addresses.src, addresses.dst, segment)) {
    throw new DecodeError(WHAT, 'bad-checksum', h.checksum === 0 ? 'zero checksum over IPv6' : 'checksum does not verify');
  }
  return h;
}

// The checksum value for the datagram at data[start, end); a computed 0 is sent as 0xffff
// (RFC 768: all-zero means no checksum).
export function udpChecksum(src: Uint8Array, dst: Uint8Array, data: Uint8Array, start: number, end: number): number {
  const c = transportChecksum(src, dst, IPPROTO_UDP, data, start, end, 6);
  return c === 0 ? 0xffff : c;
}

function checkPort(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`udp ${name} ${v} not in 0..65535`);
}

// Writes the 8-byte header at out[offset..] for a datagram of `length` bytes whose data
// already sits at out[offset + 8, offset + length). With addresses the checksum is computed;
// without, it is 0 (allowed for IPv4 only, e.g. UDP-encapsulated ESP, RFC 3948 §2.1).
export function writeUdpHeader(
  out: Uint8Array,
  offset: number,
  srcPort: number,
  dstPort: number,
  length: number,
  addresses?: { src: Uint8Array; dst: Uint8Array },
): void {
  checkPort('source port', srcPort);
  checkPort('destination port', dstPort);
  if (!Number.isInteger(length) || length < UDP_HEADER_BYTES || length > 0xffff || offset < 0 || offset + length > out.length) {
    throw new RangeError(`udp length ${length} invalid for the output buffer`);
  }
  out[offset] = srcPort >> 8;
  out[offset + 1] = srcPort & 0xff;
  out[offset + 2] = dstPort >> 8;
  out[offset + 3] = dstPort & 0xff;
  out[offset + 4] = length >> 8;
  out[offset + 5] = length & 0xff;
  const c = addresses === undefined ? 0 : udpChecksum(addresses.src, addresses.dst, out, offset, offset + length);
  out[offset + 6] = c >> 8;
  out[offset + 7] = c & 0xff;
}

export function encodeUdp(
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  addresses?: { src: Uint8Array; dst: Uint8Array },
): Uint8Array {
  const out = new Uint8Array(UDP_HEADER_BYTES + payload.length);
  out.set(payload, UDP_HEADER_BYTES);
  writeUdpHeader(out, 0, srcPort, dstPort, out.length, addresses);
  return out;
}
