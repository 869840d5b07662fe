// ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1) message header: type, code, checksum, then the
// message body (kept as a view). ICMPv4's checksum covers the message only; ICMPv6's also
// covers the IPv6 pseudo-header (RFC 4443 §2.3).
import { DecodeError } from './errors.js';
import { internetChecksum, transportChecksum, verifyInternetChecksum, verifyTransportChecksum } from './checksum.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_ICMPV6 = 58;
// RFC 792: every ICMP message has at least type, code, checksum and 4 more bytes.
export const ICMPV4_MIN_BYTES = 8;
// RFC 4443 §2.1: type, code, checksum, then a message body of any length.
export const ICMPV6_MIN_BYTES = 4;

export interface IcmpMessage {
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly body: Uint8Array; // everything after the checksum
}

export interface IcmpInit {
  readonly type: number;
  readonly code: number;
  readonly body: Uint8Array;
}

function decode(what: string, message: Uint8Array, min: number): IcmpMessage {
  if (message.length < min) throw new DecodeError(what, 'truncated', `${message.length} bytes, needs ${min}`);
  return {
    type: message[0]!,
    code: message[1]!,
    checksum: (message[2]! << 8) | message[3]!,
    body: new Uint8Array(message.buffer, message.byteOffset + 4, message.length - 4),
  };
}

// `message` is the whole ICMP message (the IP payload). verifyChecksum defaults to true.
export function decodeIcmpv4(message: Uint8Array, options?: { verifyChecksum?: boolean }): IcmpMessage {
  const m = decode('icmp', message, ICMPV4_MIN_BYTES);
  if (options?.verifyChecksum !== false && !verifyInternetChecksum(message)) {
    throw new DecodeError('icmp', 'bad-checksum', 'checksum does not verify');
  }
  return m;
}

// With addresses the checksum is verified over the pseudo-header ('bad-checksum').
export function decodeIcmpv6(message: Uint8Array, addresses?: { src: Uint8Array; dst: Uint8Array }): IcmpMessage {
  const m = decode('icmpv6', message, ICMPV6_MIN_BYTES);
  if (addresses !== undefined && !verifyIcmpv6Checksum(addresses.src, addresses.dst, message)) {
    throw new DecodeError('icmpv6', 'bad-checksum', 'checksum does not verify');
  }
  return m;
}

export function verifyIcmpv4Checksum(message: Uint8Array): boolean {
  return message.length >= ICMPV4_MIN_BYTES && verifyInternetChecksum(message);
}

export function verifyIcmpv6Checksum(src: Uint8Array, dst: Uint8Array, message: Uint8Array): boolean {
  return message.length >= ICMPV6_MIN_BYTES && verifyTransportChecksum(src, dst, IPPROTO_ICMPV6, message, 0, message.length);
}

function build(init: IcmpInit, min: number): Uint8Array {
  if (!Number.isInteger(init.type) || init.type < 0 || init.type > 255) throw new RangeError(`icmp type ${init.type}`);
  if (!Number.isInteger(init.code) || init.code < 0 || init.code > 255) throw new RangeError(`icmp code ${init.code}`);
  if (4 + init.body.length < min) throw new RangeError(`icmp message needs ${min} bytes`);
  const out = new Uint8Array(4 + init.body.length);
  out[0] = init.type;
  out[1] = init.code;
  out.set(init.body, 4);
  return out;
}

export function encodeIcmpv4(init: IcmpInit): Uint8Array {
  const out = build(init, ICMPV4_MIN_BYTES);
  const c = internetChecksum(out);
  out[2] = c >> 8;
  out[3] = c & 0xff;
  return out;
}

export function encodeIcmpv6(init: IcmpInit, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const out = build(init, ICMPV6_MIN_BYTES);
  const c = transportChecksum(src, dst, IPPROTO_ICMPV6, out, 0, out.length, 2);
  out[2] = c >> 8;
  out[3] = c & 0xff;
  return out;
}
