// IPv4 header (RFC 791 §3.1). Decoding checks every length before reading; src, dst and
// options are views into the packet (no copies).
import { DecodeError } from './errors.js';
import { internetChecksum, verifyInternetChecksum } from './checksum.js';

const WHAT = 'ipv4';
export const IPV4_MIN_HEADER_BYTES = 20;
export const IPV4_MAX_HEADER_BYTES = 60; // IHL is 4 bits of 32-bit words

export interface Ipv4Header {
  readonly headerLength: number; // bytes: IHL * 4, 20..60
  readonly dscp: number; // 6 bits (RFC 2474)
  readonly ecn: number; // 2 bits (RFC 3168)
  readonly totalLength: number; // bytes, header included
  readonly identification: number;
  readonly reservedFlag: boolean; // must be zero on send (RFC 791); kept to round-trip
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  readonly fragmentOffset: number; // in 8-octet units, as on the wire
  readonly ttl: number;
  readonly protocol: number;
  readonly checksum: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly options: Uint8Array; // headerLength - 20 bytes, unparsed
}

// What a caller supplies to encode; headerLength comes from options, checksum is computed.
export interface Ipv4HeaderInit {
  readonly dscp?: number;
  readonly ecn?: number;
  readonly totalLength: number;
  readonly identification?: number;
  readonly reservedFlag?: boolean;
  readonly dontFragment?: boolean;
  readonly moreFragments?: boolean;
  readonly fragmentOffset?: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly options?: Uint8Array; // multiple of 4 bytes, at most 40
}

export interface Ipv4DecodeOptions {
  // Verify the header checksum (RFC 791 §3.1). Default true; the hot path (packet-flow.ts)
  // does not decode through here.
  readonly verifyChecksum?: boolean;
}

function view(buf: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + start, length);
}

// Decodes the header at the start of `packet`. The packet may be longer than totalLength
// (link-layer padding); the payload is packet[headerLength, totalLength).
export function decodeIpv4Header(packet: Uint8Array, options?: Ipv4DecodeOptions): Ipv4Header {
  if (packet.length < IPV4_MIN_HEADER_BYTES) {
    throw new DecodeError(WHAT, 'truncated', `${packet.length} bytes, header needs ${IPV4_MIN_HEADER_BYTES}`);
  }
  const b0 = packet[0]!;
  if (b0 >> 4 !== 4) throw new DecodeError(WHAT, 'bad-version', `version ${b0 >> 4}`);
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_BYTES) throw new DecodeError(WHAT, 'bad-length', `IHL ${b0 & 0x0f} < 5`);
  if (headerLength > packet.length) {
    throw new DecodeError(WHAT, 'truncated', `header length ${headerLength} > ${packet.length} bytes`);
  }
  const totalLength = (packet[2]! << 8) | packet[3]!;
  if (totalLength < headerLength) {
    throw new DecodeError(WHAT, 'bad-length', `total length ${totalLength} < header length ${headerLength}`);
  }
  if (totalLength > packet.length) {
    throw new DecodeError(WHAT, 'truncated', `total length ${totalLength} > ${packet.length} bytes`);
  }
  if (options?.verifyChecksum !== false && !verifyInternetChecksum(packet, 0, headerLength)) {
    throw new DecodeError(WHAT, 'bad-checksum', 'header checksum does not verify');
  }
  const flags = packet[6]!;
  return {
    headerLength,
    dscp: packet[1]! >> 2,
    ecn: packet[1]! & 3,
    totalLength,
    identification: (packet[4]! << 8) | packet[5]!,
    reservedFlag: (flags & 0x80) !== 0,
    dontFragment: (flags & 0x40) !== 0,
    moreFragments: (flags & 0x20) !== 0,
    fragmentOffset: ((flags & 0x1f) << 8) | packet[7]!,
    ttl: packet[8]!,
    protocol: packet[9]!,
    checksum: (packet[10]! << 8) | packet[11]!,
    src: view(packet, 12, 4),
    dst: view(packet, 16, 4),
    options: view(packet, IPV4_MIN_HEADER_BYTES, headerLength - IPV4_MIN_HEADER_BYTES),
  };
}

