// The control-channel envelope: a typed, versioned message with a message ID and a list
// of typed items (TLVs). The envelope knows nothing about what items mean; each service
// has its own item codecs (control-keyroll.ts, later control-settings.ts, ...).
//
//   0       1       2       3
//   +-------+-------+-------+-------+
//   |version| type  | flags |  rsv  |   version = 1, flags and reserved must be 0
//   +-------+-------+-------+-------+
//   |          message ID           |   uint32, never 0; a reply carries its request's ID
//   +-------+-------+-------+-------+
//   | item type (C) | item length   |   bit 15 of the type = critical
//   +-------+-------+-------+-------+
//   |  item value (length bytes)    |   ... items until the end of the message
//
// Strict: every field is checked, the items must fill the message exactly, and anything
// malformed is a DecodeError (never a RangeError from a buffer read).
import { DecodeError } from './errors.js';
import { CONTROL_ITEM_CRITICAL, CONTROL_VERSION, ControlMessageType, type ControlMessageTypeValue } from './control-types.js';

export const CONTROL_HEADER_BYTES = 8;
export const CONTROL_ITEM_HEADER_BYTES = 4;
export const CONTROL_MAX_ITEMS = 64; // far above any real message; bounds decoder work
export const CONTROL_MAX_ITEM_BYTES = 0xffff;

export interface ControlItem {
  readonly type: number; // without the critical bit, 0..0x7fff
  readonly critical: boolean;
  readonly value: Uint8Array;
}

export interface ControlMessage {
  readonly type: ControlMessageTypeValue;
  readonly messageId: number; // uint32, not 0
  readonly items: readonly ControlItem[];
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(ControlMessageType));

function checkItem(item: ControlItem): void {
  if (!Number.isInteger(item.type) || item.type < 0 || item.type >= CONTROL_ITEM_CRITICAL) {
    throw new RangeError(`control item type ${item.type} not in 0..0x7fff (bit 15 is the critical flag)`);
  }
  if (item.value.length > CONTROL_MAX_ITEM_BYTES) throw new RangeError(`control item of ${item.value.length} bytes > 65535`);
}

export function controlMessageLength(m: ControlMessage): number {
  return m.items.reduce((n, it) => n + CONTROL_ITEM_HEADER_BYTES + it.value.length, CONTROL_HEADER_BYTES);
}

export function encodeControlMessage(m: ControlMessage): Uint8Array {
  if (!KNOWN_TYPES.has(m.type)) throw new RangeError(`control message type ${m.type} unknown`);
  if (!Number.isInteger(m.messageId) || m.messageId < 1 || m.messageId > 0xffff_ffff) {
    throw new RangeError(`control message ID ${m.messageId} not in 1..2^32-1`);
  }
  if (m.items.length > CONTROL_MAX_ITEMS) throw new RangeError(`${m.items.length} control items > ${CONTROL_MAX_ITEMS}`);
  for (const it of m.items) checkItem(it);
  const out = Buffer.alloc(controlMessageLength(m));
  out[0] = CONTROL_VERSION;
  out[1] = m.type;
  out.writeUInt32BE(m.messageId >>> 0, 4);
  let off = CONTROL_HEADER_BYTES;
  for (const it of m.items) {
    out.writeUInt16BE(it.type | (it.critical ? CONTROL_ITEM_CRITICAL : 0), off);
    out.writeUInt16BE(it.value.length, off + 2);
    out.set(it.value, off + CONTROL_ITEM_HEADER_BYTES);
    off += CONTROL_ITEM_HEADER_BYTES + it.value.length;
  }
  return out;
}

function fail(reason: ConstructorParameters<typeof DecodeError>[1], detail: string): never {
  throw new DecodeError('control', reason, detail);
}

// `known(type)` says which item types the caller understands; an unknown critical item
// makes the message 'unsupported' (the caller must not act on half a message). Item
// values are views into `bytes`, not copies.
export function decodeControlMessage(bytes: Uint8Array, known: (itemType: number) => boolean = () => true): ControlMessage {
  if (bytes.length < CONTROL_HEADER_BYTES) fail('truncated', `${bytes.length} bytes, header needs ${CONTROL_HEADER_BYTES}`);
  const version = bytes[0]!;
  if (version !== CONTROL_VERSION) fail('bad-version', `version ${version}, expected ${CONTROL_VERSION}`);
  const type = bytes[1]!;
  if (!KNOWN_TYPES.has(type)) fail('unsupported', `message type ${type}`);
  if (bytes[2] !== 0 || bytes[3] !== 0) fail('bad-value', `flags/reserved ${bytes[2]}/${bytes[3]} must be 0`);
  const messageId = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0;
  if (messageId === 0) fail('bad-value', 'message ID 0');
  const items: ControlItem[] = [];
  let off = CONTROL_HEADER_BYTES;
  while (off < bytes.length) {
    if (items.length === CONTROL_MAX_ITEMS) fail('bad-length', `more than ${CONTROL_MAX_ITEMS} items`);
    if (bytes.length - off < CONTROL_ITEM_HEADER_BYTES) {
      fail('truncated', `item header at ${off} needs ${CONTROL_ITEM_HEADER_BYTES} bytes, ${bytes.length - off} left`);
    }
    const rawType = (bytes[off]! << 8) | bytes[off + 1]!;
    const length = (bytes[off + 2]! << 8) | bytes[off + 3]!;
    const start = off + CONTROL_ITEM_HEADER_BYTES;
    if (length > bytes.length - start) fail('truncated', `item at ${off} claims ${length} bytes, ${bytes.length - start} left`);
    const critical = (rawType & CONTROL_ITEM_CRITICAL) !== 0;
    const itemType = rawType & ~CONTROL_ITEM_CRITICAL;
    if (critical && !known(itemType)) fail('unsupported', `unknown critical item type 0x${itemType.toString(16)}`);
    items.push({ type: itemType, critical, value: bytes.subarray(start, start + length) });
    off = start + length;
  }
  return { type: type as ControlMessageTypeValue, messageId, items };
}
