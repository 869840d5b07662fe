// Address ranges -> the fewest CIDR prefixes that cover exactly that range. The SPD
// (RFC 4301 §4.4.1.1) allows arbitrary ranges; the kernel routing table takes prefixes.

import { formatIp, parseIp } from '../wire/address.js';

function toBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBigInt(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export interface RoutePrefix {
  readonly address: string; // network address, canonical text
  readonly length: number;
  readonly version: 4 | 6;
}

export function formatPrefix(p: RoutePrefix): string {
  return `${p.address}/${p.length}`;
}

// Throws the wire layer's DecodeError for malformed addresses and RangeError when the
// two ends are of different families or reversed.
export function rangeToPrefixes(startText: string, endText: string): RoutePrefix[] {
  const startBytes = parseIp(startText);
  const endBytes = parseIp(endText);
  if (startBytes.length !== endBytes.length) {
    throw new RangeError(`range ${startText}-${endText} mixes IPv4 and IPv6`);
  }
  const bits = startBytes.length * 8;
  const version = bits === 32 ? 4 : 6;
  let s = toBigInt(startBytes);
  const e = toBigInt(endBytes);
  if (s > e) throw new RangeError(`range ${startText}-${endText} ends before it starts`);
  const out: RoutePrefix[] = [];
  while (s <= e) {
    // The largest block that starts at s (aligned) and does not pass e.
    let size = 1n;
    let length = bits;
    while (length > 0) {
      const next = size << 1n;
      if (s % next !== 0n || s + next - 1n > e) break;
      size = next;
      length--;
    }
    out.push({ address: formatIp(fromBigInt(s, startBytes.length)), length, version });
    s += size;
  }
  return out;
}

// True when addr lies inside prefix p.
export function prefixContains(p: RoutePrefix, addr: string): boolean {
  const a = parseIp(addr);
  const n = parseIp(p.address);
  if (a.length !== n.length) return false;
  const bits = a.length * 8;
  const shift = BigInt(bits - p.length);
  return toBigInt(a) >> shift === toBigInt(n) >> shift;
}
