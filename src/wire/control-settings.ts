// CONTRACT (types) — seed-000 settings messages, carried as items of the control channel
// (control-message.ts; item numbers in control-types.ts). Codecs below the types.
//
// The seed (000 "Messages") leaves the wire format open; keyplane's choices:
//   - addresses are IP addresses in canonical text form (IPv4 dotted quad, IPv6 RFC 5952),
//     encoded as 4 or 16 bytes;
//   - a distribution is addressed to one end: `requester` is always the receiving device
//     and `toPeer` / `fromPeer` are the seed's "SA A->B" / "SA B->A" seen from it, so an
//     agent never has to work out which half is its own;
//   - the seed's per-SA "IV" is not distributed: RFC 4303 ESP carries a fresh IV in every
//     packet (RFC 4106 §3.1, RFC 3602 §3) and a fixed IV would be a weakness; the key
//     material includes the salt/nonce of AEAD transforms (RFC 4106 §8.1);
//   - the applied policy names algorithms by IANA IKEv2 transform IDs (RFC 7296 §3.3.2),
//     the same numbers as src/crypto/registry.ts.

// Optional extra selector for two devices with more than one protected flow (seed 000
// "Data": protocol number, port). `port` is the service port: a packet matches when its
// source or destination port equals it.
export interface FlowSelector {
  readonly protocol: number; // IP protocol 0..255 (6 tcp, 17 udp, ...)
  readonly port: number | null; // 1..65535, null = any port of that protocol
}

export interface SettingsRequest {
  readonly requestId: number; // uint32, 1..2^32-1, unique among the device's pending requests
  readonly requester: string; // the requesting device's IPsec address
  readonly peer: string; // the setting-request peer address of the SPD entry
  readonly spi: number; // the SPI the requester will use inbound, 256..2^32-1
  readonly flow: FlowSelector | null;
}

export interface AppliedPolicy {
  readonly protocol: 'esp'; // AH is not offered: RFC 8221 §3 marks it MAY, and NAT breaks it
  readonly mode: 'tunnel' | 'transport';
  readonly encryption: { readonly id: number; readonly keyBits: number };
  readonly integrity: { readonly id: number } | null; // null for AEAD transforms
  readonly esn: boolean;
  readonly lifetimeSeconds: number; // hard lifetime of the SAs, 1..2^31-1
}

// One direction's SA parameters (seed 000 "SA parameters").
export interface SaParameters {
  readonly spi: number; // the receiving side's proposed SPI
  readonly encryptionKey: Uint8Array; // key material of the length the transform needs (salt included)
  readonly integrityKey: Uint8Array | null; // null for AEAD
}

export interface SettingsDistribution {
  readonly requestId: number; // the receiving side's request ID
  readonly requester: string; // the receiving device
  readonly peer: string; // the other end
  readonly flow: FlowSelector | null;
  readonly entryId: string; // management-table entry, 16 hex chars (for status and renewal)
  readonly policy: AppliedPolicy;
  readonly toPeer: SaParameters; // outbound at the receiver: SPI chosen by the peer
  readonly fromPeer: SaParameters; // inbound at the receiver: SPI the receiver proposed
}

// Request activation (seed 000 S23): "ask me for settings towards `peer`" (the original
// requester). No request ID.
export interface SettingsActivation {
  readonly peer: string;
  readonly flow: FlowSelector | null;
}

export type SettingsErrorKind =
  | 'no-policy' // seed S26
  | 'mismatch' // seed S8, carries the entry list
  | 'no-response' // seed S28
  // Beyond the seed: the request names an address that is not the authenticated
  // device's, or a reserved SPI, or is otherwise unacceptable. Never carries entries.
  | 'refused';

export interface SettingsError {
  readonly kind: SettingsErrorKind;
  readonly requestId: number;
  readonly requester: string;
  readonly peer: string;
  readonly flow: FlowSelector | null;
  // 'mismatch': the (request ID, SPI) pairs already registered for this requester and peer
  // (seed S8), so the device can pick values outside them (S48). Empty otherwise.
  readonly entries: readonly { readonly requestId: number; readonly spi: number }[];
  readonly reason: string; // short human text for logs and status, <= 200 bytes UTF-8
}

export type SettingsMessage =
  | { readonly kind: 'request'; readonly request: SettingsRequest }
  | { readonly kind: 'distribution'; readonly distribution: SettingsDistribution }
  | { readonly kind: 'activation'; readonly activation: SettingsActivation }
  | { readonly kind: 'error'; readonly error: SettingsError };

