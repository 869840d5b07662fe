// Checks and codecs for the seed-000 rows of the store: device addresses, distribution
// policies, management-table entries and events. Shared by every backend (SQLite now,
// PostgreSQL later) so they all accept and refuse the same values.
//
// An entry is kept in two parts: the public part (addresses, request IDs, SPIs, the
// applied policy, times) as JSON text, and its SA parameters, which hold the keys, as
// JSON bytes that the caller seals (sealed-box.ts) and wipes. Decoding is strict: exactly
// the known fields, each of the right type and range, or StoreError 'store.bad-entry'
// with the field path. Messages never quote a value of the sealed part.
import { createHash } from 'node:crypto';
import { canonicalIp } from '../wire/address.js';
import { DecodeError } from '../wire/errors.js';
import { encryptionTransform, integrityTransform } from '../crypto/registry.js';
import { CryptoError } from '../crypto/types.js';
import type { AppliedPolicy, EntryRow, FlowSelector, ManagementEntry, SaParameters } from '../settings/types.js';
import { StoreError, type NewPolicy, type StoredEvent } from './types.js';
import { StoreErrorCode } from './error-codes.js';
import { fromBase64, toBase64 } from './base64.js';

export const MAX_DEVICE_ADDRESSES = 64;
export const POLICY_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const POLICY_NAME_RULE = '1-64 characters of A-Za-z0-9_.-';
export const WILDCARD = '*';
export const MAX_LIFETIME_SECONDS = 0x7fff_ffff; // wire/control-settings.ts: 1..2^31-1
const U32_MAX = 0xffff_ffff;
const MAX_KEY_BYTES = 256; // far above any transform's key material (64 + 4 bytes)
const MAX_ID_CHARS = 128;
export const MAX_EVENT_DETAIL_BYTES = 8 * 1024;
const EVENT_KIND = /^[a-z][a-z0-9.-]{0,31}$/;

type Json = unknown;
type Fail = (path: string, expected: string) => never;

const show = (text: string): string => JSON.stringify(text.length > 70 ? `${text.slice(0, 70)}...` : text);

// ------------------------------------------------------------------------ addresses

// One IPsec address of a device in canonical text (RFC 5952 for IPv6). The unspecified
// addresses name no device.
export function canonicalDeviceAddress(text: unknown, path = 'address'): string {
  let c: string | undefined;
  if (typeof text === 'string') {
    try {
      c = canonicalIp(text.trim());
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
  }
  if (c === undefined) throw new StoreError(StoreErrorCode.BAD_ADDRESS, `${path}: ${typeof text === 'string' ? show(text) : 'the value'} is not an IPv4 or IPv6 address`);
  if (c === '0.0.0.0' || c === '::') throw new StoreError(StoreErrorCode.BAD_ADDRESS, `${path}: the unspecified address ${c} cannot belong to a device`);
  return c;
}

// Canonical, duplicates removed (two spellings of one address are one address), order kept.
export function canonicalDeviceAddresses(list: unknown): string[] {
  if (!Array.isArray(list)) throw new StoreError(StoreErrorCode.BAD_ADDRESS, 'addresses must be a list of IP addresses');
  const out: string[] = [];
  for (const [i, a] of list.entries()) {
    const c = canonicalDeviceAddress(a, `addresses[${i}]`);
    if (!out.includes(c)) out.push(c);
  }
  if (out.length > MAX_DEVICE_ADDRESSES) throw new StoreError(StoreErrorCode.BAD_ADDRESS, `a device has at most ${MAX_DEVICE_ADDRESSES} addresses, got ${out.length}`);
  return out;
}

// ------------------------------------------------------------------- shared checks

function object(v: Json, path: string, keys: readonly string[], fail: Fail): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object');
  const o = v as Record<string, Json>;
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(path, `an object with only the fields ${keys.join(', ')}`);
  for (const k of keys) if (!Object.hasOwn(o, k)) fail(`${path}.${k}`, 'present');
  return o;
}

