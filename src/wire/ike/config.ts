// The Configuration payload, RFC 7296 §3.15:
//
//   payload    CFG Type | RESERVED (3) | Configuration Attributes
//   attribute  R (1 bit) | Attribute Type (15 bits) | Length (2) | Value    (§3.15.1)
//
// The R bit "MUST be set to zero and MUST be ignored on receipt". Attribute values must
// have a length their type allows (§3.15.1 table): empty (a request for a value) or the
// one size of the type; unknown types are kept as bytes. cpValue()/cpAttribute() give the
// typed view.
import { formatIp, parseIp } from '../address.js';
import { DecodeError } from '../errors.js';
import { CpAttributeType } from './constants.js';
import { bad, field, isBytes, items, reserved, struct, uint, type Field } from './codec.js';
import type { CpAttribute, CpPayload } from './types.js';

const ascii = new TextDecoder();

export type CpFormat = 'ip4' | 'ip6' | 'ip4-subnet' | 'ip6-prefix' | 'types' | 'text' | 'raw';

// Value sizes besides 0 (RFC 7296 §3.15.1; RFC 7651 for P-CSCF).
const FORMATS: ReadonlyMap<number, CpFormat> = new Map<number, CpFormat>([
  [CpAttributeType.INTERNAL_IP4_ADDRESS, 'ip4'],
  [CpAttributeType.INTERNAL_IP4_NETMASK, 'ip4'],
  [CpAttributeType.INTERNAL_IP4_DNS, 'ip4'],
  [CpAttributeType.INTERNAL_IP4_NBNS, 'ip4'],
  [CpAttributeType.INTERNAL_IP4_DHCP, 'ip4'],
  [CpAttributeType.APPLICATION_VERSION, 'text'],
  [CpAttributeType.INTERNAL_IP6_ADDRESS, 'ip6-prefix'],
  [CpAttributeType.INTERNAL_IP6_DNS, 'ip6'],
  [CpAttributeType.INTERNAL_IP6_DHCP, 'ip6'],
  [CpAttributeType.INTERNAL_IP4_SUBNET, 'ip4-subnet'],
  [CpAttributeType.SUPPORTED_ATTRIBUTES, 'types'],
  [CpAttributeType.INTERNAL_IP6_SUBNET, 'ip6-prefix'],
  [CpAttributeType.P_CSCF_IP4_ADDRESS, 'ip4'],
  [CpAttributeType.P_CSCF_IP6_ADDRESS, 'ip6'],
]);

const SIZE: Readonly<Record<Exclude<CpFormat, 'types' | 'text' | 'raw'>, number>> = {
  ip4: 4,
  ip6: 16,
  'ip4-subnet': 8,
  'ip6-prefix': 17,
};

export function cpFormatOf(type: number): CpFormat {
  return FORMATS.get(type) ?? 'raw';
}

function valueProblem(type: number, value: Uint8Array): string | null {
  const format = cpFormatOf(type);
  const n = value.length;
  if (format === 'raw') return null;
  if (format === 'types') return n % 2 === 0 ? null : `SUPPORTED_ATTRIBUTES has an even length, not ${n}`;
  if (format === 'text') {
    // "a string of printable ASCII characters that is NOT null terminated"
    for (const c of value) if (c < 0x20 || c > 0x7e) return `APPLICATION_VERSION is printable ASCII, not byte 0x${c.toString(16)}`;
    return null;
  }
  if (n !== 0 && n !== SIZE[format]) return `attribute ${type} has 0 or ${SIZE[format]} bytes, not ${n}`;
  if (format === 'ip6-prefix' && n === 17 && value[16]! > 128) return `attribute ${type} prefix length ${value[16]} > 128`;
  return null;
}

const attribute: Field<CpAttribute> = {
  write(w, a, name) {
    if (typeof a !== 'object' || a === null) bad(name, a, 'must be an object');
    if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0x7fff) bad(`${name}.type`, a.type, 'must be an integer 0..32767');
    if (!isBytes(a.value) || a.value.length > 0xffff) bad(`${name}.value`, a.value, 'must be at most 65535 bytes');
    const problem = valueProblem(a.type, a.value);
    if (problem !== null) throw new RangeError(`${name}: ${problem}`);
    w.u16(a.type);
    w.u16(a.value.length);
    w.bytes(a.value);
  },
  read(r, name) {
    const type = r.u16(`${name} type`) & 0x7fff; // R bit ignored on receipt
    const len = r.u16(`${name} length`);
    const value = r.copy(len, `${name} value`);
    const problem = valueProblem(type, value);
    if (problem !== null) r.fail('bad-value', `${name}: ${problem}`);
    return { type, value };
  },
};