// ====================================================================== item codecs
//
// One declarative description per message (below) drives both directions: every Field
// knows how to write a value (RangeError when the value cannot be sent) and how to read it
// back (DecodeError for anything malformed, bounds checked before every read). Values are
// canonical: a decoded item re-encodes to exactly its bytes (reserved values are refused,
// not ignored), so there is one encoding per message.
//
//   u8/u16/u32     big-endian (network order)
//   address        u8 length (4 or 16) | address bytes
//   flow           u8 kind (0 none, 1 protocol, 2 protocol+port) | u8 protocol | u16 port
//                  (kind 0: protocol and port 0; kind 1: port 0; kind 2: port 1..65535)
//   key            u8 length (1..64) | bytes;  optional key: length 0 = none
//   text           u8 length (<= 200) | UTF-8 bytes
//   list           u16 count | items
//
//   request        u32 request ID | address requester | address peer | u32 SPI | flow
//   distribution   u32 request ID | address requester | address peer | flow |
//                  8-byte entry ID | policy | SA params to peer | SA params from peer
//     policy       u8 protocol (50 = ESP) | u8 mode (1 tunnel, 2 transport, the
//                  Encapsulation Mode numbers of RFC 2407 §4.5) | u16 ENCR ID | u16 key
//                  bits | u16 INTEG ID (0 = none, RFC 7296 §3.3.2) | u8 ESN (0/1) |
//                  u32 lifetime seconds
//     SA params    u32 SPI | key encryption key | optional key integrity key
//   activation     address peer | flow
//   error          u8 kind (1 no-policy, 2 mismatch, 3 no-response, 4 refused) |
//                  u32 request ID | address requester | address peer | flow |
//                  list of (u32 request ID, u32 SPI) | text reason
//
// The wire layer cannot ask the crypto registry (a higher layer) how long a transform's
// keys are, so it checks structure only (1..64 bytes, integrity key present exactly when
// the policy names an integrity transform, both directions alike); the settings cores
// check the lengths the transforms need.
import { DecodeError, type DecodeErrorReason } from './errors.js';
import { ControlItemType } from './control-types.js';
import type { ControlItem } from './control-message.js';
import { formatIp, parseIp } from './address.js';

export const SETTINGS_MAX_KEY_BYTES = 64;
export const SETTINGS_MAX_REASON_BYTES = 200;
export const SETTINGS_MIN_SPI = 256; // RFC 4303 §2.1: 0 is never sent, 1..255 reserved by IANA
export const SETTINGS_MAX_LIFETIME_SECONDS = 0x7fff_ffff;
export const SETTINGS_ESP_PROTOCOL = 50; // IANA protocol number of ESP (RFC 4303 §2)
const U32_MAX = 0xffff_ffff;

class Reader {
  private off = 0;
  constructor(
    readonly what: string,
    private readonly bytes: Uint8Array,
  ) {}

  fail(reason: DecodeErrorReason, detail: string): never {
    throw new DecodeError(this.what, reason, detail);
  }

  take(n: number, field: string): Uint8Array {
    const left = this.bytes.length - this.off;
    if (left < n) this.fail('truncated', `${field} needs ${n} bytes at offset ${this.off}, ${left} left`);
    const v = this.bytes.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  uint(bytes: 1 | 2 | 4, field: string): number {
    const b = this.take(bytes, field);
    let v = 0;
    for (let i = 0; i < bytes; i++) v = v * 256 + b[i]!;
    return v;
  }

  end(): void {
    if (this.off !== this.bytes.length) this.fail('bad-length', `${this.bytes.length - this.off} bytes after the last field`);
  }
}

class Writer {
  private buf = Buffer.alloc(128);
  private off = 0;

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  uint(bytes: 1 | 2 | 4, v: number): void {
    this.room(bytes);
    this.buf.writeUIntBE(v, this.off, bytes);
    this.off += bytes;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.off));
  }
}

interface Field<T> {
  write(w: Writer, v: T, name: string): void; // RangeError when v cannot be encoded
  read(r: Reader, name: string): T; // DecodeError when the bytes are malformed
}

function bad(name: string, v: unknown, rule: string): never {
  throw new RangeError(`${name} ${typeof v === 'string' ? JSON.stringify(v) : String(v)}: ${rule}`);
}

