// IP address text <-> bytes. IPv4 is 4 bytes, IPv6 16 bytes, network order.
// Input: IPv4 dotted quad (RFC 791 notation, four decimal octets, no leading zeros so that
// "010" cannot mean octal); IPv6 per RFC 4291 §2.2 (1-4 hex digits per group, one "::",
// an embedded dotted quad in the last 32 bits). Zone ids ("%eth0") are not addresses and are
// refused. Output: RFC 5952 canonical text.
import { DecodeError } from './errors.js';

const WHAT = 'ip-address';

function fail(text: string, why: string): never {
  throw new DecodeError(WHAT, 'bad-value', `${JSON.stringify(text)}: ${why}`);
}

// Parses a dotted quad in text[from, to) into out[at..at+3]. Returns false if malformed.
function parseDottedQuad(text: string, from: number, to: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : 0x2e; // treat the end as a final '.'
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[at + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const n = text.length;
  if (n < 2) return undefined;
  let group = 0; // groups written so far
  let gap = -1; // group index where "::" sits
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return undefined; // a lone leading ':'
    gap = 0;
    i = 2;
    if (i === n) return out; // "::"
  }
  while (i < n) {
    if (group === 8) return undefined;
    // One group: hex digits up to ':' or end, or a dotted quad as the last 32 bits.
    const startOfGroup = i;
    let value = 0;
    let digits = 0;
    while (i < n) {
      const v = hexValue(text.charCodeAt(i));
      if (v < 0) break;
      value = (value << 4) | v;
      digits++;
      i++;
      if (digits > 4) return undefined;
    }
    if (i < n && text.charCodeAt(i) === 0x2e) {
      // RFC 4291 §2.2 (3): x:x:x:x:x:x:d.d.d.d, only at the end, needs two group slots.
      if (group > 6) return undefined;
      if (!parseDottedQuad(text, startOfGroup, n, out, group * 2)) return undefined;
      group += 2;
      i = n;
      break;
    }
    if (digits === 0) return undefined;
    out[group * 2] = value >> 8;
    out[group * 2 + 1] = value & 0xff;
    group++;
    if (i === n) break;
    if (text.charCodeAt(i) !== 0x3a) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return undefined; // "::" at most once
      gap = group;
      i++;
    } else if (i === n) {
      return undefined; // trailing single ':'
    }
  }
  if (gap < 0) return group === 8 ? out : undefined;
  if (group === 8) return undefined; // "::" must stand for at least one group (RFC 4291 §2.2 (2))
  // Move the groups after the gap to the end; the gap is zeros.
  const tailBytes = (group - gap) * 2;
  out.copyWithin(16 - tailBytes, gap * 2, group * 2);
  out.fill(0, gap * 2, 16 - tailBytes);
  return out;
}

// Text to bytes (4 or 16). Throws DecodeError (what "ip-address", reason "bad-value").
export function parseIp(text: string): Uint8Array {
  if (text.length === 0 || text.length > 45) fail(text, 'not an IP address');
  if (text.includes(':')) {
    const v6 = parseIpv6(text);
    if (v6 === undefined) fail(text, 'not an IPv6 address');
    return v6;
  }
  const v4 = new Uint8Array(4);
  if (!parseDottedQuad(text, 0, text.length, v4, 0)) fail(text, 'not an IPv4 address');
  return v4;
}

// 4 or 6 for valid text, undefined otherwise (no exception).
export function ipVersionOf(text: string): 4 | 6 | undefined {
  try {
    return parseIp(text).length === 4 ? 4 : 6;
  } catch {
    return undefined;
  }
}

// Bytes to text: dotted quad, or RFC 5952 for IPv6: lower case (§4.3), no leading zeros
// (§4.1), the longest run of two or more zero groups as "::", the first if tied (§4.2),
// and IPv4-mapped addresses ::ffff:0:0/96 in mixed notation (§5).
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (bytes[i] !== 0) mapped = false;
  if (mapped) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (§4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

// Canonical text of an address given as text (throws DecodeError like parseIp).
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

export interface IpPrefix {
  readonly version: 4 | 6;
  readonly prefixLength: number;
  readonly start: Uint8Array; // first address (the network address)
  readonly end: Uint8Array; // last address, inclusive
}

// "10.0.0.0/24" -> 10.0.0.0 .. 10.0.0.255. A bare address is a /32 or /128. Host bits set
// below the prefix ("10.0.0.1/24") are refused (what "ip-prefix", reason "bad-value"): the
// writer probably meant something else and silently masking hides it.
export function parsePrefix(text: string): IpPrefix {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  const bits = addr.length * 8;
  let len = bits;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > bits) {
      throw new DecodeError('ip-prefix', 'bad-value', `${JSON.stringify(text)}: prefix length must be 0..${bits}`);
    }
    len = Number(lenText);
  }
  const start = new Uint8Array(addr);
  const end = new Uint8Array(addr);
  for (let bit = len; bit < bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    start[bit >> 3]! &= ~mask;
    end[bit >> 3]! |= mask;
  }
  if (compareBytes(start, addr) !== 0) {
    throw new DecodeError('ip-prefix', 'bad-value', `${JSON.stringify(text)}: host bits set below /${len} (network is ${formatIp(start)})`);
  }
  return { version: addr.length === 4 ? 4 : 6, prefixLength: len, start, end };
}

// Orders byte strings lexicographically, shorter first on a common prefix; for addresses of
// one family this is numeric order. Returns <0, 0 or >0.
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// True when start <= addr <= end and all three have the same length (family).
export function inRange(addr: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  if (addr.length !== start.length || addr.length !== end.length) return false;
  return compareBytes(start, addr) <= 0 && compareBytes(addr, end) <= 0;
}
