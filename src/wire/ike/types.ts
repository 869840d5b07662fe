// Typed values of IKEv2 messages (RFC 7296 §3). Numbers that the protocol leaves open
// (exchange types, transform IDs, notify types, ...) stay numbers: the wire layer decodes
// what is well-formed and the IKE core decides what it accepts. Byte strings are plain
// Uint8Array copies; IP addresses are canonical text (src/wire/address.ts: dotted quad,
// RFC 5952). Optional properties are absent, never `undefined`, in decoded values.

// RFC 7296 §3.1. The Next Payload and Length fields are computed by the encoder.
export interface IkeHeader {
  readonly initiatorSpi: Uint8Array; // 8 bytes
  readonly responderSpi: Uint8Array; // 8 bytes; all zero in the first IKE_SA_INIT request
  readonly exchangeType: number; // ExchangeType
  readonly initiator: boolean; // I flag: sent by the original initiator of the IKE SA
  readonly response: boolean; // R flag
  readonly messageId: number; // uint32
  // Sent as 0 and ignored on receipt (RFC 7296 §3.1); decoded as received, default 0/false.
  readonly higherVersion?: boolean; // V flag
  readonly minorVersion?: number; // 0..15
}

// The header as found on the wire (decodeIkeHeader), before the message is checked.
export interface IkeHeaderInfo extends Required<IkeHeader> {
  readonly majorVersion: number; // 0..15; IKEv2 is 2
  readonly nextPayload: number;
  readonly length: number; // uint32, header and payloads
}

// RFC 7296 §3.3.5. TV format (AF=1) carries a 16-bit number, TLV format (AF=0) bytes.
export interface TransformAttribute {
  readonly type: number; // 0..0x7fff, not KEY_LENGTH (that one is Transform.keyLengthBits)
  readonly value: number | Uint8Array;
}

// RFC 7296 §3.3.2.
export interface Transform {
  readonly type: number; // TransformType
  readonly id: number; // uint16, meaning depends on the type (crypto registry)
  readonly keyLengthBits?: number; // Key Length attribute (TV), RFC 7296 §3.3.5
  readonly attributes?: readonly TransformAttribute[]; // any other attributes, in order
}

// RFC 7296 §3.3.1.
export interface Proposal {
  readonly number: number; // 1..255
  readonly protocolId: number; // ProtocolId: IKE (SPI 0 or 8 bytes), AH/ESP (4 bytes)
  readonly spi: Uint8Array;
  readonly transforms: readonly Transform[]; // at least one
}

export interface SaPayload {
  readonly kind: 'sa';
  readonly proposals: readonly Proposal[]; // at least one; numbered 1, 2, ... or a single one
}

export interface KePayload {
  readonly kind: 'ke';
  readonly group: number; // Key Exchange Method (Transform Type 4 ID)
  readonly data: Uint8Array; // at least one byte
}

// RFC 7296 §3.5 Identification Data, typed.
export type IkeIdentity =
  | { readonly type: 'ipv4'; readonly address: string }
  | { readonly type: 'ipv6'; readonly address: string }
  | { readonly type: 'fqdn'; readonly value: string } // printable ASCII (no terminators)
  | { readonly type: 'rfc822'; readonly value: string } // UTF-8 without control characters
  | { readonly type: 'der-asn1-dn'; readonly data: Uint8Array }
  | { readonly type: 'der-asn1-gn'; readonly data: Uint8Array }
  | { readonly type: 'key-id'; readonly data: Uint8Array }
  | { readonly type: 'other'; readonly idType: number; readonly data: Uint8Array }; // any other ID Type

export interface IdPayload {
  readonly kind: 'idi' | 'idr';
  readonly id: IkeIdentity;
}

export interface CertPayload {
  readonly kind: 'cert';
  readonly encoding: number; // CertEncoding
  readonly data: Uint8Array; // at least one byte
}

// `authorities` is a concatenation of 20-byte SHA-1 hashes of CA SubjectPublicKeyInfo
// (RFC 7296 §3.7), possibly none; see caHashes().
export interface CertReqPayload {
  readonly kind: 'certreq';
  readonly encoding: number;
  readonly authorities: Uint8Array;
}

export interface AuthPayload {
  readonly kind: 'auth';
  readonly method: number; // AuthMethod
  readonly data: Uint8Array; // at least one byte
}

export interface NoncePayload {
  readonly kind: 'nonce';
  readonly nonce: Uint8Array; // 16..256 bytes (RFC 7296 §3.9)
}

