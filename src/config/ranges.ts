// Arithmetic on the address and port ranges of selectors (src/ipsec/types.ts), for the
// cross-field checks of the agent config: joining a list of prefixes into one range, and
// telling whether two selectors can match the same packet.

import type { AddressRange, TrafficSelector } from '../ipsec/types.js';
import { compareBytes, formatIp, parseIp } from '../wire/address.js';

interface ByteRange {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
}

function bytesOf(r: AddressRange): ByteRange {
  return { start: parseIp(r.start), end: parseIp(r.end) };
}

// a + 1, or undefined when a is the last address of its family.
function next(a: Uint8Array): Uint8Array | undefined {
  const out = Uint8Array.from(a);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i]! += 1;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

export function rangeFamily(r: AddressRange): 4 | 6 {
  return parseIp(r.start).length === 4 ? 4 : 6;
}

// Both ranges must be canonical (start <= end); ranges of different families never overlap.
export function rangesOverlap(a: AddressRange, b: AddressRange): boolean {
  const x = bytesOf(a);
  const y = bytesOf(b);
  if (x.start.length !== y.start.length) return false;
  return compareBytes(x.start, y.end) <= 0 && compareBytes(y.start, x.end) <= 0;
}

export function rangeContains(outer: AddressRange, inner: AddressRange): boolean {
  const o = bytesOf(outer);
  const i = bytesOf(inner);
  return o.start.length === i.start.length && compareBytes(o.start, i.start) <= 0 && compareBytes(i.end, o.end) <= 0;
}

// Joins ranges of one family that overlap or touch (10.1.0.0/24 + 10.1.1.0/24 =
// 10.1.0.0-10.1.1.255). Returns the joined range, or the index of the first range that
// leaves a gap (the list cannot be one range).
export function joinRanges(list: readonly AddressRange[]): { range: AddressRange } | { gapAt: number } {
  const items = list.map((r, index) => ({ index, ...bytesOf(r) })).sort((a, b) => compareBytes(a.start, b.start));
  const first = items[0];
  if (first === undefined) return { gapAt: 0 };
  let end = first.end;
  for (const it of items.slice(1)) {
    const after = next(end);
    // A gap: this range starts beyond end + 1 (nothing follows the family's last address).
    if (after !== undefined && compareBytes(it.start, after) > 0) return { gapAt: it.index };
    if (compareBytes(it.end, end) > 0) end = it.end;
  }
  return { range: { start: formatIp(first.start), end: formatIp(end) } };
}

function portsOverlap(a: TrafficSelector['localPorts'], b: TrafficSelector['localPorts']): boolean {
  if (a === undefined || b === undefined) return true; // ANY
  return a.start <= b.end && b.start <= a.end;
}

function addressesOverlap(a: AddressRange | undefined, b: AddressRange | undefined): boolean {
  return a === undefined || b === undefined || rangesOverlap(a, b);
}

// Can one packet match both selectors (RFC 4301 §4.4.1: every selector field matches)?
export function selectorsOverlap(a: TrafficSelector, b: TrafficSelector): boolean {
  if (a.protocol !== undefined && b.protocol !== undefined && a.protocol !== b.protocol) return false;
  return (
    addressesOverlap(a.local, b.local) &&
    addressesOverlap(a.remote, b.remote) &&
    portsOverlap(a.localPorts, b.localPorts) &&
    portsOverlap(a.remotePorts, b.remotePorts)
  );
}

// "10.1.0.0/24" when the range is a prefix, "10.1.0.7" for one address, "a-b" otherwise.
export function formatRange(r: AddressRange): string {
  if (r.start === r.end) return r.start;
  const s = parseIp(r.start);
  const e = parseIp(r.end);
  const bits = s.length * 8;
  let len = 0;
  while (len < bits) {
    const byte = len >> 3;
    const mask = 0x80 >> (len & 7);
    if ((s[byte]! & mask) !== (e[byte]! & mask)) break;
    len++;
  }
  for (let bit = len; bit < bits; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((s[byte]! & mask) !== 0 || (e[byte]! & mask) === 0) return `${r.start}-${r.end}`;
  }
  return `${r.start}/${len}`;
}
