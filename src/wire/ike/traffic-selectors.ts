// Traffic Selector payloads TSi/TSr, RFC 7296 §3.13:
//
//   payload   Number of TSs | RESERVED (3) | Traffic Selectors
//   selector  TS Type | IP Protocol ID | Selector Length (2) | Start Port (2) |
//             End Port (2) | Starting Address | Ending Address        (§3.13.1)
//
// TS_IPV4_ADDR_RANGE has 4-byte addresses (Selector Length 16), TS_IPV6_ADDR_RANGE
// 16-byte ones (length 40); other TS types are kept as bytes so that the core can answer
// TS_UNACCEPTABLE (TS_FC_ADDR_RANGE, RFC 4595, must still have its 16 bytes). Ports: start <= end, except start 65535 / end 0, which means OPAQUE
// (§3.13.1). The number of selectors must match and be at least one.
import { formatIp, parseIp } from '../address.js';
import { TsType } from './constants.js';
import { bad, field, hidden, isBytes, items, reserved, struct, uint, type Field } from './codec.js';
import type { TrafficSelector, TsPayload } from './types.js';

const TS_HEADER_BYTES = 4;
const RANGE_BYTES = { ipv4: 16, ipv6: 40 } as const;
const FC_RANGE_BYTES = 16; // RFC 4595 §4.2.3: TS_FC_ADDR_RANGE has a fixed layout
const OPAQUE_START = 0xffff;
const OPAQUE_END = 0;

function portsProblem(start: number, end: number): string | null {
  if (start <= end || (start === OPAQUE_START && end === OPAQUE_END)) return null;
  return `start port ${start} > end port ${end} (only 65535..0, OPAQUE, may be reversed)`;
}

function address(name: string, text: unknown, bytes: 4 | 16): Uint8Array {
  let b: Uint8Array | undefined;
  try {
    b = typeof text === 'string' ? parseIp(text) : undefined;
  } catch {
    b = undefined;
  }
  if (b === undefined || b.length !== bytes) bad(name, text, `not an ${bytes === 4 ? 'IPv4' : 'IPv6'} address`);
  return b;
}

function checkU(name: string, v: unknown, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(name, v, `must be an integer 0..${max}`);
}

const selector: Field<TrafficSelector> = {
  write(w, ts, name) {
    if (typeof ts !== 'object' || ts === null) bad(name, ts, 'must be an object');
    if (ts.type === 'other') {
      checkU(`${name}.tsType`, ts.tsType, 0xff);
      if (ts.tsType === TsType.IPV4_ADDR_RANGE || ts.tsType === TsType.IPV6_ADDR_RANGE) bad(`${name}.tsType`, ts.tsType, 'has its own variant');
      checkU(`${name}.ipProtocol`, ts.ipProtocol, 0xff);
      if (!isBytes(ts.data) || ts.data.length > 0xffff - TS_HEADER_BYTES) bad(`${name}.data`, ts.data, 'must be at most 65531 bytes');
      if (ts.tsType === TsType.FC_ADDR_RANGE && ts.data.length !== FC_RANGE_BYTES - TS_HEADER_BYTES) bad(`${name}.data`, ts.data, 'a TS_FC_ADDR_RANGE has 12 bytes after its header');
      w.u8(ts.tsType);
      w.u8(ts.ipProtocol);
      w.u16(TS_HEADER_BYTES + ts.data.length);
      w.bytes(ts.data);
      return;
    }
    if (ts.type !== 'ipv4' && ts.type !== 'ipv6') bad(`${name}.type`, (ts as { type: unknown }).type, "must be 'ipv4', 'ipv6' or 'other'");
    checkU(`${name}.ipProtocol`, ts.ipProtocol, 0xff);
    checkU(`${name}.startPort`, ts.startPort, 0xffff);
    checkU(`${name}.endPort`, ts.endPort, 0xffff);
    const problem = portsProblem(ts.startPort, ts.endPort);
    if (problem !== null) throw new RangeError(`${name}: ${problem}`);
    const size = ts.type === 'ipv4' ? 4 : 16;
    const start = address(`${name}.startAddress`, ts.startAddress, size);
    const end = address(`${name}.endAddress`, ts.endAddress, size);
    w.u8(ts.type === 'ipv4' ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE);
    w.u8(ts.ipProtocol);
    w.u16(RANGE_BYTES[ts.type]);
    w.u16(ts.startPort);
    w.u16(ts.endPort);
    w.bytes(start);
    w.bytes(end);
  },
  read(r, name) {
    const tsType = r.u8(`${name} type`);
    const ipProtocol = r.u8(`${name} protocol`);
    const len = r.u16(`${name} length`);
    if (len < TS_HEADER_BYTES) r.fail('bad-length', `${name} length ${len} < ${TS_HEADER_BYTES}`);
    const sub = r.sub(len - TS_HEADER_BYTES, name);
    if (tsType !== TsType.IPV4_ADDR_RANGE && tsType !== TsType.IPV6_ADDR_RANGE) {
      if (tsType === TsType.FC_ADDR_RANGE && len !== FC_RANGE_BYTES) r.fail('bad-length', `${name}: a TS_FC_ADDR_RANGE is ${FC_RANGE_BYTES} bytes, not ${len}`);
      return { type: 'other', tsType, ipProtocol, data: sub.copy(sub.left, `${name} data`) };
    }
    const type = tsType === TsType.IPV4_ADDR_RANGE ? 'ipv4' : 'ipv6';
    if (len !== RANGE_BYTES[type]) r.fail('bad-length', `${name}: a ${type === 'ipv4' ? 'TS_IPV4_ADDR_RANGE' : 'TS_IPV6_ADDR_RANGE'} is ${RANGE_BYTES[type]} bytes, not ${len}`);
    const startPort = sub.u16(`${name} start port`);
    const endPort = sub.u16(`${name} end port`);
    const problem = portsProblem(startPort, endPort);
    if (problem !== null) r.fail('bad-value', `${name}: ${problem}`);
    const size = type === 'ipv4' ? 4 : 16;
    const startAddress = formatIp(sub.view(size, `${name} start address`));
    const endAddress = formatIp(sub.view(size, `${name} end address`));
    return { type, ipProtocol, startPort, endPort, startAddress, endAddress };
  },
};

export const tsBody: Field<Omit<TsPayload, 'kind'>> = struct<Omit<TsPayload, 'kind'>>([
  hidden<Omit<TsPayload, 'kind'>>('count', uint(1, 1, 255), (v) => (Array.isArray(v.selectors) ? v.selectors.length : 0)),
  reserved(3),
  field('selectors', items(selector, { min: 1, max: 255, countKey: 'count' })),
]);
