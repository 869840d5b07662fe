// Payload chains, RFC 7296 §3.2: every payload starts with the generic header
//
//   Next Payload | C (1 bit) | RESERVED (7 bits) | Payload Length (2, header included)
//
// and the first payload's type is in the IKE header (or, inside SK, in the SK payload's
// Next Payload field). The chain ends at Next Payload 0, which must be exactly where the
// bytes end. SK (§3.14) and SKF (RFC 7383 §2.5) must be the last payload: their Next
// Payload names the first payload inside the encryption, and they never appear inside it.
//
// Unknown payload types (RFC 7296 §2.5): skipped (kept as 'unknown') when the critical bit
// is clear; when it is set the message must be rejected and a request answered with
// UNSUPPORTED_CRITICAL_PAYLOAD carrying the type, so decoding throws
// IkeCriticalPayloadError (a DecodeError, reason 'unsupported') with that type, once the
// whole chain is known to be well-formed. The critical bit of known types "MUST be ignored
// by the recipient" and is always sent clear.
import { DecodeError } from '../errors.js';
import { PayloadType } from './constants.js';
import { bad, isBytes, Reader, Writer } from './codec.js';
import { descriptionOfType, PAYLOADS, type KnownPayloadKind } from './payloads.js';
import type { DecodedPayloads, IkePayload, SkfPayload } from './types.js';

export const GENERIC_HEADER_BYTES = 4;
const CRITICAL = 0x80;
const MAX_PAYLOAD_BYTES = 0xffff;

export class IkeCriticalPayloadError extends DecodeError {
  readonly payloadType: number;
  constructor(payloadType: number) {
    super('ike-payload', 'unsupported', `unknown payload type ${payloadType} has the critical bit set`);
    this.payloadType = payloadType;
  }
}

export function payloadTypeOf(p: IkePayload): number {
  if (p.kind === 'unknown') return p.type;
  const d = PAYLOADS[p.kind];
  if (d === undefined) bad('payload kind', (p as { kind: unknown }).kind, 'unknown');
  return d.type;
}

function isEncrypted(p: IkePayload): p is Extract<IkePayload, { kind: 'sk' | 'skf' }> {
  return p.kind === 'sk' || p.kind === 'skf';
}

function checkU8(name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xff) bad(name, v, 'must be an integer 0..255');
}

// Writes the chain; returns the type of its first payload (0 for an empty chain).
// `after`: the Next Payload of the last payload (default 0), e.g. SK when the chain is
// what comes before an SK payload that another layer appends.
export function writePayloads(w: Writer, payloads: readonly IkePayload[], name = 'payloads', after: number = PayloadType.NONE): number {
  if (!Array.isArray(payloads)) bad(name, payloads, 'must be an array');
  const types = payloads.map((p, i) => {
    if (typeof p !== 'object' || p === null) bad(`${name}[${i}]`, p, 'must be an object');
    return payloadTypeOf(p);
  });
  payloads.forEach((p, i) => {
    const at = `${name}[${i}]`;
    let next = types[i + 1] ?? after;
    if (isEncrypted(p)) {
      if (i !== payloads.length - 1) throw new RangeError(`${at}: ${p.kind.toUpperCase()} must be the last payload`);
      checkU8(`${at}.nextPayload`, p.nextPayload);
      if (p.kind === 'skf' && p.fragmentNumber > 1 && p.nextPayload !== 0) {
        throw new RangeError(`${at}: fragment ${p.fragmentNumber} has Next Payload 0 (RFC 7383 §2.5)`);
      }
      next = p.nextPayload;
    }
    const start = w.length;
    w.u8(next);
    if (p.kind === 'unknown') {
      checkU8(`${at}.type`, p.type);
      if (p.type === PayloadType.NONE || descriptionOfType(p.type) !== undefined) bad(`${at}.type`, p.type, 'is not an unknown payload type');
      if (!isBytes(p.body)) bad(`${at}.body`, p.body, 'must be a Uint8Array');
      w.u8(p.critical === true ? CRITICAL : 0);
      w.u16(0);
      w.bytes(p.body);
    } else {
      w.u8(0);
      w.u16(0);
      PAYLOADS[p.kind as KnownPayloadKind].body.write(w, p, at, p as unknown as Record<string, unknown>);
    }
    const len = w.length - start;
    if (len > MAX_PAYLOAD_BYTES) bad(at, `${len} bytes`, 'a payload is at most 65535 bytes');
    w.patchU16(start + 2, len);
  });
  return types[0] ?? after;
}