function uint(bytes: 1 | 2 | 4, min: number, max: number): Field<number> {
  const rule = `must be an integer ${min}..${max}`;
  return {
    write(w, v, name) {
      if (!Number.isInteger(v) || v < min || v > max) bad(name, v, rule);
      w.uint(bytes, v);
    },
    read(r, name) {
      const v = r.uint(bytes, name);
      if (v < min || v > max) r.fail('bad-value', `${name} ${v} ${rule}`);
      return v;
    },
  };
}

// A u8 that stands for one of a few named values.
function named<T extends string | boolean>(values: ReadonlyArray<readonly [T, number]>): Field<T> {
  return {
    write(w, v, name) {
      const hit = values.find(([k]) => k === v);
      if (hit === undefined) bad(name, v, `not one of ${values.map(([k]) => String(k)).join(', ')}`);
      w.uint(1, hit[1]);
    },
    read(r, name) {
      const n = r.uint(1, name);
      const hit = values.find(([, code]) => code === n);
      if (hit === undefined) return r.fail('bad-value', `${name} ${n} unknown`);
      return hit[0];
    },
  };
}

// Maps a field's values (e.g. a u16 where 0 means "none" to a nullable object).
function mapped<W, T>(inner: Field<W>, toWire: (v: T, name: string) => W, fromWire: (w: W) => T): Field<T> {
  return {
    write: (w, v, name) => inner.write(w, toWire(v, name), name),
    read: (r, name) => fromWire(inner.read(r, name)),
  };
}

const address: Field<string> = {
  write(w, v, name) {
    let b: Uint8Array;
    try {
      b = parseIp(v);
    } catch {
      bad(name, v, 'not an IPv4 or IPv6 address');
    }
    w.uint(1, b.length);
    w.bytes(b);
  },
  read(r, name) {
    const n = r.uint(1, `${name} length`);
    if (n !== 4 && n !== 16) r.fail('bad-length', `${name} of ${n} bytes (an address has 4 or 16)`);
    return formatIp(r.take(n, name));
  },
};

// Length-prefixed bytes; min 0 makes an empty value stand for null.
function lengthPrefixed(min: number, max: number): Field<Uint8Array> {
  return {
    write(w, v, name) {
      if (!(v instanceof Uint8Array) || v.length < min || v.length > max) bad(name, v?.length, `length must be ${min}..${max} bytes`);
      w.uint(1, v.length);
      w.bytes(v);
    },
    read(r, name) {
      const n = r.uint(1, `${name} length`);
      if (n < min || n > max) r.fail('bad-length', `${name} of ${n} bytes, must be ${min}..${max}`);
      return new Uint8Array(r.take(n, name)); // a copy: keys must not alias a packet buffer
    },
  };
}

const key = lengthPrefixed(1, SETTINGS_MAX_KEY_BYTES);
const optionalKey = mapped<Uint8Array, Uint8Array | null>(
  lengthPrefixed(0, SETTINGS_MAX_KEY_BYTES),
  (v, name) => {
    if (v !== null && v.length === 0) bad(name, 'empty key', 'an integrity key has at least 1 byte (null for none)');
    return v ?? new Uint8Array(0);
  },
  (b) => (b.length === 0 ? null : b),
);

