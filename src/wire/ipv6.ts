// IPv6 fixed header (RFC 8200 §3) and the extension header chain (RFC 8200 §4), walked to
// find the upper-layer protocol and where it starts. src and dst are views (no copies).
import { DecodeError } from './errors.js';

const WHAT = 'ipv6';
const WHAT_EXT = 'ipv6-ext';
export const IPV6_HEADER_BYTES = 40;

// Next Header values this walker steps over (RFC 8200 §4, RFC 4302 for AH).
export const NH_HOP_BY_HOP = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ESP = 50; // ends the chain: everything after it is encrypted (RFC 4303)
export const NH_AH = 51;
export const NH_NONE = 59; // No Next Header (RFC 8200 §4.7)
export const NH_DEST_OPTS = 60;

// A packet with more extension headers than this is refused ('unsupported'): the walk is
// bounded per packet, and real traffic carries a few at most (RFC 8504 §5.3 lets nodes
// limit the number). Mobility (135), HIP (139), Shim6 (140) are reported as the upper-layer
// protocol: RFC 4301 §4.4.1.1 treats the Mobility Header as a next layer protocol.
export const MAX_IPV6_EXTENSION_HEADERS = 16;

export interface Ipv6Header {
  readonly trafficClass: number; // 8 bits
  readonly flowLabel: number; // 20 bits
  readonly payloadLength: number; // bytes after the fixed header
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

export interface Ipv6HeaderInit {
  readonly trafficClass?: number;
  readonly flowLabel?: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

function view(buf: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + start, length);
}

// Decodes the fixed header. The packet may be longer than 40 + payloadLength (padding);
// the payload is packet[40, 40 + payloadLength).
export function decodeIpv6Header(packet: Uint8Array): Ipv6Header {
  if (packet.length < IPV6_HEADER_BYTES) {
    throw new DecodeError(WHAT, 'truncated', `${packet.length} bytes, header needs ${IPV6_HEADER_BYTES}`);
  }
  const b0 = packet[0]!;
  if (b0 >> 4 !== 6) throw new DecodeError(WHAT, 'bad-version', `version ${b0 >> 4}`);
  const payloadLength = (packet[4]! << 8) | packet[5]!;
  const nextHeader = packet[6]!;
  if (payloadLength === 0 && nextHeader === NH_HOP_BY_HOP) {
    // Payload length 0 with Hop-by-Hop options is a jumbogram (RFC 2675): not handled.
    throw new DecodeError(WHAT, 'unsupported', 'jumbogram (payload length 0 with Hop-by-Hop options)');
  }
  if (IPV6_HEADER_BYTES + payloadLength > packet.length) {
    throw new DecodeError(WHAT, 'truncated', `payload length ${payloadLength} > ${packet.length - IPV6_HEADER_BYTES} bytes`);
  }
  const b1 = packet[1]!;
  return {
    trafficClass: ((b0 & 0x0f) << 4) | (b1 >> 4),
    flowLabel: ((b1 & 0x0f) << 16) | (packet[2]! << 8) | packet[3]!,
    payloadLength,
    nextHeader,
    hopLimit: packet[7]!,
    src: view(packet, 8, 16),
    dst: view(packet, 24, 16),
  };
}

// The result of walking the chain. Reused by callers on the hot path (see createIpv6Chain).
export interface Ipv6Chain {
  // The upper-layer protocol (or 50 ESP, 59 none). For a non-first fragment, the Fragment
  // header's Next Header: what follows is not in this packet (RFC 8200 §4.5).
  protocol: number;
  offset: number; // where the `protocol` header starts in the packet
  extensionCount: number;
  hasFragmentHeader: boolean;
  fragmentOffset: number; // 8-octet units
  moreFragments: boolean;
  fragmentId: number;
}

export function createIpv6Chain(): Ipv6Chain {
  return {
    protocol: 0,
    offset: 0,
    extensionCount: 0,
    hasFragmentHeader: false,
    fragmentOffset: 0,
    moreFragments: false,
    fragmentId: 0,
  };
}

// A fragment is any packet whose Fragment header has M set or a non-zero offset. A Fragment
// header with neither (an "atomic fragment", RFC 6946) is processed as a whole packet.
export function isIpv6Fragment(c: Pick<Ipv6Chain, 'fragmentOffset' | 'moreFragments'>): boolean {
  return c.moreFragments || c.fragmentOffset !== 0;
}

export type Ipv6Extension =
  // Hop-by-Hop, Routing, Destination Options: the bytes after Next Header and Hdr Ext Len
  // (a multiple of 8 minus 2 long, RFC 8200 §4.3-4.6), unparsed.
  | { readonly type: 0 | 43 | 60; readonly data: Uint8Array }
  // Fragment header (RFC 8200 §4.5); the reserved fields are written zero, ignored on decode.
  | { readonly type: 44; readonly fragmentOffset: number; readonly moreFragments: boolean; readonly identification: number }
  // AH (RFC 4302 §2): the bytes after Next Header and Payload Len (Reserved, SPI, Sequence,
  // ICV); total length (data + 2) a multiple of 8 for IPv6 (RFC 4302 §2.2).
  | { readonly type: 51; readonly data: Uint8Array };

function walk(
  packet: Uint8Array,
  firstNextHeader: number,
  start: number,
  end: number,
  out: Ipv6Chain,
  list: Ipv6Extension[] | undefined,
): Ipv6Chain {
  if (end > packet.length || start < 0 || start > end) {
    throw new DecodeError(WHAT_EXT, 'bad-length', `chain bounds ${start}..${end} outside ${packet.length} bytes`);
  }
  let nh = firstNextHeader;
  let off = start;
  let count = 0;
  out.hasFragmentHeader = false;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;
  for (;;) {
    if (nh !== NH_HOP_BY_HOP && nh !== NH_ROUTING && nh !== NH_DEST_OPTS && nh !== NH_FRAGMENT && nh !== NH_AH) break;
    if (count === MAX_IPV6_EXTENSION_HEADERS) {
      throw new DecodeError(WHAT_EXT, 'unsupported', `more than ${MAX_IPV6_EXTENSION_HEADERS} extension headers`);
    }
    if (off + 8 > end) throw new DecodeError(WHAT_EXT, 'truncated', `extension header ${nh} at ${off} needs 8 bytes, ${end - off} left`);
    const next = packet[off]!;
    if (nh === NH_FRAGMENT) {
      if (out.hasFragmentHeader) throw new DecodeError(WHAT_EXT, 'bad-value', 'second Fragment header');
      const fragmentOffset = (packet[off + 2]! << 5) | (packet[off + 3]! >> 3);
      const moreFragments = (packet[off + 3]! & 1) !== 0;
      const fragmentId = ((packet[off + 4]! << 24) | (packet[off + 5]! << 16) | (packet[off + 6]! << 8) | packet[off + 7]!) >>> 0;
      out.hasFragmentHeader = true;
      out.fragmentOffset = fragmentOffset;
      out.moreFragments = moreFragments;
      out.fragmentId = fragmentId;
      list?.push({ type: NH_FRAGMENT, fragmentOffset, moreFragments, identification: fragmentId });
      off += 8;
      count++;
      nh = next;
      // RFC 8200 §4.5: a non-first fragment carries no further headers of the chain.
      if (fragmentOffset !== 0) break;
      continue;
    }
    let len: number;
    if (nh === NH_AH) {
      len = (packet[off + 1]! + 2) * 4; // RFC 4302 §2.2: Payload Len is in 32-bit words, minus 2
      if (len < 12) throw new DecodeError(WHAT_EXT, 'bad-length', `AH length ${len} < 12`);
      if (len % 8 !== 0) throw new DecodeError(WHAT_EXT, 'bad-length', `AH length ${len} not a multiple of 8 (RFC 4302 §2.2)`);
    } else {
      // RFC 8200 §4.3: Hop-by-Hop Options only immediately after the IPv6 header.
      if (nh === NH_HOP_BY_HOP && count !== 0) throw new DecodeError(WHAT_EXT, 'bad-value', 'Hop-by-Hop header not first');
      len = (packet[off + 1]! + 1) * 8; // Hdr Ext Len in 8-octet units, not counting the first 8
    }
    if (off + len > end) throw new DecodeError(WHAT_EXT, 'truncated', `extension header ${nh} length ${len} at ${off} exceeds ${end}`);
    if (list !== undefined) {
      list.push({ type: nh as 0 | 43 | 60 | 51, data: view(packet, off + 2, len - 2) });
    }
    off += len;
    count++;
    nh = next;
  }
  out.protocol = nh;
  out.offset = off;
  out.extensionCount = count;
  return out;
}

// Walks the chain in packet[start, end) (start: the first byte after the fixed header, so
// that a Hop-by-Hop header is accepted only there) beginning with `firstNextHeader`; fills
// and returns `out`. Stops at the first non-extension header, at ESP (50), at No Next
// Header (59), or after the Fragment header of a non-first fragment.
export function walkIpv6Chain(
  packet: Uint8Array,
  firstNextHeader: number,
  start: number,
  end: number,
  out: Ipv6Chain = createIpv6Chain(),
): Ipv6Chain {
  return walk(packet, firstNextHeader, start, end, out, undefined);
}

export interface Ipv6ExtensionList {
  readonly extensions: Ipv6Extension[];
  readonly chain: Ipv6Chain;
}

// Like walkIpv6Chain, also listing each extension header (for tests and diagnostics).
export function decodeIpv6Extensions(packet: Uint8Array, firstNextHeader: number, start: number, end: number): Ipv6ExtensionList {
  const extensions: Ipv6Extension[] = [];
  const chain = walk(packet, firstNextHeader, start, end, createIpv6Chain(), extensions);
  return { extensions, chain };
}

// Decodes the fixed header and walks the whole chain.
export function decodeIpv6Packet(packet: Uint8Array): { header: Ipv6Header; chain: Ipv6Chain } {
  const header = decodeIpv6Header(packet);
  const chain = walkIpv6Chain(packet, header.nextHeader, IPV6_HEADER_BYTES, IPV6_HEADER_BYTES + header.payloadLength);
  return { header, chain };
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`ipv6 ${name} ${value} not in 0..${max}`);
}