export function encodePayloads(payloads: readonly IkePayload[]): { readonly firstPayload: number; readonly bytes: Uint8Array } {
  const w = new Writer(512);
  const firstPayload = writePayloads(w, payloads);
  return { firstPayload, bytes: w.result() };
}

// The body (after the generic header) of one payload, as it would be sent: e.g. the
// "RestOfInitIDPayload" of RFC 7296 §2.15 for an ID payload this side sends.
export function encodePayloadBody(p: IkePayload): Uint8Array {
  const w = new Writer(128);
  writePayloads(w, [p]);
  return w.result().slice(GENERIC_HEADER_BYTES);
}

interface RawPayload {
  readonly type: number;
  readonly next: number;
  readonly critical: boolean;
  readonly body: Uint8Array;
}

export interface DecodePayloadsOptions {
  // SK/SKF may end the chain (an IKE message); false inside SK plaintext (the default).
  readonly allowEncrypted?: boolean;
}

// Decodes the chain that starts with `firstPayload` and fills `bytes` exactly.
export function decodePayloads(firstPayload: number, bytes: Uint8Array, opts: DecodePayloadsOptions = {}): DecodedPayloads {
  const r = new Reader('ike-payload', bytes);
  const raw: RawPayload[] = [];
  let type = firstPayload;
  while (type !== PayloadType.NONE) {
    const at = `payload ${raw.length} (type ${type})`;
    const next = r.u8(`${at} next payload`);
    const flags = r.u8(`${at} flags`);
    const len = r.u16(`${at} length`);
    if (len < GENERIC_HEADER_BYTES) r.fail('bad-length', `${at} length ${len} < ${GENERIC_HEADER_BYTES}`);
    const body = r.view(len - GENERIC_HEADER_BYTES, `${at} body`);
    raw.push({ type, next, critical: (flags & CRITICAL) !== 0, body });
    if (type === PayloadType.SK || type === PayloadType.SKF) {
      if (opts.allowEncrypted !== true) r.fail('bad-value', `${at}: an encrypted payload inside an encrypted payload`);
      if (r.left !== 0) r.fail('bad-length', `${at}: ${r.left} bytes after the encrypted payload, which must be the last`);
      break;
    }
    type = next;
  }
  if (type === PayloadType.NONE && r.left !== 0) r.fail('bad-length', `${r.left} bytes after the last payload`);
  const critical = raw.find((p) => p.critical && descriptionOfType(p.type) === undefined);
  if (critical !== undefined) throw new IkeCriticalPayloadError(critical.type);

  const payloads = raw.map((p, i): IkePayload => {
    const d = descriptionOfType(p.type);
    if (d === undefined) return { kind: 'unknown', type: p.type, critical: false, body: new Uint8Array(p.body) };
    const what = `ike-${d.kind}`;
    const br = new Reader(what, p.body);
    const value = d.body.read(br, `payload ${i} ${d.name}`, {});
    br.done(`payload ${i} ${d.name}`);
    if (d.kind === 'sk' || d.kind === 'skf') {
      const enc = { kind: d.kind, nextPayload: p.next, ...value } as Extract<IkePayload, { kind: 'sk' | 'skf' }>;
      if (enc.kind === 'skf' && (enc as SkfPayload).fragmentNumber > 1 && p.next !== 0) {
        br.fail('bad-value', `fragment ${(enc as SkfPayload).fragmentNumber} has Next Payload ${p.next}, must be 0 (RFC 7383 §2.5)`);
      }
      return enc;
    }
    return { kind: d.kind, ...value } as IkePayload;
  });
  return { payloads, rawBodies: raw.map((p) => new Uint8Array(p.body)) };
}
