// Item codecs of the seed-004 keyroll service (item types 0x0101-0x0106, control-types.ts).
//
//   init / update / resend request   u32 generation the agent holds (0 = none)
//   ephemeral                        u16 KE transform ID (IANA IKEv2 type 4) | public value
//   distribution                     u8 kind (1 init, 2 rotation) | u8 0 | u16 KE ID (0 = no
//                                    forward secrecy) | u32 generation | u32 SPI |
//                                    32-byte key seed | [sender public | agent public]
//   resync                           u32 SPI | u32 next sequence number
//   cookie                           16 opaque bytes (controller -> agent in a notice, echoed
//                                    in the agent's next init request)
//
// The distribution never carries the key itself in the clear: the whole message travels
// inside ESP (seed 004: "always protected"), and with forward secrecy the key is
// prf+(prf(seed, DH), ...) so even the seed alone is not the key (src/keyroll/kdf.ts).
import { DecodeError } from './errors.js';
import { ControlItemType } from './control-types.js';
import type { ControlItem, ControlMessage } from './control-message.js';

export const KEYROLL_SEED_BYTES = 32;
export const KEYROLL_COOKIE_BYTES = 16;

// Public value sizes by IANA KE transform ID (RFC 8031 §2: raw X25519 / X448 u-coordinate).
// The wire layer cannot ask the crypto registry (a higher layer), so the few KE methods
// the channel allows are listed here.
export const KEYROLL_KE_PUBLIC_BYTES: ReadonlyMap<number, number> = new Map([
  [31, 32], // Curve25519
  [32, 56], // Curve448
]);

export type KeyrollRequestKind = 'init' | 'update' | 'resend';

export interface KeyrollRequest {
  readonly kind: KeyrollRequestKind;
  readonly generation: number; // generation of the agent's latest key, 0 = none
}

export interface KeyrollEphemeral {
  readonly keId: number;
  readonly publicKey: Uint8Array;
}

export interface KeyrollDistribution {
  readonly kind: 'init' | 'rotation';
  readonly generation: number; // >= 1
  readonly spi: number; // SPI that names the new key, 256..2^32-1
  readonly seed: Uint8Array; // KEYROLL_SEED_BYTES
  // Forward secrecy: the KE method, the controller's public value and the agent public
  // value it was computed against (so the agent can tell which of its values to use).
  readonly ephemeral: { readonly keId: number; readonly senderPublic: Uint8Array; readonly receiverPublic: Uint8Array } | null;
}

export interface KeyrollResync {
  readonly spi: number;
  readonly nextSequence: number; // >= 1
}

const REQUEST_TYPES: Record<KeyrollRequestKind, number> = {
  init: ControlItemType.KEYROLL_INIT_REQUEST,
  update: ControlItemType.KEYROLL_UPDATE_REQUEST,
  resend: ControlItemType.KEYROLL_RESEND_REQUEST,
};

const KEYROLL_TYPES: ReadonlySet<number> = new Set(Object.values(ControlItemType).filter((t) => t >= 0x0100 && t <= 0x01ff));

export function isKeyrollItemType(type: number): boolean {
  return KEYROLL_TYPES.has(type);
}

function fail(what: string, reason: ConstructorParameters<typeof DecodeError>[1], detail: string): never {
  throw new DecodeError(what, reason, detail);
}

function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function checkU32(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min || v > 0xffff_ffff) throw new RangeError(`${name} ${v} not in ${min}..2^32-1`);
}

function publicBytes(keId: number): number {
  const n = KEYROLL_KE_PUBLIC_BYTES.get(keId);
  if (n === undefined) throw new RangeError(`KE transform ${keId} not allowed on the keyroll channel`);
  return n;
}

// ------------------------------------------------------------------------------ encode

export function encodeKeyrollRequest(r: KeyrollRequest): ControlItem {
  checkU32('keyroll request generation', r.generation, 0);
  const value = Buffer.alloc(4);
  value.writeUInt32BE(r.generation, 0);
  return { type: REQUEST_TYPES[r.kind], critical: true, value };
}

export function encodeKeyrollEphemeral(e: KeyrollEphemeral): ControlItem {
  const n = publicBytes(e.keId);
  if (e.publicKey.length !== n) throw new RangeError(`KE ${e.keId} public value must be ${n} bytes`);
  const value = Buffer.alloc(2 + n);
  value.writeUInt16BE(e.keId, 0);
  value.set(e.publicKey, 2);
  return { type: ControlItemType.KEYROLL_EPHEMERAL, critical: true, value };
}

