// The Notify payload, RFC 7296 §3.10:
//
//   Protocol ID | SPI Size | Notify Message Type (2) | SPI | Notification Data
//
// SPI Size is 0, or 4 for a notification about an AH or ESP SA ("For a notification
// concerning the IKE SA, the SPI Size MUST be zero"); protocol IDs other than 0..3 are
// refused. The Notification Data of the types in NOTIFY_DATA below has a defined layout,
// checked here and readable typed with decodeNotifyData(); other types keep their bytes.
import { formatIp, parseIp } from '../address.js';
import { DecodeError } from '../errors.js';
import { NotifyType, ProtocolId } from './constants.js';
import {
  bad,
  decodeWith,
  encodeWith,
  field,
  fixedBytes,
  hidden,
  isBytes,
  items,
  mapped,
  restBytes,
  sizedBytes,
  struct,
  u16,
  u32,
  u8,
  uint,
  type Field,
} from './codec.js';
import type { IkePayload, NotifyPayload } from './types.js';

const NAT_DETECTION_HASH_BYTES = 20; // SHA-1 (RFC 7296 §2.23)
const COOKIE_MAX_BYTES = 64; // RFC 7296 §2.6: "between 1 and 64 octets"

// Notification Data by type, for the types whose data the IKE core reads.
export interface NotifyDataValues {
  [NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD]: number; // the one-octet payload type (§3.10.1)
  [NotifyType.INVALID_MESSAGE_ID]: number; // the four-octet message ID (§3.10.1)
  [NotifyType.INVALID_KE_PAYLOAD]: number; // the accepted group, two octets (§1.2)
  [NotifyType.SET_WINDOW_SIZE]: number; // window size, four octets, at least 1 (§2.3)
  [NotifyType.IPCOMP_SUPPORTED]: { readonly cpi: number; readonly transformId: number }; // §2.22
  [NotifyType.NAT_DETECTION_SOURCE_IP]: Uint8Array; // SHA-1 hash, 20 octets (§2.23)
  [NotifyType.NAT_DETECTION_DESTINATION_IP]: Uint8Array;
  [NotifyType.COOKIE]: Uint8Array; // 1..64 octets (§2.6)
  [NotifyType.ADDITIONAL_IP4_ADDRESS]: string; // RFC 4555 §4.2.2
  [NotifyType.ADDITIONAL_IP6_ADDRESS]: string;
  [NotifyType.AUTH_LIFETIME]: number; // seconds, four octets (RFC 4478 §3)
  [NotifyType.SIGNATURE_HASH_ALGORITHMS]: readonly number[]; // 16-bit hash IDs (RFC 7427 §4)
}

export type TypedNotifyType = keyof NotifyDataValues;

function ipAddress(size: 4 | 16): Field<string> {
  return mapped(
    fixedBytes(size),
    (text, name) => {
      let b: Uint8Array | undefined;
      try {
        b = typeof text === 'string' ? parseIp(text) : undefined;
      } catch {
        b = undefined;
      }
      if (b === undefined || b.length !== size) bad(name, text, `not an ${size === 4 ? 'IPv4' : 'IPv6'} address`);
      return b;
    },
    (b) => formatIp(b),
  );
}

const NOTIFY_DATA: { readonly [K in TypedNotifyType]: Field<NotifyDataValues[K]> } = {
  [NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD]: u8,
  [NotifyType.INVALID_MESSAGE_ID]: u32,
  [NotifyType.INVALID_KE_PAYLOAD]: u16,
  [NotifyType.SET_WINDOW_SIZE]: uint(4, 1),
  [NotifyType.IPCOMP_SUPPORTED]: struct<{ cpi: number; transformId: number }>([field('cpi', u16), field('transformId', u8)]),
  [NotifyType.NAT_DETECTION_SOURCE_IP]: fixedBytes(NAT_DETECTION_HASH_BYTES),
  [NotifyType.NAT_DETECTION_DESTINATION_IP]: fixedBytes(NAT_DETECTION_HASH_BYTES),
  [NotifyType.COOKIE]: restBytes(1, COOKIE_MAX_BYTES),
  [NotifyType.ADDITIONAL_IP4_ADDRESS]: ipAddress(4),
  [NotifyType.ADDITIONAL_IP6_ADDRESS]: ipAddress(16),
  [NotifyType.AUTH_LIFETIME]: u32,
  [NotifyType.SIGNATURE_HASH_ALGORITHMS]: items(u16),
};

