// SenderPeerDurable (src/keyroll/durable.ts) <-> bytes, for the store's sealed
// channel_state column. UTF-8 JSON with every byte string as canonical base64; the
// durable's own `version` field is the format version.
//
// Decoding is strict: exactly the known fields, each of the right type and range, or
// StoreError 'store.bad-channel-state' with the field path. Messages never quote values:
// the state holds key material.
import { DURABLE_VERSION, KEYROLL_KEY_BYTES, type KeyDurable, type SenderPeerDurable } from '../keyroll/index.js';
import { KEYROLL_KE_PUBLIC_BYTES, KEYROLL_SEED_BYTES, type KeyrollDistribution } from '../wire/control-keyroll.js';
import { StoreError } from './types.js';
import { StoreErrorCode } from './error-codes.js';
import { fromBase64, toBase64 } from './base64.js';

export const MAX_CHANNEL_STATE_BYTES = 16 * 1024; // a real state is under 1 KiB
const U32_MAX = 0xffff_ffff;

type Json = unknown;

function bad(path: string, expected: string): never {
  throw new StoreError(StoreErrorCode.BAD_CHANNEL_STATE, `channel state: ${path} must be ${expected}`);
}

function object(v: Json, path: string, keys: readonly string[]): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'an object');
  const o = v as Record<string, Json>;
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(path, `an object with only the fields ${keys.join(', ')}`);
  for (const k of keys) if (!Object.hasOwn(o, k)) bad(`${path}.${k}`, 'present');
  return o;
}

function integer(v: Json, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(path, `an integer in ${min}..${max}`);
  return v;
}

function counter(v: Json, path: string): number {
  return integer(v, path, 0, Number.MAX_SAFE_INTEGER);
}

function timeMs(v: Json, path: string): number | null {
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(path, 'a finite number of milliseconds or null');
  return v;
}

function bool(v: Json, path: string): boolean {
  if (typeof v !== 'boolean') bad(path, 'true or false');
  return v;
}

function bytes(v: Json, path: string, length: number): Buffer {
  const b = typeof v === 'string' ? fromBase64(v) : undefined;
  if (b === undefined || b.length !== length) bad(path, `${length} bytes as base64`);
  return b;
}

function spi(v: Json, path: string): number {
  return integer(v, path, 256, U32_MAX); // RFC 4303 §2.1: 1..255 reserved
}

function keyFromJson(v: Json, path: string): KeyDurable {
  const o = object(v, path, ['generation', 'spi', 'material', 'sendSeqReserved', 'receiveTop']);
  return {
    generation: integer(o['generation'], `${path}.generation`, 0, U32_MAX),
    spi: spi(o['spi'], `${path}.spi`),
    material: bytes(o['material'], `${path}.material`, KEYROLL_KEY_BYTES),
    sendSeqReserved: counter(o['sendSeqReserved'], `${path}.sendSeqReserved`),
    receiveTop: counter(o['receiveTop'], `${path}.receiveTop`),
  };
}

function distributionFromJson(v: Json, path: string): KeyrollDistribution {
  const o = object(v, path, ['kind', 'generation', 'spi', 'seed', 'ephemeral']);
  const kind = o['kind'];
  if (kind !== 'init' && kind !== 'rotation') bad(`${path}.kind`, '"init" or "rotation"');
  let ephemeral: KeyrollDistribution['ephemeral'] = null;
  if (o['ephemeral'] !== null) {
    const e = object(o['ephemeral'], `${path}.ephemeral`, ['keId', 'senderPublic', 'receiverPublic']);
    const keId = integer(e['keId'], `${path}.ephemeral.keId`, 0, 0xffff);
    const n = KEYROLL_KE_PUBLIC_BYTES.get(keId);
    if (n === undefined) bad(`${path}.ephemeral.keId`, `one of ${[...KEYROLL_KE_PUBLIC_BYTES.keys()].join(', ')}`);
    ephemeral = {
      keId,
      senderPublic: bytes(e['senderPublic'], `${path}.ephemeral.senderPublic`, n),
      receiverPublic: bytes(e['receiverPublic'], `${path}.ephemeral.receiverPublic`, n),
    };
  }
  return {
    kind,
    generation: integer(o['generation'], `${path}.generation`, 1, U32_MAX),
    spi: spi(o['spi'], `${path}.spi`),
    seed: bytes(o['seed'], `${path}.seed`, KEYROLL_SEED_BYTES),
    ephemeral,
  };
}

