// One description per payload type (RFC 7296 §3.3-3.16, RFC 7383 §2.5): the type number
// and the body codec after the 4-byte generic payload header. chain.ts walks the headers;
// these descriptions drive both encoding and decoding of the bodies.
//
//   KE      DH Group Num (2) | RESERVED (2) | Key Exchange Data            §3.4
//   CERT    Cert Encoding | Certificate Data                              §3.6
//   CERTREQ Cert Encoding | Certification Authority (20-byte SHA-1 hashes) §3.7
//   AUTH    Auth Method | RESERVED (3) | Authentication Data              §3.8
//   Nonce   Nonce Data (16..256 octets)                                   §3.9
//   Delete  Protocol ID | SPI Size | Num of SPIs (2) | SPIs               §3.11
//   V       Vendor ID                                                     §3.12
//   SK      IV | encrypted payloads | padding | pad length | ICV (opaque)  §3.14
//   SKF     Fragment Number (2) | Total Fragments (2) | as SK (opaque)    RFC 7383 §2.5
//   EAP     EAP message (RFC 3748: Code | Identifier | Length (2) | ...)  §3.16
import { PayloadType, ProtocolId } from './constants.js';
import {
  field,
  hidden,
  isBytes,
  items,
  reserved,
  restBytes,
  sizedBytes,
  struct,
  u16,
  uint,
  type Field,
} from './codec.js';
import { cpBody } from './config.js';
import { idBody } from './identity.js';
import { notifyBody } from './notify.js';
import { saBody } from './sa.js';
import { tsBody } from './traffic-selectors.js';
import type {
  AuthPayload,
  CertPayload,
  CertReqPayload,
  DeletePayload,
  EapPayload,
  IkePayloadKind,
  KePayload,
  NoncePayload,
  SkfPayload,
  SkPayload,
  VendorIdPayload,
} from './types.js';

export const NONCE_MIN_BYTES = 16; // RFC 7296 §3.9
export const NONCE_MAX_BYTES = 256;
export const CA_HASH_BYTES = 20; // SHA-1 of a CA's SubjectPublicKeyInfo (RFC 7296 §3.7)
const EAP_HEADER_BYTES = 4;

type Body<P> = Omit<P, 'kind'>;

const keBody = struct<Body<KePayload>>([field('group', u16), reserved(2), field('data', restBytes(1))]);

const certBody = struct<Body<CertPayload>>([field('encoding', uint(1)), field('data', restBytes(1))]);

// RFC 7296 §3.7: "The Certification Authority value is a concatenated list of SHA-1 hashes
// of the public keys of trusted Certification Authorities" (tshark reads every encoding so).
const certReqBody = struct<Body<CertReqPayload>>([field('encoding', uint(1)), field('authorities', restBytes())], (c) =>
  isBytes(c.authorities) && c.authorities.length % CA_HASH_BYTES !== 0
    ? `certification authorities are 20-byte SHA-1 hashes, ${c.authorities.length} bytes is not a multiple of 20`
    : null,
);

const authBody = struct<Body<AuthPayload>>([field('method', uint(1)), reserved(3), field('data', restBytes(1))]);

const nonceBody = struct<Body<NoncePayload>>([field('nonce', restBytes(NONCE_MIN_BYTES, NONCE_MAX_BYTES))]);

const spiItem: Field<Uint8Array> = sizedBytes('spiSize');

const deleteBody = struct<Body<DeletePayload>>(
  [
    field('protocolId', uint(1, ProtocolId.IKE, ProtocolId.ESP)),
    hidden<Body<DeletePayload>>('spiSize', uint(1), (d) => (d.protocolId === ProtocolId.IKE ? 0 : 4)),
    hidden<Body<DeletePayload>>('count', u16, (d) => (Array.isArray(d.spis) ? d.spis.length : 0)),
    field('spis', items(spiItem, { countKey: 'count' })),
  ],
  // RFC 7296 §3.11: "It MUST be zero for IKE (SPI is in message header) or four for AH and
  // ESP"; deleting the IKE SA carries no SPIs.
  (d) => {
    if (!Array.isArray(d.spis)) return 'spis must be an array';
    const size = d.protocolId === ProtocolId.IKE ? 0 : 4;
    const wrong = d.spis.find((s) => !isBytes(s) || s.length !== size);
    if (d.protocolId === ProtocolId.IKE && d.spis.length > 0) return 'an IKE SA delete carries no SPIs';
    return wrong === undefined ? null : `${d.protocolId === ProtocolId.IKE ? 'IKE' : 'AH/ESP'} SPIs have ${size} bytes`;
  },
);