function hexId(bytes: number): Field<string> {
  const pattern = new RegExp(`^[0-9a-f]{${2 * bytes}}$`);
  return {
    write(w, v, name) {
      if (typeof v !== 'string' || !pattern.test(v)) bad(name, v, `must be ${2 * bytes} lower-case hex characters`);
      w.bytes(Buffer.from(v, 'hex'));
    },
    read: (r, name) => Buffer.from(r.take(bytes, name)).toString('hex'),
  };
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function text(maxBytes: number): Field<string> {
  return {
    write(w, v, name) {
      const b = Buffer.from(typeof v === 'string' ? v : '', 'utf8');
      // Lone surrogates would become U+FFFD and not come back as they went.
      if (typeof v !== 'string' || b.toString('utf8') !== v) bad(name, v, 'must be well-formed Unicode text');
      if (b.length > maxBytes) bad(name, `${b.length} bytes`, `longer than ${maxBytes} bytes of UTF-8`);
      w.uint(1, b.length);
      w.bytes(b);
    },
    read(r, name) {
      const n = r.uint(1, `${name} length`);
      if (n > maxBytes) r.fail('bad-length', `${name} of ${n} bytes > ${maxBytes}`);
      const b = r.take(n, name);
      try {
        return utf8Decoder.decode(b);
      } catch {
        return r.fail('bad-value', `${name} is not valid UTF-8`);
      }
    },
  };
}

function list<T>(item: Field<T>): Field<readonly T[]> {
  return {
    write(w, v, name) {
      if (!Array.isArray(v) || v.length > 0xffff) bad(name, v?.length, 'must be a list of at most 65535 items');
      w.uint(2, v.length);
      v.forEach((x, i) => item.write(w, x, `${name}[${i}]`));
    },
    read(r, name) {
      const n = r.uint(2, `${name} count`);
      const out: T[] = [];
      // Bounded by the item: every item takes bytes, so a false count runs out ('truncated').
      for (let i = 0; i < n; i++) out.push(item.read(r, `${name}[${i}]`));
      return out;
    },
  };
}

type Fields<T> = { readonly [K in keyof T]-?: Field<T[K]> };

// The fields in the order the description lists them. `check` states what must hold
// between fields; it runs before encoding (RangeError) and after decoding (DecodeError).
function struct<T extends object>(fields: Fields<T>, check?: (v: T) => string | null): Field<T> {
  const keys = Object.keys(fields) as (keyof T & string)[];
  return {
    write(w, v, name) {
      if (typeof v !== 'object' || v === null) bad(name, v, 'must be an object');
      const problem = check?.(v) ?? null;
      if (problem !== null) throw new RangeError(`${name}: ${problem}`);
      for (const k of keys) fields[k].write(w, v[k], `${name}.${k}`);
    },
    read(r, name) {
      const out = {} as Record<string, unknown>;
      for (const k of keys) out[k] = fields[k].read(r, `${name}.${k}`);
      const v = out as T;
      const problem = check?.(v) ?? null;
      if (problem !== null) r.fail('bad-value', `${name}: ${problem}`);
      return v;
    },
  };
}

// ------------------------------------------------------------------------ descriptions

const requestId = uint(4, 1, U32_MAX);
const spi = uint(4, SETTINGS_MIN_SPI, U32_MAX);

const flow: Field<FlowSelector | null> = mapped(
  struct<{ kind: number; protocol: number; port: number }>(
    { kind: uint(1, 0, 2), protocol: uint(1, 0, 255), port: uint(2, 0, 0xffff) },
    ({ kind, protocol, port }) =>
      kind === 0 && (protocol !== 0 || port !== 0)
        ? 'no flow: protocol and port must be 0'
        : kind === 1 && port !== 0
          ? 'any port: port must be 0'
          : kind === 2 && port === 0
            ? 'port 0 is not a port (null means any)'
            : null,
  ),
  (f, name) => {
    if (f === null) return { kind: 0, protocol: 0, port: 0 };
    if (typeof f !== 'object') bad(name, f, 'must be a flow selector or null');
    if (f.port === 0) bad(`${name}.port`, 0, 'must be 1..65535 or null (any)');
    return { kind: f.port === null ? 1 : 2, protocol: f.protocol, port: f.port ?? 0 };
  },
  (w) => (w.kind === 0 ? null : { protocol: w.protocol, port: w.kind === 1 ? null : w.port }),
);

const policy = struct<AppliedPolicy>({
  protocol: named([['esp', SETTINGS_ESP_PROTOCOL]] as const),
  mode: named([
    ['tunnel', 1],
    ['transport', 2],
  ] as const),
  encryption: struct<AppliedPolicy['encryption']>({ id: uint(2, 1, 0xffff), keyBits: uint(2, 0, 0xffff) }),
  integrity: mapped<number, AppliedPolicy['integrity']>(
    uint(2, 0, 0xffff),
    (v, name) => {
      if (v !== null && v.id === 0) bad(`${name}.id`, 0, 'INTEG 0 is NONE: use null');
      return v === null ? 0 : v.id;
    },
    (id) => (id === 0 ? null : { id }),
  ),
  esn: named([
    [false, 0],
    [true, 1],
  ] as const),
  lifetimeSeconds: uint(4, 1, SETTINGS_MAX_LIFETIME_SECONDS),
});

const saParameters = struct<SaParameters>({ spi, encryptionKey: key, integrityKey: optionalKey });

const REQUEST = struct<SettingsRequest>({ requestId, requester: address, peer: address, spi, flow });

const DISTRIBUTION = struct<SettingsDistribution>(
  {
    requestId,
    requester: address,
    peer: address,
    flow,
    entryId: hexId(8),
    policy,
    toPeer: saParameters,
    fromPeer: saParameters,
  },
  (d) => {
    const integrity = d.policy.integrity !== null;
    for (const sa of [d.toPeer, d.fromPeer]) {
      if ((sa.integrityKey !== null) !== integrity) return 'an integrity key is present exactly when the policy names an integrity transform';
    }
    if (d.toPeer.encryptionKey.length !== d.fromPeer.encryptionKey.length || d.toPeer.integrityKey?.length !== d.fromPeer.integrityKey?.length) {
      return 'both directions use the same transforms, so their keys have the same lengths';
    }
    return null;
  },
);

const ACTIVATION = struct<SettingsActivation>({ peer: address, flow });

const ERROR = struct<SettingsError>(
  {
    kind: named<SettingsErrorKind>([
      ['no-policy', 1],
      ['mismatch', 2],
      ['no-response', 3],
      ['refused', 4],
    ]),
    requestId,
    requester: address,
    peer: address,
    flow,
    entries: list(struct<SettingsError['entries'][number]>({ requestId, spi })),
    reason: text(SETTINGS_MAX_REASON_BYTES),
  },
  (e) => (e.kind !== 'mismatch' && e.entries.length > 0 ? `a ${e.kind} error carries no entry list` : null),
);

// ------------------------------------------------------------------------------ items

type Kind = SettingsMessage['kind'];

const ITEM_TYPE: Readonly<Record<Kind, number>> = {
  request: ControlItemType.SETTINGS_REQUEST,
  distribution: ControlItemType.SETTINGS_DISTRIBUTION,
  activation: ControlItemType.SETTINGS_ACTIVATION,
  error: ControlItemType.SETTINGS_ERROR,
};

const KIND_OF_TYPE: ReadonlyMap<number, Kind> = new Map((Object.keys(ITEM_TYPE) as Kind[]).map((k) => [ITEM_TYPE[k], k]));

export function isSettingsItemType(type: number): boolean {
  return KIND_OF_TYPE.has(type);
}

// Always critical: an agent that cannot read a settings item must not act on the rest of
// the message as if it were complete (RFC 7296 §2.5's rule, control-types.ts).
export function encodeSettingsItem(m: SettingsMessage): ControlItem {
  const w = new Writer();
  switch (m.kind) {
    case 'request':
      REQUEST.write(w, m.request, 'request');
      break;
    case 'distribution':
      DISTRIBUTION.write(w, m.distribution, 'distribution');
      break;
    case 'activation':
      ACTIVATION.write(w, m.activation, 'activation');
      break;
    case 'error':
      ERROR.write(w, m.error, 'error');
      break;
    default:
      bad('settings message kind', (m as { kind: unknown }).kind, 'unknown');
  }
  return { type: ITEM_TYPE[m.kind], critical: true, value: w.result() };
}

export function decodeSettingsItem(item: ControlItem): SettingsMessage {
  const kind = KIND_OF_TYPE.get(item.type);
  if (kind === undefined) throw new DecodeError('settings', 'bad-value', `item type 0x${item.type.toString(16)} is not a settings item`);
  const r = new Reader(`settings-${kind}`, item.value);
  let m: SettingsMessage;
  switch (kind) {
    case 'request':
      m = { kind, request: REQUEST.read(r, 'request') };
      break;
    case 'distribution':
      m = { kind, distribution: DISTRIBUTION.read(r, 'distribution') };
      break;
    case 'activation':
      m = { kind, activation: ACTIVATION.read(r, 'activation') };
      break;
    case 'error':
      m = { kind, error: ERROR.read(r, 'error') };
      break;
  }
  r.end();
  return m;
}

// The settings items of a message, decoded, in order; items of other services (and
// unassigned numbers of the settings range, which the envelope's critical rule already
// vetted) are left out. One malformed settings item makes the whole call a DecodeError.
export function readSettingsItems(items: readonly ControlItem[]): SettingsMessage[] {
  const out: SettingsMessage[] = [];
  for (const item of items) if (isSettingsItemType(item.type)) out.push(decodeSettingsItem(item));
  return out;
}