const FIELDS = [
  'version',
  'latest',
  'previous',
  'latestDistribution',
  'chainOriginMessageId',
  'rotationDueAtMs',
  'rotationDue',
  'lastRotationAtMs',
  'initTopSeq',
  'initSendSeqReserved',
] as const;

// Checks a parsed JSON value and builds the durable from it.
export function senderPeerDurableFromJson(v: Json): SenderPeerDurable {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'version' in v && (v as { version: unknown }).version !== DURABLE_VERSION) {
    throw new StoreError(
      StoreErrorCode.CHANNEL_STATE_VERSION,
      `channel state: version ${JSON.stringify((v as { version: unknown }).version)?.slice(0, 20)} is not supported (this keyplane reads version ${DURABLE_VERSION})`,
    );
  }
  const o = object(v, 'state', FIELDS);
  const previous = o['previous'];
  return {
    version: DURABLE_VERSION,
    latest: o['latest'] === null ? null : keyFromJson(o['latest'], 'latest'),
    previous: previous === null || previous === 'init' ? previous : keyFromJson(previous, 'previous'),
    latestDistribution: o['latestDistribution'] === null ? null : distributionFromJson(o['latestDistribution'], 'latestDistribution'),
    chainOriginMessageId: o['chainOriginMessageId'] === null ? null : counter(o['chainOriginMessageId'], 'chainOriginMessageId'),
    rotationDueAtMs: timeMs(o['rotationDueAtMs'], 'rotationDueAtMs'),
    rotationDue: bool(o['rotationDue'], 'rotationDue'),
    lastRotationAtMs: timeMs(o['lastRotationAtMs'], 'lastRotationAtMs'),
    initTopSeq: counter(o['initTopSeq'], 'initTopSeq'),
    initSendSeqReserved: counter(o['initSendSeqReserved'], 'initSendSeqReserved'),
  };
}

// Byte strings become base64; anything that is not a byte string is left as it is, so the
// check in senderPeerDurableFromJson reports it with its path.
function b64(v: unknown): unknown {
  return v instanceof Uint8Array ? toBase64(v) : v;
}

function keyToJson(k: KeyDurable | null | 'init'): unknown {
  if (k === null || typeof k !== 'object') return k;
  return { generation: k.generation, spi: k.spi, material: b64(k.material), sendSeqReserved: k.sendSeqReserved, receiveTop: k.receiveTop };
}

function distributionToJson(d: KeyrollDistribution | null): unknown {
  if (d === null || typeof d !== 'object') return d;
  const e = d.ephemeral;
  return {
    kind: d.kind,
    generation: d.generation,
    spi: d.spi,
    seed: b64(d.seed),
    ephemeral:
      e === null || typeof e !== 'object' ? e : { keId: e.keId, senderPublic: b64(e.senderPublic), receiverPublic: b64(e.receiverPublic) },
  };
}

export function senderPeerDurableToJson(d: SenderPeerDurable): Record<string, unknown> {
  return {
    version: d.version,
    latest: keyToJson(d.latest),
    previous: keyToJson(d.previous),
    latestDistribution: distributionToJson(d.latestDistribution),
    chainOriginMessageId: d.chainOriginMessageId,
    rotationDueAtMs: d.rotationDueAtMs,
    rotationDue: d.rotationDue,
    lastRotationAtMs: d.lastRotationAtMs,
    initTopSeq: d.initTopSeq,
    initSendSeqReserved: d.initSendSeqReserved,
  };
}

// UTF-8 JSON. Refuses (StoreError) a state that would not decode, so nothing
// unreadable is ever stored. The caller seals the bytes and then wipes them.
export function encodeSenderPeerDurable(d: SenderPeerDurable): Buffer {
  const json = senderPeerDurableToJson(d);
  senderPeerDurableFromJson(json);
  return Buffer.from(JSON.stringify(json), 'utf8');
}

export function decodeSenderPeerDurable(data: Uint8Array): SenderPeerDurable {
  if (data.length > MAX_CHANNEL_STATE_BYTES) bad('state', `at most ${MAX_CHANNEL_STATE_BYTES} bytes`);
  let v: Json;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    bad('state', 'UTF-8 JSON');
  }
  return senderPeerDurableFromJson(v);
}