const vendorBody = struct<Body<VendorIdPayload>>([field('data', restBytes())]);

const eapBody = struct<Body<EapPayload>>([field('message', restBytes(EAP_HEADER_BYTES))], (e) =>
  isBytes(e.message) && e.message.length >= EAP_HEADER_BYTES && ((e.message[2]! << 8) | e.message[3]!) !== e.message.length
    ? `the EAP Length field says ${(e.message[2]! << 8) | e.message[3]!}, the message has ${e.message.length} bytes`
    : null,
);

// The Next Payload of SK/SKF is theirs (the first inner payload); chain.ts handles it.
const skBody = struct<Omit<SkPayload, 'kind' | 'nextPayload'>>([field('body', restBytes())]);

const skfBody = struct<Omit<SkfPayload, 'kind' | 'nextPayload'>>(
  [field('fragmentNumber', uint(2, 1)), field('totalFragments', uint(2, 1)), field('body', restBytes())],
  // RFC 7383 §2.5: numbered from 1, "MUST be less than or equal to Total Fragments".
  (f) => (f.fragmentNumber > f.totalFragments ? `fragment ${f.fragmentNumber} of ${f.totalFragments}` : null),
);

export type KnownPayloadKind = Exclude<IkePayloadKind, 'unknown'>;

export interface PayloadDescription {
  readonly kind: KnownPayloadKind;
  readonly type: number;
  readonly name: string; // RFC 7296 notation
  readonly body: Field<object>; // the payload without `kind` (and, for SK/SKF, `nextPayload`)
}

function describe<T extends object>(kind: KnownPayloadKind, type: number, name: string, body: Field<T>): PayloadDescription {
  return { kind, type, name, body: body as unknown as Field<object> };
}

export const PAYLOADS: { readonly [K in KnownPayloadKind]: PayloadDescription } = {
  sa: describe('sa', PayloadType.SA, 'SA', saBody),
  ke: describe('ke', PayloadType.KE, 'KE', keBody),
  idi: describe('idi', PayloadType.IDI, 'IDi', idBody),
  idr: describe('idr', PayloadType.IDR, 'IDr', idBody),
  cert: describe('cert', PayloadType.CERT, 'CERT', certBody),
  certreq: describe('certreq', PayloadType.CERTREQ, 'CERTREQ', certReqBody),
  auth: describe('auth', PayloadType.AUTH, 'AUTH', authBody),
  nonce: describe('nonce', PayloadType.NONCE, 'Ni/Nr', nonceBody),
  notify: describe('notify', PayloadType.NOTIFY, 'N', notifyBody),
  delete: describe('delete', PayloadType.DELETE, 'D', deleteBody),
  vendor: describe('vendor', PayloadType.VENDOR_ID, 'V', vendorBody),
  tsi: describe('tsi', PayloadType.TSI, 'TSi', tsBody),
  tsr: describe('tsr', PayloadType.TSR, 'TSr', tsBody),
  sk: describe('sk', PayloadType.SK, 'SK', skBody),
  skf: describe('skf', PayloadType.SKF, 'SKF', skfBody),
  cp: describe('cp', PayloadType.CP, 'CP', cpBody),
  eap: describe('eap', PayloadType.EAP, 'EAP', eapBody),
};

const BY_TYPE: ReadonlyMap<number, PayloadDescription> = new Map(Object.values(PAYLOADS).map((d) => [d.type, d]));

export function descriptionOfType(type: number): PayloadDescription | undefined {
  return BY_TYPE.get(type);
}

export function isKnownPayloadType(type: number): boolean {
  return BY_TYPE.has(type);
}

// The 20-byte CA hashes of a CERTREQ (RFC 7296 §3.7).
export function caHashes(p: CertReqPayload): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i + CA_HASH_BYTES <= p.authorities.length; i += CA_HASH_BYTES) out.push(new Uint8Array(p.authorities.subarray(i, i + CA_HASH_BYTES)));
  return out;
}
