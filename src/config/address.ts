// Address and port notation of the config file: single addresses, prefixes
// ("10.1.0.0/24"), ranges ("10.1.0.1-10.1.0.9"), and "any". Addresses are returned in the
// canonical form the ipsec layer keeps (src/ipsec/types.ts AddressRange): IPv4 dotted
// quad, IPv6 per RFC 5952 (lower case, longest zero run compressed, no leading zeros).

import { echo } from './errors.js';
import type { AddressRange } from '../ipsec/types.js';
import { compareBytes, formatIp, parseIp } from '../wire/address.js';

export type Family = 4 | 6;

export interface ParsedAddress {
  readonly family: Family;
  readonly bytes: Uint8Array; // 4 or 16 bytes, network order
}

// The wire layer owns address text (one canonical form for config, engine and logs).
export function parseAddress(text: string): ParsedAddress | undefined {
  try {
    const bytes = parseIp(text);
    return { family: bytes.length === 4 ? 4 : 6, bytes };
  } catch {
    return undefined; // DecodeError: not an address
  }
}

export function formatAddress(a: ParsedAddress): string {
  return formatIp(a.bytes);
}

export function canonicalAddress(text: string): string | undefined {
  const a = parseAddress(text);
  return a === undefined ? undefined : formatAddress(a);
}

export function addressFamily(text: string): Family | undefined {
  return parseAddress(text)?.family;
}

// "any" -> undefined (ANY); otherwise a range, or an error message.
export function parseAddressSpec(text: string): { range: AddressRange | undefined; family: Family | undefined } | string {
  const t = text.trim();
  if (t === 'any' || t === '*') return { range: undefined, family: undefined };
  const slash = t.indexOf('/');
  if (slash >= 0) {
    const base = parseAddress(t.slice(0, slash));
    const lenText = t.slice(slash + 1);
    if (base === undefined || !/^\d{1,3}$/.test(lenText)) return `expected a prefix like 10.1.0.0/24 or 2001:db8::/64, got ${echo(t)}`;
    const bits = base.bytes.length * 8;
    const len = Number(lenText);
    if (len > bits) return `prefix length ${len} is longer than ${bits} bits`;
    const start = new Uint8Array(base.bytes);
    const end = new Uint8Array(base.bytes);
    for (let bit = len; bit < bits; bit++) {
      const byte = bit >> 3;
      const mask = 0x80 >> (bit & 7);
      start[byte]! &= ~mask;
      end[byte]! |= mask;
    }
    if (compareBytes(start, base.bytes) !== 0) {
      return `${echo(t)} has host bits set; did you mean ${formatAddress({ family: base.family, bytes: start })}/${len}?`;
    }
    return {
      range: { start: formatAddress({ family: base.family, bytes: start }), end: formatAddress({ family: base.family, bytes: end }) },
      family: base.family,
    };
  }
  const dash = t.indexOf('-');
  if (dash >= 0) {
    const a = parseAddress(t.slice(0, dash).trim());
    const b = parseAddress(t.slice(dash + 1).trim());
    if (a === undefined || b === undefined) return `expected a range like 10.1.0.1-10.1.0.9, got ${echo(t)}`;
    if (a.family !== b.family) return `range ${echo(t)} mixes IPv4 and IPv6`;
    if (compareBytes(a.bytes, b.bytes) > 0) return `range ${echo(t)} starts after it ends`;
    return { range: { start: formatAddress(a), end: formatAddress(b) }, family: a.family };
  }
  const single = parseAddress(t);
  if (single === undefined) return `expected an address, prefix (a.b.c.d/n), range (a-b) or "any", got ${echo(t)}`;
  const s = formatAddress(single);
  return { range: { start: s, end: s }, family: single.family };
}

export interface PortRange {
  readonly start: number;
  readonly end: number;
}

// 80, "80", "1000-2000", "any" -> range (undefined for any) or an error message.
export function parsePortSpec(value: number | string, max = 65535): PortRange | undefined | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > max) return `expected an integer 0-${max}, got ${value}`;
    return { start: value, end: value };
  }
  const t = value.trim();
  if (t === 'any' || t === '*') return undefined;
  const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(t);
  if (m === null) return `expected a port, a range like "1000-2000" or "any", got ${echo(t)}`;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > max || end > max) return `ports go up to ${max}, got ${echo(t)}`;
  if (start > end) return `range ${echo(t)} starts after it ends`;
  return { start, end };
}