function integer(v: Json, path: string, min: number, max: number, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `an integer in ${min}..${max}`);
  return v;
}

function text(v: Json, path: string, fail: Fail, maxChars = MAX_ID_CHARS): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxChars) fail(path, `a string of 1..${maxChars} characters`);
  return v;
}

function timeMs(v: Json, path: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'a finite number of milliseconds');
  return v;
}

function timeOrNull(v: Json, path: string, fail: Fail): number | null {
  return v === null ? null : timeMs(v, path, fail);
}

function bool(v: Json, path: string, fail: Fail): boolean {
  if (typeof v !== 'boolean') fail(path, 'true or false');
  return v;
}

export function checkFlow(v: Json, path: string, fail: Fail): FlowSelector | null {
  if (v === null) return null;
  const o = object(v, path, ['protocol', 'port'], fail);
  return {
    protocol: integer(o['protocol'], `${path}.protocol`, 0, 255, fail),
    port: o['port'] === null ? null : integer(o['port'], `${path}.port`, 1, 65535, fail),
  };
}

export function checkApplied(v: Json, path: string, fail: Fail): AppliedPolicy {
  const o = object(v, path, ['protocol', 'mode', 'encryption', 'integrity', 'esn', 'lifetimeSeconds'], fail);
  if (o['protocol'] !== 'esp') fail(`${path}.protocol`, '"esp"');
  const mode = o['mode'];
  if (mode !== 'tunnel' && mode !== 'transport') fail(`${path}.mode`, '"tunnel" or "transport"');
  const e = object(o['encryption'], `${path}.encryption`, ['id', 'keyBits'], fail);
  const encryption = { id: integer(e['id'], `${path}.encryption.id`, 0, 0xffff, fail), keyBits: integer(e['keyBits'], `${path}.encryption.keyBits`, 0, 1024, fail) };
  let aead: boolean;
  try {
    // Test-only transforms (NULL) are the API's business to refuse; the store keeps what
    // the settings core was configured with.
    aead = encryptionTransform(encryption.id, encryption.keyBits, { allowTestOnly: true }).aead;
  } catch (err) {
    if (err instanceof CryptoError) fail(`${path}.encryption`, `a supported transform (${err.message})`);
    throw err;
  }
  let integrity: AppliedPolicy['integrity'] = null;
  if (o['integrity'] !== null) {
    const i = object(o['integrity'], `${path}.integrity`, ['id'], fail);
    const id = integer(i['id'], `${path}.integrity.id`, 0, 0xffff, fail);
    try {
      integrityTransform(id);
    } catch (err) {
      if (err instanceof CryptoError) fail(`${path}.integrity.id`, `a supported transform (${err.message})`);
      throw err;
    }
    integrity = { id };
  }
  // RFC 4303 §3.2 / RFC 4106 §8: an AEAD has its own integrity; a plain cipher needs one.
  if (aead && integrity !== null) fail(`${path}.integrity`, 'null for an AEAD encryption transform');
  if (!aead && integrity === null) fail(`${path}.integrity`, 'set for a non-AEAD encryption transform');
  return {
    protocol: 'esp',
    mode,
    encryption,
    integrity,
    esn: bool(o['esn'], `${path}.esn`, fail),
    lifetimeSeconds: integer(o['lifetimeSeconds'], `${path}.lifetimeSeconds`, 1, MAX_LIFETIME_SECONDS, fail),
  };
}

// ----------------------------------------------------------------------- policies

const policyFail: Fail = (path, expected) => {
  throw new StoreError(StoreErrorCode.BAD_POLICY, `policy: ${path} must be ${expected}`);
};