export function encodeKeyrollDistribution(d: KeyrollDistribution): ControlItem {
  checkU32('distribution generation', d.generation, 1);
  checkU32('distribution SPI', d.spi, 256);
  if (d.seed.length !== KEYROLL_SEED_BYTES) throw new RangeError(`distribution seed must be ${KEYROLL_SEED_BYTES} bytes`);
  const n = d.ephemeral === null ? 0 : publicBytes(d.ephemeral.keId);
  if (d.ephemeral !== null && (d.ephemeral.senderPublic.length !== n || d.ephemeral.receiverPublic.length !== n)) {
    throw new RangeError(`distribution public values must be ${n} bytes`);
  }
  const value = Buffer.alloc(12 + KEYROLL_SEED_BYTES + 2 * n);
  value[0] = d.kind === 'init' ? 1 : 2;
  value.writeUInt16BE(d.ephemeral?.keId ?? 0, 2);
  value.writeUInt32BE(d.generation, 4);
  value.writeUInt32BE(d.spi, 8);
  value.set(d.seed, 12);
  if (d.ephemeral !== null) {
    value.set(d.ephemeral.senderPublic, 12 + KEYROLL_SEED_BYTES);
    value.set(d.ephemeral.receiverPublic, 12 + KEYROLL_SEED_BYTES + n);
  }
  return { type: ControlItemType.KEYROLL_DISTRIBUTION, critical: true, value };
}

export function encodeKeyrollResync(r: KeyrollResync): ControlItem {
  checkU32('resync SPI', r.spi, 256);
  checkU32('resync next sequence', r.nextSequence, 1);
  const value = Buffer.alloc(8);
  value.writeUInt32BE(r.spi, 0);
  value.writeUInt32BE(r.nextSequence, 4);
  return { type: ControlItemType.KEYROLL_RESYNC, critical: true, value };
}

export function encodeKeyrollCookie(cookie: Uint8Array): ControlItem {
  if (cookie.length !== KEYROLL_COOKIE_BYTES) throw new RangeError(`cookie must be ${KEYROLL_COOKIE_BYTES} bytes`);
  return { type: ControlItemType.KEYROLL_COOKIE, critical: true, value: Buffer.from(cookie) };
}

// ------------------------------------------------------------------------------ decode

export function decodeKeyrollCookie(item: ControlItem): Uint8Array {
  if (item.value.length !== KEYROLL_COOKIE_BYTES) fail('keyroll-cookie', 'bad-length', `${item.value.length} bytes, expected ${KEYROLL_COOKIE_BYTES}`);
  return item.value;
}

export function decodeKeyrollRequest(item: ControlItem): KeyrollRequest {
  const kind = (Object.keys(REQUEST_TYPES) as KeyrollRequestKind[]).find((k) => REQUEST_TYPES[k] === item.type);
  if (kind === undefined) fail('keyroll-request', 'bad-value', `item type 0x${item.type.toString(16)} is not a request`);
  if (item.value.length !== 4) fail('keyroll-request', 'bad-length', `${item.value.length} bytes, expected 4`);
  return { kind, generation: u32(item.value, 0) };
}

export function decodeKeyrollEphemeral(item: ControlItem): KeyrollEphemeral {
  const v = item.value;
  if (v.length < 2) fail('keyroll-ephemeral', 'truncated', `${v.length} bytes, KE ID needs 2`);
  const keId = (v[0]! << 8) | v[1]!;
  const n = KEYROLL_KE_PUBLIC_BYTES.get(keId);
  if (n === undefined) fail('keyroll-ephemeral', 'unsupported', `KE transform ${keId}`);
  if (v.length !== 2 + n) fail('keyroll-ephemeral', 'bad-length', `${v.length} bytes, KE ${keId} needs ${2 + n}`);
  return { keId, publicKey: v.subarray(2) };
}

