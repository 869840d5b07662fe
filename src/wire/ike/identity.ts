// Identification payloads IDi/IDr, RFC 7296 §3.5:
//
//   ID Type | RESERVED (3) | Identification Data
//
// Typed by ID Type: ID_IPV4_ADDR (4 bytes) and ID_IPV6_ADDR (16 bytes) as canonical text;
// ID_FQDN as ASCII "MUST NOT contain any terminators (e.g., NULL, CR, etc.)" (printable
// ASCII is accepted); ID_RFC822_ADDR as UTF-8 ("implementations would be wise to treat
// this field as UTF-8 encoded text") without control characters; ID_DER_ASN1_DN,
// ID_DER_ASN1_GN and ID_KEY_ID as non-empty bytes; any other type as raw bytes.
import { formatIp, parseIp } from '../address.js';
import { IdType } from './constants.js';
import { bad, field, isBytes, mapped, reserved, restBytes, struct, uint, type Field } from './codec.js';
import type { IdPayload, IkeIdentity } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

const TYPED: ReadonlySet<number> = new Set([
  IdType.IPV4_ADDR,
  IdType.IPV6_ADDR,
  IdType.FQDN,
  IdType.RFC822_ADDR,
  IdType.DER_ASN1_DN,
  IdType.DER_ASN1_GN,
  IdType.KEY_ID,
]);

// Printable ASCII: no NUL, CR, LF or other control characters, nothing above 0x7e.
function fqdnProblem(b: Uint8Array): string | null {
  if (b.length === 0) return 'an ID_FQDN is not empty';
  for (const c of b) if (c < 0x20 || c > 0x7e) return `an ID_FQDN is printable ASCII, not byte 0x${c.toString(16)}`;
  return null;
}

function rfc822Problem(text: string, bytes: number): string | null {
  if (bytes === 0) return 'an ID_RFC822_ADDR is not empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(text)) return 'an ID_RFC822_ADDR has no control characters';
  return null;
}

interface WireId {
  readonly idType: number;
  readonly data: Uint8Array;
}

function toWire(id: IkeIdentity, name: string): WireId {
  if (typeof id !== 'object' || id === null) bad(name, id, 'must be an object');
  switch (id.type) {
    case 'ipv4':
    case 'ipv6': {
      let b: Uint8Array | undefined;
      try {
        b = parseIp(id.address);
      } catch {
        b = undefined;
      }
      if (b === undefined || b.length !== (id.type === 'ipv4' ? 4 : 16)) bad(`${name}.address`, id.address, `not an ${id.type === 'ipv4' ? 'IPv4' : 'IPv6'} address`);
      return { idType: id.type === 'ipv4' ? IdType.IPV4_ADDR : IdType.IPV6_ADDR, data: b };
    }
    case 'fqdn': {
      if (typeof id.value !== 'string') bad(`${name}.value`, id.value, 'must be a string');
      const b = encoder.encode(id.value);
      const problem = fqdnProblem(b);
      if (problem !== null) bad(`${name}.value`, id.value, problem);
      return { idType: IdType.FQDN, data: b };
    }
    case 'rfc822': {
      if (typeof id.value !== 'string') bad(`${name}.value`, id.value, 'must be a string');
      const b = encoder.encode(id.value);
      // Lone surrogates would become U+FFFD and not come back as they went.
      if (utf8.decode(b) !== id.value) bad(`${name}.value`, id.value, 'must be well-formed Unicode');
      const problem = rfc822Problem(id.value, b.length);
      if (problem !== null) bad(`${name}.value`, id.value, problem);
      return { idType: IdType.RFC822_ADDR, data: b };
    }
    case 'der-asn1-dn':
    case 'der-asn1-gn':
    case 'key-id': {
      if (!isBytes(id.data) || id.data.length === 0) bad(`${name}.data`, id.data, 'must be a non-empty Uint8Array');
      const idType = id.type === 'der-asn1-dn' ? IdType.DER_ASN1_DN : id.type === 'der-asn1-gn' ? IdType.DER_ASN1_GN : IdType.KEY_ID;
      return { idType, data: id.data };
    }
    case 'other':
      if (!Number.isInteger(id.idType) || id.idType < 0 || id.idType > 255) bad(`${name}.idType`, id.idType, 'must be 0..255');
      if (TYPED.has(id.idType)) bad(`${name}.idType`, id.idType, 'has its own variant of IkeIdentity');
      if (!isBytes(id.data)) bad(`${name}.data`, id.data, 'must be a Uint8Array');
      return { idType: id.idType, data: id.data };
    default:
      return bad(`${name}.type`, (id as { type: unknown }).type, 'unknown identity type');
  }
}

function fromWire(w: WireId, fail: (why: string) => never): IkeIdentity {
  const { idType, data } = w;
  switch (idType) {
    case IdType.IPV4_ADDR:
    case IdType.IPV6_ADDR: {
      const want = idType === IdType.IPV4_ADDR ? 4 : 16;
      if (data.length !== want) fail(`an ID_IPV${want === 4 ? 4 : 6}_ADDR has ${want} bytes, not ${data.length}`);
      return { type: want === 4 ? 'ipv4' : 'ipv6', address: formatIp(data) };
    }
    case IdType.FQDN: {
      const problem = fqdnProblem(data);
      if (problem !== null) fail(problem);
      return { type: 'fqdn', value: utf8.decode(data) }; // ASCII, checked above
    }
    case IdType.RFC822_ADDR: {
      let text: string;
      try {
        text = utf8.decode(data);
      } catch {
        return fail('an ID_RFC822_ADDR is UTF-8 text');
      }
      const problem = rfc822Problem(text, data.length);
      if (problem !== null) fail(problem);
      return { type: 'rfc822', value: text };
    }
    case IdType.DER_ASN1_DN:
    case IdType.DER_ASN1_GN:
    case IdType.KEY_ID:
      if (data.length === 0) fail('empty identification data');
      return { type: idType === IdType.DER_ASN1_DN ? 'der-asn1-dn' : idType === IdType.DER_ASN1_GN ? 'der-asn1-gn' : 'key-id', data };
    default:
      return { type: 'other', idType, data };
  }
}

const identity: Field<IkeIdentity> = mapped(
  struct<WireId>([field('idType', uint(1)), reserved(3), field('data', restBytes())]),
  toWire,
  fromWire,
);

export const idBody: Field<Omit<IdPayload, 'kind'>> = struct<Omit<IdPayload, 'kind'>>([field('id', identity)]);

// The ID Type number an identity is sent with.
export function idTypeOf(id: IkeIdentity): number {
  return toWire(id, 'identity').idType;
}