function endpoint(v: Json, path: string): string {
  if (v === WILDCARD) return WILDCARD;
  if (typeof v !== 'string') policyFail(path, `an IP address or "${WILDCARD}"`);
  try {
    return canonicalDeviceAddress(v, `policy: ${path}`);
  } catch (e) {
    if (e instanceof StoreError) throw new StoreError(StoreErrorCode.BAD_POLICY, `${e.message} (or "${WILDCARD}" for any)`);
    throw e;
  }
}

// The policy with canonical endpoints, or StoreError 'store.bad-policy' naming the field.
export function checkNewPolicy(p: NewPolicy): NewPolicy {
  const o = object(p, 'policy', ['name', 'a', 'b', 'flow', 'applied'], policyFail);
  const name = o['name'];
  if (typeof name !== 'string' || !POLICY_NAME_PATTERN.test(name)) policyFail('name', POLICY_NAME_RULE);
  return { name, a: endpoint(o['a'], 'a'), b: endpoint(o['b'], 'b'), flow: checkFlow(o['flow'], 'flow', policyFail), applied: checkApplied(o['applied'], 'applied', policyFail) };
}

// The unordered endpoints and the flow, as the store's uniqueness key.
export function policyKey(p: Pick<NewPolicy, 'a' | 'b' | 'flow'>): { low: string; high: string; flow: string } {
  const [low, high] = p.a <= p.b ? [p.a, p.b] : [p.b, p.a];
  const flow = p.flow === null ? '' : `${p.flow.protocol}/${p.flow.port ?? '*'}`;
  return { low, high, flow };
}

export function encodeApplied(a: AppliedPolicy): string {
  return JSON.stringify({ protocol: a.protocol, mode: a.mode, encryption: { id: a.encryption.id, keyBits: a.encryption.keyBits }, integrity: a.integrity === null ? null : { id: a.integrity.id }, esn: a.esn, lifetimeSeconds: a.lifetimeSeconds });
}

export function decodeApplied(json: string, what: string): AppliedPolicy {
  const fail: Fail = (path, expected) => {
    throw new StoreError(StoreErrorCode.BAD_POLICY, `${what}: stored ${path} must be ${expected}`);
  };
  let v: Json;
  try {
    v = JSON.parse(json);
  } catch {
    fail('applied', 'JSON');
  }
  return checkApplied(v, 'applied', fail);
}

// ------------------------------------------------------------------------ entries

function entryFail(id: string): Fail {
  return (path, expected) => {
    throw new StoreError(StoreErrorCode.BAD_ENTRY, `entry ${id.length > 40 ? 'with a bad id' : id}: ${path} must be ${expected}`);
  };
}

function checkRow(v: Json, path: string, fail: Fail): EntryRow {
  const o = object(v, path, ['address', 'deviceId', 'requestId', 'spi'], fail);
  return {
    address: text(o['address'], `${path}.address`, fail, 45),
    deviceId: text(o['deviceId'], `${path}.deviceId`, fail),
    requestId: o['requestId'] === null ? null : integer(o['requestId'], `${path}.requestId`, 1, U32_MAX, fail),
    spi: o['spi'] === null ? null : integer(o['spi'], `${path}.spi`, 256, U32_MAX, fail), // RFC 4303 §2.1
  };
}

const ENTRY_PUBLIC_KEYS = ['id', 'rows', 'flow', 'policyId', 'applied', 'createdAtMs', 'completedAtMs', 'activationsSent', 'nextActivationAtMs', 'expiresAtMs'] as const;

type EntryPublic = Omit<ManagementEntry, 'params'>;