function codecOf(notifyType: number): Field<unknown> | undefined {
  return (NOTIFY_DATA as Readonly<Record<number, Field<unknown>>>)[notifyType];
}

export function isTypedNotify(notifyType: number): notifyType is TypedNotifyType {
  return codecOf(notifyType) !== undefined;
}

export function encodeNotifyData<T extends TypedNotifyType>(notifyType: T, value: NotifyDataValues[T]): Uint8Array {
  return encodeWith(NOTIFY_DATA[notifyType] as Field<NotifyDataValues[T]>, `notify ${notifyType} data`, value, 32);
}

// DecodeError ('ike-notify') when the data does not have the type's layout.
export function decodeNotifyData<T extends TypedNotifyType>(notifyType: T, data: Uint8Array): NotifyDataValues[T] {
  return decodeWith(NOTIFY_DATA[notifyType] as Field<NotifyDataValues[T]>, 'ike-notify', data);
}

function dataProblem(notifyType: number, data: Uint8Array): string | null {
  const codec = codecOf(notifyType);
  if (codec === undefined) return null;
  try {
    decodeWith(codec, 'ike-notify', data);
    return null;
  } catch (e) {
    if (e instanceof DecodeError) return `notification data of type ${notifyType}: ${e.message}`;
    throw e;
  }
}

function spiProblem(protocolId: number, spiBytes: number): string | null {
  if (spiBytes === 0) return null;
  if ((protocolId === ProtocolId.AH || protocolId === ProtocolId.ESP) && spiBytes === 4) return null;
  return `an SPI of ${spiBytes} bytes with protocol ${protocolId} (only AH/ESP notifications carry one, of 4 bytes)`;
}

export const notifyBody: Field<Omit<NotifyPayload, 'kind'>> = struct<Omit<NotifyPayload, 'kind'>>(
  [
    field('protocolId', uint(1, 0, ProtocolId.ESP)),
    hidden<Omit<NotifyPayload, 'kind'>>('spiSize', u8, (n) => (isBytes(n.spi) ? n.spi.length : 0)),
    field('notifyType', u16),
    field('spi', sizedBytes('spiSize')),
    field('data', restBytes()),
  ],
  (n) => {
    if (!isBytes(n.spi)) return 'spi must be a Uint8Array';
    if (!isBytes(n.data)) return 'data must be a Uint8Array';
    return spiProblem(n.protocolId, n.spi.length) ?? dataProblem(n.notifyType, n.data);
  },
);

// A Notify payload. For the typed types pass the value; for others the raw data (default
// empty). `spi`: the AH/ESP SPI the notification is about (with `protocolId`).
export function notifyPayload<T extends TypedNotifyType>(notifyType: T, value: NotifyDataValues[T], opts?: { protocolId?: number; spi?: Uint8Array }): NotifyPayload;
export function notifyPayload(notifyType: number, data?: Uint8Array, opts?: { protocolId?: number; spi?: Uint8Array }): NotifyPayload;
export function notifyPayload(notifyType: number, value?: unknown, opts: { protocolId?: number; spi?: Uint8Array } = {}): NotifyPayload {
  const codec = codecOf(notifyType);
  const data = value === undefined ? new Uint8Array(0) : codec !== undefined && !isBytes(value) ? encodeWith(codec, `notify ${notifyType} data`, value) : value;
  if (!isBytes(data)) bad(`notify ${notifyType} data`, data, 'must be a Uint8Array');
  return { kind: 'notify', protocolId: opts.protocolId ?? ProtocolId.NONE, spi: opts.spi ?? new Uint8Array(0), notifyType, data };
}

export function findNotify(payloads: readonly IkePayload[], notifyType: number): NotifyPayload | undefined {
  for (const p of payloads) if (p.kind === 'notify' && p.notifyType === notifyType) return p;
  return undefined;
}

export function findNotifies(payloads: readonly IkePayload[], notifyType: number): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.kind === 'notify' && p.notifyType === notifyType);
}