// Encodes extension headers in order; the last one's Next Header is `upperProtocol`.
// Invalid lengths are programming errors (RangeError).
export function encodeIpv6Extensions(extensions: readonly Ipv6Extension[], upperProtocol: number): Uint8Array {
  checkField('upper protocol', upperProtocol, 255);
  let total = 0;
  for (const e of extensions) {
    if (e.type === NH_FRAGMENT) {
      total += 8;
      continue;
    }
    const len = e.data.length + 2;
    if (len % 8 !== 0) throw new RangeError(`ipv6 extension ${e.type} length ${len} not a multiple of 8`);
    if (e.type === NH_AH ? len < 16 || len > 1028 : len > 2048) {
      throw new RangeError(`ipv6 extension ${e.type} length ${len} out of range`);
    }
    total += len;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (let i = 0; i < extensions.length; i++) {
    const e = extensions[i]!;
    out[off] = i + 1 < extensions.length ? extensions[i + 1]!.type : upperProtocol;
    if (e.type === NH_FRAGMENT) {
      checkField('fragment offset', e.fragmentOffset, 0x1fff);
      checkField('fragment identification', e.identification, 0xffffffff);
      out[off + 2] = e.fragmentOffset >> 5;
      out[off + 3] = ((e.fragmentOffset & 0x1f) << 3) | (e.moreFragments ? 1 : 0);
      out[off + 4] = e.identification >>> 24;
      out[off + 5] = (e.identification >>> 16) & 0xff;
      out[off + 6] = (e.identification >>> 8) & 0xff;
      out[off + 7] = e.identification & 0xff;
      off += 8;
      continue;
    }
    const len = e.data.length + 2;
    out[off + 1] = e.type === NH_AH ? len / 4 - 2 : len / 8 - 1;
    out.set(e.data, off + 2);
    off += len;
  }
  return out;
}

// Writes the fixed header at out[offset..]; returns 40.
export function writeIpv6Header(out: Uint8Array, offset: number, init: Ipv6HeaderInit): number {
  const tc = init.trafficClass ?? 0;
  const fl = init.flowLabel ?? 0;
  checkField('traffic class', tc, 255);
  checkField('flow label', fl, 0xfffff);
  checkField('payload length', init.payloadLength, 0xffff);
  checkField('next header', init.nextHeader, 255);
  checkField('hop limit', init.hopLimit, 255);
  if (init.src.length !== 16 || init.dst.length !== 16) throw new RangeError('ipv6 addresses have 16 bytes');
  if (offset < 0 || offset + IPV6_HEADER_BYTES > out.length) throw new RangeError('ipv6 header does not fit the output buffer');
  out[offset] = 0x60 | (tc >> 4);
  out[offset + 1] = ((tc & 0x0f) << 4) | (fl >> 16);
  out[offset + 2] = (fl >> 8) & 0xff;
  out[offset + 3] = fl & 0xff;
  out[offset + 4] = init.payloadLength >> 8;
  out[offset + 5] = init.payloadLength & 0xff;
  out[offset + 6] = init.nextHeader;
  out[offset + 7] = init.hopLimit;
  out.set(init.src, offset + 8);
  out.set(init.dst, offset + 24);
  return IPV6_HEADER_BYTES;
}

// A whole packet: fixed header (payloadLength from the payload) followed by payload, which
// starts with any extension headers (see encodeIpv6Extensions).
export function encodeIpv6Packet(init: Omit<Ipv6HeaderInit, 'payloadLength'>, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(IPV6_HEADER_BYTES + payload.length);
  writeIpv6Header(out, 0, { ...init, payloadLength: payload.length });
  out.set(payload, IPV6_HEADER_BYTES);
  return out;
}
