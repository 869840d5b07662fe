// TCP header (RFC 9293 §3.1) including Data Offset and options, and its checksum over the
// IPv4/IPv6 pseudo-header. Options are a view into the segment, unparsed.
import { DecodeError } from './errors.js';
import { transportChecksum, verifyTransportChecksum } from './checksum.js';

const WHAT = 'tcp';
export const TCP_MIN_HEADER_BYTES = 20;
export const TCP_MAX_HEADER_BYTES = 60;
export const IPPROTO_TCP = 6;

// Control bits (RFC 9293 §3.1, RFC 3168 for CWR/ECE). `flags` also keeps the 4 bits before
// them (reserved in RFC 9293; Accurate ECN uses one) so a header round-trips bit for bit.
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export interface TcpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly sequence: number; // uint32
  readonly acknowledgment: number; // uint32
  readonly headerLength: number; // Data Offset * 4, 20..60
  readonly flags: number; // 12 bits: low nibble of byte 12, then byte 13
  readonly window: number;
  readonly checksum: number;
  readonly urgentPointer: number;
  readonly options: Uint8Array; // headerLength - 20 bytes
}

export interface TcpHeaderInit {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly sequence: number;
  readonly acknowledgment: number;
  readonly flags: number;
  readonly window: number;
  readonly urgentPointer?: number;
  readonly options?: Uint8Array; // multiple of 4, at most 40 bytes
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

// Decodes the header at the start of `segment` (the IP payload); data follows at headerLength.
export function decodeTcpHeader(segment: Uint8Array): TcpHeader {
  if (segment.length < TCP_MIN_HEADER_BYTES) {
    throw new DecodeError(WHAT, 'truncated', `${segment.length} bytes, header needs ${TCP_MIN_HEADER_BYTES}`);
  }
  const headerLength = (segment[12]! >> 4) * 4;
  if (headerLength < TCP_MIN_HEADER_BYTES) throw new DecodeError(WHAT, 'bad-length', `data offset ${segment[12]! >> 4} < 5`);
  if (headerLength > segment.length) {
    throw new DecodeError(WHAT, 'truncated', `header length ${headerLength} > ${segment.length} bytes`);
  }
  return {
    srcPort: (segment[0]! << 8) | segment[1]!,
    dstPort: (segment[2]! << 8) | segment[3]!,
    sequence: u32(segment, 4),
    acknowledgment: u32(segment, 8),
    headerLength,
    flags: ((segment[12]! & 0x0f) << 8) | segment[13]!,
    window: (segment[14]! << 8) | segment[15]!,
    checksum: (segment[16]! << 8) | segment[17]!,
    urgentPointer: (segment[18]! << 8) | segment[19]!,
    options: new Uint8Array(segment.buffer, segment.byteOffset + TCP_MIN_HEADER_BYTES, headerLength - TCP_MIN_HEADER_BYTES),
  };
}

// The whole segment (header and data, as given) verified against the pseudo-header. TCP has
// no length field: the segment's extent comes from the IP header.
export function verifyTcpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): boolean {
  if (segment.length < TCP_MIN_HEADER_BYTES) return false;
  return verifyTransportChecksum(src, dst, IPPROTO_TCP, segment, 0, segment.length);
}

export function decodeTcp(segment: Uint8Array, addresses?: { src: Uint8Array; dst: Uint8Array }): TcpHeader {
  const h = decodeTcpHeader(segment);
  if (addresses !== undefined && !verifyTcpChecksum(addresses.src, addresses.dst, segment)) {
    throw new DecodeError(WHAT, 'bad-checksum', 'checksum does not verify');
  }
  return h;
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`tcp ${name} ${value} not in 0..${max}`);
}

// Encodes header + payload with the checksum over the pseudo-header of (src, dst).
export function encodeTcp(init: TcpHeaderInit, payload: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const optLen = init.options?.length ?? 0;
  if (optLen % 4 !== 0 || optLen > TCP_MAX_HEADER_BYTES - TCP_MIN_HEADER_BYTES) {
    throw new RangeError(`tcp options length ${optLen} must be a multiple of 4, at most 40`);
  }
  checkField('source port', init.srcPort, 0xffff);
  checkField('destination port', init.dstPort, 0xffff);
  checkField('sequence', init.sequence, 0xffffffff);
  checkField('acknowledgment', init.acknowledgment, 0xffffffff);
  checkField('flags', init.flags, 0xfff);
  checkField('window', init.window, 0xffff);
  const urg = init.urgentPointer ?? 0;
  checkField('urgent pointer', urg, 0xffff);
  const hl = TCP_MIN_HEADER_BYTES + optLen;
  const out = new Uint8Array(hl + payload.length);
  out[0] = init.srcPort >> 8;
  out[1] = init.srcPort & 0xff;
  out[2] = init.dstPort >> 8;
  out[3] = init.dstPort & 0xff;
  out[4] = init.sequence >>> 24;
  out[5] = (init.sequence >>> 16) & 0xff;
  out[6] = (init.sequence >>> 8) & 0xff;
  out[7] = init.sequence & 0xff;
  out[8] = init.acknowledgment >>> 24;
  out[9] = (init.acknowledgment >>> 16) & 0xff;
  out[10] = (init.acknowledgment >>> 8) & 0xff;
  out[11] = init.acknowledgment & 0xff;
  out[12] = ((hl >> 2) << 4) | (init.flags >> 8);
  out[13] = init.flags & 0xff;
  out[14] = init.window >> 8;
  out[15] = init.window & 0xff;
  out[18] = urg >> 8;
  out[19] = urg & 0xff;
  if (init.options !== undefined) out.set(init.options, TCP_MIN_HEADER_BYTES);
  out.set(payload, hl);
  const c = transportChecksum(src, dst, IPPROTO_TCP, out, 0, out.length, 16);
  out[16] = c >> 8;
  out[17] = c & 0xff;
  return out;
}