// RFC 7296 §3.10. `spi` is empty, or 4 bytes for AH/ESP. With an empty SPI the protocol ID
// "MUST be sent as zero and MUST be ignored on receipt"; it is decoded as received.
export interface NotifyPayload {
  readonly kind: 'notify';
  readonly protocolId: number; // 0..3
  readonly spi: Uint8Array;
  readonly notifyType: number; // NotifyType
  readonly data: Uint8Array; // checked for the types of notify-data.ts
}

// RFC 7296 §3.11: IKE (no SPIs) or AH/ESP (4-byte SPIs).
export interface DeletePayload {
  readonly kind: 'delete';
  readonly protocolId: number; // 1..3
  readonly spis: readonly Uint8Array[];
}

export interface VendorIdPayload {
  readonly kind: 'vendor';
  readonly data: Uint8Array;
}

// RFC 7296 §3.13.1. Ports: start <= end, or start 65535 / end 0 for OPAQUE.
export type TrafficSelector =
  | {
      readonly type: 'ipv4' | 'ipv6';
      readonly ipProtocol: number; // 0 = any
      readonly startPort: number;
      readonly endPort: number;
      readonly startAddress: string;
      readonly endAddress: string;
    }
  // Any other TS Type (e.g. TS_FC_ADDR_RANGE): the octet after the type and the bytes
  // after the Selector Length field, as received.
  | { readonly type: 'other'; readonly tsType: number; readonly ipProtocol: number; readonly data: Uint8Array };

export interface TsPayload {
  readonly kind: 'tsi' | 'tsr';
  readonly selectors: readonly TrafficSelector[]; // 1..255
}

// RFC 7296 §3.14: IV, ciphertext and ICV, opaque here (the SK layer splits them). The body
// is always the last `body.length` bytes of the message; the bytes before it are what the
// ICV / AEAD associated data cover.
export interface SkPayload {
  readonly kind: 'sk';
  readonly nextPayload: number; // type of the first inner payload, 0 when there is none
  readonly body: Uint8Array;
}

// RFC 7383 §2.5 Encrypted Fragment.
export interface SkfPayload {
  readonly kind: 'skf';
  readonly nextPayload: number; // first inner payload type in fragment 1, 0 in the others
  readonly fragmentNumber: number; // 1..totalFragments
  readonly totalFragments: number; // 1..65535
  readonly body: Uint8Array;
}

// RFC 7296 §3.15.1: `value` is empty (a request) or of the length the type defines; see
// cp-attributes.ts for typed values.
export interface CpAttribute {
  readonly type: number; // 0..0x7fff
  readonly value: Uint8Array;
}

export interface CpPayload {
  readonly kind: 'cp';
  readonly cfgType: number; // CfgType
  readonly attributes: readonly CpAttribute[];
}

// RFC 7296 §3.16: an EAP message (RFC 3748), kept whole.
export interface EapPayload {
  readonly kind: 'eap';
  readonly message: Uint8Array;
}

// A payload type this codec does not understand. RFC 7296 §2.5: skipped when not
// critical; a critical one makes the message fail (IkeCriticalPayloadError).
export interface UnknownPayload {
  readonly kind: 'unknown';
  readonly type: number; // 1..255, not a type listed in PAYLOAD_KINDS
  readonly critical: boolean;
  readonly body: Uint8Array;
}

export type IkePayload =
  | SaPayload
  | KePayload
  | IdPayload
  | CertPayload
  | CertReqPayload
  | AuthPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorIdPayload
  | TsPayload
  | SkPayload
  | SkfPayload
  | CpPayload
  | EapPayload
  | UnknownPayload;

export type IkePayloadKind = IkePayload['kind'];

export type PayloadOfKind<K extends IkePayloadKind> = Extract<IkePayload, { kind: K }>;

export interface IkeMessage {
  readonly header: IkeHeader;
  readonly payloads: readonly IkePayload[];
}

// A decoded message also gives the bytes it came from and, for every payload, its body as
// received (after the 4-byte generic header): RFC 7296 §2.15 signs the peer's ID payload
// body as sent ("RestOfInitIDPayload"), reserved octets included.
export interface DecodedIkeMessage extends IkeMessage {
  readonly header: Required<IkeHeader>;
  readonly bytes: Uint8Array;
  readonly rawBodies: readonly Uint8Array[];
}

export interface DecodedPayloads {
  readonly payloads: readonly IkePayload[];
  readonly rawBodies: readonly Uint8Array[];
}