function checkPublic(v: Json, fail: Fail): EntryPublic {
  const o = object(v, 'entry', ENTRY_PUBLIC_KEYS, fail);
  const rows = o['rows'];
  if (!Array.isArray(rows) || rows.length !== 2) fail('rows', 'a list of 2 rows');
  return {
    id: text(o['id'], 'id', fail),
    rows: [checkRow(rows[0], 'rows[0]', fail), checkRow(rows[1], 'rows[1]', fail)],
    flow: checkFlow(o['flow'], 'flow', fail),
    policyId: text(o['policyId'], 'policyId', fail),
    applied: checkApplied(o['applied'], 'applied', fail),
    createdAtMs: timeMs(o['createdAtMs'], 'createdAtMs', fail),
    completedAtMs: timeOrNull(o['completedAtMs'], 'completedAtMs', fail),
    activationsSent: integer(o['activationsSent'], 'activationsSent', 0, U32_MAX, fail),
    nextActivationAtMs: timeOrNull(o['nextActivationAtMs'], 'nextActivationAtMs', fail),
    expiresAtMs: timeOrNull(o['expiresAtMs'], 'expiresAtMs', fail),
  };
}

function keyBytes(v: Json, path: string, fail: Fail): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > MAX_KEY_BYTES) fail(path, `bytes (at most ${MAX_KEY_BYTES})`);
  return v;
}

function checkParams(v: Json, fail: Fail): readonly [SaParameters, SaParameters] | null {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length !== 2) fail('params', 'null or a list of 2 SA parameter sets');
  const one = (p: Json, path: string): SaParameters => {
    const o = object(p, path, ['spi', 'encryptionKey', 'integrityKey'], fail);
    return {
      spi: integer(o['spi'], `${path}.spi`, 256, U32_MAX, fail),
      encryptionKey: keyBytes(o['encryptionKey'], `${path}.encryptionKey`, fail),
      integrityKey: o['integrityKey'] === null ? null : keyBytes(o['integrityKey'], `${path}.integrityKey`, fail),
    };
  };
  return [one(v[0], 'params[0]'), one(v[1], 'params[1]')];
}

// Checks an entry before it is stored; returns the public part as JSON text.
export function encodeEntryPublic(entry: ManagementEntry): string {
  const id = typeof (entry as { id?: unknown }).id === 'string' ? entry.id : '?';
  const fail: Fail = entryFail(id);
  if (typeof entry !== 'object' || entry === null) fail('entry', 'an object');
  if (!Object.hasOwn(entry, 'params')) fail('params', 'present');
  const { params, ...rest } = entry;
  const pub = checkPublic(rest, fail);
  const checked = checkParams(params, fail);
  // Seed 000 S10: a complete entry has both SPIs, and SA row0 -> row1 uses row1's SPI.
  if (checked !== null && (checked[0].spi !== pub.rows[1].spi || checked[1].spi !== pub.rows[0].spi)) {
    fail('params', 'SA parameters whose SPIs are the receiving rows\' SPIs (params[0].spi = rows[1].spi, params[1].spi = rows[0].spi)');
  }
  return JSON.stringify(pub);
}

// A digest of the public part goes into the sealed part, so the public JSON (which
// devices the keys go to) cannot be changed in the database without the entry failing
// to open: the seal authenticates both.
function publicDigest(publicJson: string): string {
  return createHash('sha256').update(publicJson, 'utf8').digest('hex');
}

// The SA parameters as bytes to seal (the caller wipes them), or null for a pending entry.
export function encodeParams(params: ManagementEntry['params'], publicJson: string): Buffer | null {
  if (params === null) return null;
  const one = (p: SaParameters) => ({ spi: p.spi, encryptionKey: toBase64(p.encryptionKey), integrityKey: p.integrityKey === null ? null : toBase64(p.integrityKey) });
  return Buffer.from(JSON.stringify({ v: 1, public: publicDigest(publicJson), params: [one(params[0]), one(params[1])] }), 'utf8');
}