// A fragment is any packet with MF set or a non-zero offset (RFC 791 §3.2); only the first
// (offset 0) carries the upper-layer header.
export function isIpv4Fragment(h: Pick<Ipv4Header, 'moreFragments' | 'fragmentOffset'>): boolean {
  return h.moreFragments || h.fragmentOffset !== 0;
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`ipv4 ${name} ${value} not in 0..${max}`);
}

// Header length in bytes that `init` encodes to.
export function ipv4HeaderLength(init: Pick<Ipv4HeaderInit, 'options'>): number {
  return IPV4_MIN_HEADER_BYTES + (init.options?.length ?? 0);
}

// Writes the header at out[offset..] with a computed checksum; returns its length.
// Invalid field values are programming errors (RangeError), not decode errors.
export function writeIpv4Header(out: Uint8Array, offset: number, init: Ipv4HeaderInit): number {
  const opts = init.options;
  const optLen = opts?.length ?? 0;
  if (optLen % 4 !== 0 || optLen > IPV4_MAX_HEADER_BYTES - IPV4_MIN_HEADER_BYTES) {
    throw new RangeError(`ipv4 options length ${optLen} must be a multiple of 4, at most 40`);
  }
  const hl = IPV4_MIN_HEADER_BYTES + optLen;
  if (init.src.length !== 4 || init.dst.length !== 4) throw new RangeError('ipv4 addresses have 4 bytes');
  const dscp = init.dscp ?? 0;
  const ecn = init.ecn ?? 0;
  const id = init.identification ?? 0;
  const fragOff = init.fragmentOffset ?? 0;
  checkField('dscp', dscp, 63);
  checkField('ecn', ecn, 3);
  checkField('total length', init.totalLength, 0xffff);
  if (init.totalLength < hl) throw new RangeError(`ipv4 total length ${init.totalLength} < header length ${hl}`);
  checkField('identification', id, 0xffff);
  checkField('fragment offset', fragOff, 0x1fff);
  checkField('ttl', init.ttl, 255);
  checkField('protocol', init.protocol, 255);
  if (offset < 0 || offset + hl > out.length) throw new RangeError('ipv4 header does not fit the output buffer');
  out[offset] = 0x40 | (hl >> 2);
  out[offset + 1] = (dscp << 2) | ecn;
  out[offset + 2] = init.totalLength >> 8;
  out[offset + 3] = init.totalLength & 0xff;
  out[offset + 4] = id >> 8;
  out[offset + 5] = id & 0xff;
  out[offset + 6] =
    (init.reservedFlag ? 0x80 : 0) | (init.dontFragment ? 0x40 : 0) | (init.moreFragments ? 0x20 : 0) | (fragOff >> 8);
  out[offset + 7] = fragOff & 0xff;
  out[offset + 8] = init.ttl;
  out[offset + 9] = init.protocol;
  out[offset + 10] = 0;
  out[offset + 11] = 0;
  out.set(init.src, offset + 12);
  out.set(init.dst, offset + 16);
  if (opts !== undefined) out.set(opts, offset + IPV4_MIN_HEADER_BYTES);
  const sum = internetChecksum(out, offset, offset + hl);
  out[offset + 10] = sum >> 8;
  out[offset + 11] = sum & 0xff;
  return hl;
}

// A whole packet: header (totalLength from the payload) followed by payload.
export function encodeIpv4Packet(init: Omit<Ipv4HeaderInit, 'totalLength'>, payload: Uint8Array): Uint8Array {
  const hl = ipv4HeaderLength(init);
  const out = new Uint8Array(hl + payload.length);
  writeIpv4Header(out, 0, { ...init, totalLength: hl + payload.length });
  out.set(payload, hl);
  return out;
}