export const cpBody: Field<Omit<CpPayload, 'kind'>> = struct<Omit<CpPayload, 'kind'>>([
  field('cfgType', uint(1, 1, 255)), // 0 is reserved
  reserved(3),
  field('attributes', items(attribute)),
]);

// ------------------------------------------------------------------------- typed values

export type CpValue =
  | { readonly format: 'empty' } // a request for a value (any type but SUPPORTED_ATTRIBUTES / raw ones)
  | { readonly format: 'ip4' | 'ip6'; readonly address: string }
  | { readonly format: 'ip4-subnet'; readonly address: string; readonly netmask: string }
  | { readonly format: 'ip6-prefix'; readonly address: string; readonly prefixLength: number }
  | { readonly format: 'types'; readonly types: readonly number[] }
  | { readonly format: 'text'; readonly text: string }
  | { readonly format: 'raw'; readonly data: Uint8Array };

// The typed value of a decoded attribute (DecodeError if its length does not fit the type).
export function cpValue(a: CpAttribute): CpValue {
  const problem = valueProblem(a.type, a.value);
  if (problem !== null) throw new DecodeError('ike-cp', 'bad-value', problem);
  const format = cpFormatOf(a.type);
  const v = a.value;
  if (format === 'raw') return { format, data: v };
  if (format === 'text') return { format, text: ascii.decode(v) }; // printable ASCII, checked above
  if (format === 'types') {
    const types: number[] = [];
    for (let i = 0; i < v.length; i += 2) types.push(((v[i]! << 8) | v[i + 1]!) & 0x7fff);
    return { format, types };
  }
  if (v.length === 0) return { format: 'empty' };
  if (format === 'ip4' || format === 'ip6') return { format, address: formatIp(v) };
  if (format === 'ip4-subnet') return { format, address: formatIp(v.subarray(0, 4)), netmask: formatIp(v.subarray(4, 8)) };
  return { format, address: formatIp(v.subarray(0, 16)), prefixLength: v[16]! };
}

function addressBytes(name: string, text: unknown, size: 4 | 16): Uint8Array {
  let b: Uint8Array | undefined;
  try {
    b = typeof text === 'string' ? parseIp(text) : undefined;
  } catch {
    b = undefined;
  }
  if (b === undefined || b.length !== size) bad(name, text, `not an ${size === 4 ? 'IPv4' : 'IPv6'} address`);
  return b;
}

// An attribute of `type` holding `value`; RangeError when the value's format is not the
// type's (e.g. an IPv6 address for INTERNAL_IP4_DNS).
export function cpAttribute(type: number, value: CpValue): CpAttribute {
  const format = cpFormatOf(type);
  const name = `cp attribute ${type}`;
  if (value.format === 'empty') {
    if (format === 'raw' || format === 'types' || format === 'text') bad(name, 'empty', `an empty value is written as format '${format}'`);
    return { type, value: new Uint8Array(0) };
  }
  if (value.format !== format) bad(name, value.format, `attribute ${type} takes format '${format}'`);
  let bytes: Uint8Array;
  switch (value.format) {
    case 'raw':
      bytes = new Uint8Array(value.data);
      break;
    case 'text':
      if (typeof value.text !== 'string') bad(`${name} text`, value.text, 'must be a string');
      bytes = Uint8Array.from(value.text, (ch) => ch.charCodeAt(0));
      if (bytes.length !== value.text.length || valueProblem(type, bytes) !== null || value.text.length > 0xffff) bad(`${name} text`, value.text, 'must be printable ASCII');
      break;
    case 'types':
      bytes = new Uint8Array(value.types.length * 2);
      value.types.forEach((t, i) => {
        if (!Number.isInteger(t) || t < 0 || t > 0x7fff) bad(`${name} types[${i}]`, t, 'must be 0..32767');
        bytes[2 * i] = t >> 8;
        bytes[2 * i + 1] = t & 0xff;
      });
      break;
    case 'ip4':
    case 'ip6':
      bytes = addressBytes(`${name} address`, value.address, value.format === 'ip4' ? 4 : 16);
      break;
    case 'ip4-subnet':
      bytes = new Uint8Array(8);
      bytes.set(addressBytes(`${name} address`, value.address, 4), 0);
      bytes.set(addressBytes(`${name} netmask`, value.netmask, 4), 4);
      break;
    case 'ip6-prefix':
      if (!Number.isInteger(value.prefixLength) || value.prefixLength < 0 || value.prefixLength > 128) {
        bad(`${name} prefixLength`, value.prefixLength, 'must be 0..128');
      }
      bytes = new Uint8Array(17);
      bytes.set(addressBytes(`${name} address`, value.address, 16), 0);
      bytes[16] = value.prefixLength;
      break;
  }
  return { type, value: bytes };
}