export function decodeKeyrollDistribution(item: ControlItem): KeyrollDistribution {
  const v = item.value;
  const what = 'keyroll-distribution';
  if (v.length < 12 + KEYROLL_SEED_BYTES) fail(what, 'truncated', `${v.length} bytes, at least ${12 + KEYROLL_SEED_BYTES} needed`);
  const kindByte = v[0]!;
  if (kindByte !== 1 && kindByte !== 2) fail(what, 'bad-value', `kind ${kindByte}`);
  if (v[1] !== 0) fail(what, 'bad-value', `reserved byte ${v[1]}`);
  const keId = (v[2]! << 8) | v[3]!;
  const generation = u32(v, 4);
  const spi = u32(v, 8);
  if (generation === 0) fail(what, 'bad-value', 'generation 0');
  if (spi < 256) fail(what, 'bad-value', `SPI ${spi} (0..255 reserved, RFC 4303 §2.1)`);
  const seed = v.subarray(12, 12 + KEYROLL_SEED_BYTES);
  let ephemeral: KeyrollDistribution['ephemeral'] = null;
  const rest = v.length - 12 - KEYROLL_SEED_BYTES;
  if (keId === 0) {
    if (rest !== 0) fail(what, 'bad-length', `${rest} bytes after the seed without a KE method`);
  } else {
    const n = KEYROLL_KE_PUBLIC_BYTES.get(keId);
    if (n === undefined) fail(what, 'unsupported', `KE transform ${keId}`);
    if (rest !== 2 * n) fail(what, 'bad-length', `${rest} bytes of public values, KE ${keId} needs ${2 * n}`);
    const p = 12 + KEYROLL_SEED_BYTES;
    ephemeral = { keId, senderPublic: v.subarray(p, p + n), receiverPublic: v.subarray(p + n, p + 2 * n) };
  }
  return { kind: kindByte === 1 ? 'init' : 'rotation', generation, spi, seed, ephemeral };
}

export function decodeKeyrollResync(item: ControlItem): KeyrollResync {
  const v = item.value;
  if (v.length !== 8) fail('keyroll-resync', 'bad-length', `${v.length} bytes, expected 8`);
  const spi = u32(v, 0);
  const nextSequence = u32(v, 4);
  if (spi < 256) fail('keyroll-resync', 'bad-value', `SPI ${spi}`);
  if (nextSequence === 0) fail('keyroll-resync', 'bad-value', 'next sequence 0');
  return { spi, nextSequence };
}

// The keyroll content of one message, with every keyroll item decoded and the rest left
// for other services. At most one of each keyroll item, and at most one request.
export interface KeyrollItems {
  readonly request: KeyrollRequest | null;
  readonly ephemeral: KeyrollEphemeral | null;
  readonly distribution: KeyrollDistribution | null;
  readonly resync: KeyrollResync | null;
  readonly cookie: Uint8Array | null;
  readonly others: readonly ControlItem[]; // items of other services, in order
}

export function readKeyrollItems(m: ControlMessage): KeyrollItems {
  let request: KeyrollRequest | null = null;
  let ephemeral: KeyrollEphemeral | null = null;
  let distribution: KeyrollDistribution | null = null;
  let resync: KeyrollResync | null = null;
  let cookie: Uint8Array | null = null;
  const others: ControlItem[] = [];
  const once = <T>(prev: T | null, next: T, name: string): T => {
    if (prev !== null) fail('keyroll', 'bad-value', `more than one ${name} item`);
    return next;
  };
  for (const item of m.items) {
    switch (item.type) {
      case ControlItemType.KEYROLL_INIT_REQUEST:
      case ControlItemType.KEYROLL_UPDATE_REQUEST:
      case ControlItemType.KEYROLL_RESEND_REQUEST:
        request = once(request, decodeKeyrollRequest(item), 'request');
        break;
      case ControlItemType.KEYROLL_EPHEMERAL:
        ephemeral = once(ephemeral, decodeKeyrollEphemeral(item), 'ephemeral');
        break;
      case ControlItemType.KEYROLL_DISTRIBUTION:
        distribution = once(distribution, decodeKeyrollDistribution(item), 'distribution');
        break;
      case ControlItemType.KEYROLL_RESYNC:
        resync = once(resync, decodeKeyrollResync(item), 'resync');
        break;
      case ControlItemType.KEYROLL_COOKIE:
        cookie = once(cookie, decodeKeyrollCookie(item), 'cookie');
        break;
      default:
        // An unassigned number in the keyroll range is a newer keyroll item this version
        // does not know: the envelope's critical rule already rejected critical ones.
        others.push(item);
    }
  }
  return { request, ephemeral, distribution, resync, cookie, others };
}