export function decodeEntry(publicJson: string, params: Buffer | null, rowId: string): ManagementEntry {
  const fail: Fail = entryFail(rowId);
  let v: Json;
  try {
    v = JSON.parse(publicJson);
  } catch {
    fail('the stored entry', 'JSON');
  }
  const pub = checkPublic(v, fail);
  if (pub.id !== rowId) fail('id', 'the row id');
  let decoded: readonly [SaParameters, SaParameters] | null = null;
  if (params !== null) {
    let p: Json;
    try {
      p = JSON.parse(params.toString('utf8'));
    } catch {
      fail('the sealed parameters', 'JSON');
    }
    const o = object(p, 'sealed', ['v', 'public', 'params'], fail);
    if (o['v'] !== 1) fail('sealed.v', '1');
    if (o['public'] !== publicDigest(publicJson)) fail('the public part', 'the one sealed with the parameters (it was altered)');
    const list = o['params'];
    if (!Array.isArray(list) || list.length !== 2) fail('params', 'a list of 2 SA parameter sets');
    const bytes = (x: Json, path: string): Buffer => {
      const b = typeof x === 'string' ? fromBase64(x) : undefined;
      if (b === undefined || b.length > MAX_KEY_BYTES) fail(path, 'bytes as base64');
      return b;
    };
    const one = (x: Json, path: string): SaParameters => {
      const s = object(x, path, ['spi', 'encryptionKey', 'integrityKey'], fail);
      return {
        spi: integer(s['spi'], `${path}.spi`, 256, U32_MAX, fail),
        encryptionKey: bytes(s['encryptionKey'], `${path}.encryptionKey`),
        integrityKey: s['integrityKey'] === null ? null : bytes(s['integrityKey'], `${path}.integrityKey`),
      };
    };
    decoded = [one(list[0], 'params[0]'), one(list[1], 'params[1]')];
    if (decoded[0].spi !== pub.rows[1].spi || decoded[1].spi !== pub.rows[0].spi) fail('params', 'SA parameters for the rows\' SPIs');
  }
  return { ...pub, params: decoded };
}

// ------------------------------------------------------------------------- events

function hasBytes(v: Json, depth: number): boolean {
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) return true;
  if (depth > 16 || typeof v !== 'object' || v === null) return false;
  return Object.values(v as Record<string, Json>).some((x) => hasBytes(x, depth + 1));
}

export interface CheckedEvent {
  readonly atMs: number;
  readonly kind: string;
  readonly deviceId: string | null;
  readonly detail: string; // JSON
}

// Events are for operators and hold no secrets: a detail with a byte string in it (a
// key, most likely) is refused rather than stored.
export function checkEvent(e: Omit<StoredEvent, 'id'>, index: number): CheckedEvent {
  const fail: Fail = (path, expected) => {
    throw new StoreError(StoreErrorCode.BAD_EVENT, `events[${index}].${path} must be ${expected}`);
  };
  if (typeof e !== 'object' || e === null) fail('event', 'an object');
  const atMs = Math.floor(timeMs(e.atMs, 'atMs', fail));
  if (typeof e.kind !== 'string' || !EVENT_KIND.test(e.kind)) fail('kind', 'a lower-case word of 1-32 characters');
  const deviceId = e.deviceId === null ? null : text(e.deviceId, 'deviceId', fail);
  if (typeof e.detail !== 'object' || e.detail === null || Array.isArray(e.detail)) fail('detail', 'an object');
  if (hasBytes(e.detail, 0)) fail('detail', 'free of byte strings (events never carry key material)');
  let detail: string;
  try {
    detail = JSON.stringify(e.detail);
  } catch {
    fail('detail', 'JSON-serialisable');
  }
  if (Buffer.byteLength(detail, 'utf8') > MAX_EVENT_DETAIL_BYTES) fail('detail', `at most ${MAX_EVENT_DETAIL_BYTES} bytes of JSON`);
  return { atMs, kind: e.kind, deviceId, detail };
}

export function decodeEventDetail(json: string, id: number): Readonly<Record<string, unknown>> {
  try {
    const v: Json = JSON.parse(json);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new StoreError(StoreErrorCode.BAD_EVENT, `event ${id}: the stored detail is not a JSON object`);
}
