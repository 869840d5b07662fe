// The small declarative codec the IKEv2 payload descriptions are written in: a Field<T>
// knows how to write a value (RangeError when the value cannot be sent) and how to read it
// back (DecodeError for anything malformed, bounds checked before every read). A payload is
// described once, as a `struct` of fields in wire order, and that one description drives
// both directions. Decoded byte strings are copies (plain Uint8Array), never views into the
// packet buffer.
import { DecodeError, type DecodeErrorReason } from '../errors.js';

export class Reader {
  private off: number;
  constructor(
    readonly what: string,
    private readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.off = start;
  }

  get offset(): number {
    return this.off;
  }

  get left(): number {
    return this.end - this.off;
  }

  fail(reason: DecodeErrorReason, detail: string): never {
    throw new DecodeError(this.what, reason, detail);
  }

  private need(n: number, field: string): void {
    if (this.end - this.off < n) this.fail('truncated', `${field} needs ${n} bytes at offset ${this.off}, ${this.end - this.off} left`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.off++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = (this.bytes[this.off]! << 8) | this.bytes[this.off + 1]!;
    this.off += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.bytes;
    const o = this.off;
    this.off += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  // A view of the next n bytes (callers copy what they keep).
  view(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.bytes.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  copy(n: number, field: string): Uint8Array {
    return new Uint8Array(this.view(n, field));
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.off += n;
  }

  // A reader over the next n bytes (a substructure), advancing this one past them.
  sub(n: number, field: string, what = this.what): Reader {
    this.need(n, field);
    const r = new Reader(what, this.bytes, this.off, this.off + n);
    this.off += n;
    return r;
  }

  done(field: string): void {
    if (this.off !== this.end) this.fail('bad-length', `${this.end - this.off} bytes after ${field}`);
  }
}

export class Writer {
  private buf: Uint8Array;
  private off = 0;

  constructor(sizeHint = 256) {
    this.buf = new Uint8Array(sizeHint);
  }

  get length(): number {
    return this.off;
  }

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.off + n));
    next.set(this.buf.subarray(0, this.off));
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.off++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.buf[this.off++] = v >>> 8;
    this.buf[this.off++] = v & 0xff;
  }

  u32(v: number): void {
    this.room(4);
    this.buf[this.off++] = v >>> 24;
    this.buf[this.off++] = (v >>> 16) & 0xff;
    this.buf[this.off++] = (v >>> 8) & 0xff;
    this.buf[this.off++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  zeros(n: number): void {
    this.room(n);
    this.buf.fill(0, this.off, this.off + n);
    this.off += n;
  }

  patchU8(at: number, v: number): void {
    this.buf[at] = v;
  }

  patchU16(at: number, v: number): void {
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
  }

  patchU32(at: number, v: number): void {
    this.buf[at] = v >>> 24;
    this.buf[at + 1] = (v >>> 16) & 0xff;
    this.buf[at + 2] = (v >>> 8) & 0xff;
    this.buf[at + 3] = v & 0xff;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.off);
  }
}

// `ctx` is the object being written (write) or the fields read so far (read), so that a
// field may depend on an earlier one (a length or count given before the data it sizes).
export interface Field<T> {
  write(w: Writer, v: T, name: string, ctx: Record<string, unknown>): void;
  read(r: Reader, name: string, ctx: Record<string, unknown>): T;
}

export function bad(name: string, v: unknown, rule: string): never {
  const shown = typeof v === 'string' ? JSON.stringify(v) : v instanceof Uint8Array ? `(${v.length} bytes)` : String(v);
  throw new RangeError(`${name} ${shown}: ${rule}`);
}

export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

// ------------------------------------------------------------------------------ numbers

export function uint(bytes: 1 | 2 | 4, min = 0, max = bytes === 1 ? 0xff : bytes === 2 ? 0xffff : 0xffff_ffff): Field<number> {
  const rule = `must be an integer ${min}..${max}`;
  return {
    write(w, v, name) {
      if (!Number.isInteger(v) || v < min || v > max) bad(name, v, rule);
      if (bytes === 1) w.u8(v);
      else if (bytes === 2) w.u16(v);
      else w.u32(v);
    },
    read(r, name) {
      const v = bytes === 1 ? r.u8(name) : bytes === 2 ? r.u16(name) : r.u32(name);
      if (v < min || v > max) r.fail('bad-value', `${name} ${v} ${rule}`);
      return v;
    },
  };
}

export const u8 = uint(1);
export const u16 = uint(2);
export const u32 = uint(4);

// RESERVED octets: "MUST be sent as zero; MUST be ignored on receipt" (RFC 7296 §3.2 and
// every payload of §3), so they are written as zeros and skipped when read.
export function reserved(n: number): Field<undefined> {
  return {
    write: (w) => w.zeros(n),
    read(r, name) {
      r.skip(n, name);
      return undefined;
    },
  };
}

// ------------------------------------------------------------------------------- bytes

function checkBytes(name: string, v: unknown, min: number, max: number): asserts v is Uint8Array {
  if (!isBytes(v)) bad(name, v, 'must be a Uint8Array');
  if (v.length < min || v.length > max) bad(name, v, max === Infinity ? `needs at least ${min} bytes` : `length must be ${min}..${max} bytes`);
}

export function fixedBytes(n: number): Field<Uint8Array> {
  return {
    write(w, v, name) {
      checkBytes(name, v, n, n);
      w.bytes(v);
    },
    read: (r, name) => r.copy(n, name),
  };
}

// The rest of the structure being read; `max` bounds what an encoder may produce.
export function restBytes(min = 0, max = Infinity): Field<Uint8Array> {
  return {
    write(w, v, name) {
      checkBytes(name, v, min, max);
      w.bytes(v);
    },
    read(r, name) {
      const n = r.left;
      if (n < min) r.fail(n === 0 && min > 0 ? 'truncated' : 'bad-length', `${name} of ${n} bytes, needs at least ${min}`);
      if (n > max) r.fail('bad-length', `${name} of ${n} bytes, at most ${max}`);
      return r.copy(n, name);
    },
  };
}

// Bytes whose length an earlier field gave (`lengthKey` names it in ctx).
export function sizedBytes(lengthKey: string): Field<Uint8Array> {
  return {
    write(w, v, name) {
      if (!isBytes(v)) bad(name, v, 'must be a Uint8Array');
      w.bytes(v);
    },
    read: (r, name, ctx) => r.copy(ctx[lengthKey] as number, name),
  };
}

// --------------------------------------------------------------------------- structure

export type Check<T> = (v: T) => string | null;

// A wire field of the struct whose value is not a property of T: `of` derives it from the
// value being written (a length, a count, a size); when read it is kept in ctx for later
// fields and dropped from the result.
export interface Hidden<T> {
  readonly hidden: string;
  readonly field: Field<number>;
  readonly of: (v: T) => number;
}

export type Entry<T> = { [K in keyof T & string]: readonly [K, Field<T[K]>] }[keyof T & string] | Field<undefined> | Hidden<T>;

export function hidden<T>(key: string, field: Field<number>, of: (v: T) => number): Hidden<T> {
  return { hidden: key, field, of };
}

function isHidden<T>(e: Entry<T>): e is Hidden<T> {
  return 'hidden' in e;
}

// Fields in wire order. `check` states what must hold between fields; it runs before
// writing (RangeError) and after reading (DecodeError 'bad-value'). A field that reads as
// `undefined` (an optional part) is left out of the result.
export function struct<T extends object>(entries: readonly Entry<T>[], check?: Check<T>): Field<T> {
  return {
    write(w, v, name) {
      if (typeof v !== 'object' || v === null) bad(name, v, 'must be an object');
      const problem = check?.(v) ?? null;
      if (problem !== null) throw new RangeError(`${name}: ${problem}`);
      const ctx = v as Record<string, unknown>;
      for (const e of entries) {
        if (Array.isArray(e)) {
          const [key, field] = e as readonly [string, Field<unknown>];
          field.write(w, ctx[key], `${name}.${key}`, ctx);
        } else if (isHidden(e as Entry<T>)) {
          const h = e as Hidden<T>;
          h.field.write(w, h.of(v), `${name}.${h.hidden}`, ctx);
        } else {
          (e as Field<undefined>).write(w, undefined, `${name} reserved`, ctx);
        }
      }
    },
    read(r, name) {
      const ctx: Record<string, unknown> = {};
      const out: Record<string, unknown> = {};
      for (const e of entries) {
        if (Array.isArray(e)) {
          const [key, field] = e as readonly [string, Field<unknown>];
          const value = field.read(r, `${name}.${key}`, ctx);
          ctx[key] = value;
          if (value !== undefined) out[key] = value;
        } else if (isHidden(e as Entry<T>)) {
          const h = e as Hidden<T>;
          ctx[h.hidden] = h.field.read(r, `${name}.${h.hidden}`, ctx);
        } else {
          (e as Field<undefined>).read(r, `${name} reserved`, ctx);
        }
      }
      const v = out as T;
      const problem = check?.(v) ?? null;
      if (problem !== null) r.fail('bad-value', `${name}: ${problem}`);
      return v;
    },
  };
}

export function field<K extends string, V>(key: K, f: Field<V>): readonly [K, Field<V>] {
  return [key, f] as const;
}

// Items until the end of the structure; with `countKey`, exactly that many (a count field
// read earlier), and they must still fill the structure (the caller's done() checks).
export function items<T>(item: Field<T>, opts: { min?: number; max?: number; countKey?: string } = {}): Field<readonly T[]> {
  const min = opts.min ?? 0;
  const max = opts.max ?? Infinity;
  return {
    write(w, v, name, ctx) {
      if (!Array.isArray(v)) bad(name, v, 'must be an array');
      if (v.length < min || v.length > max) bad(name, `${v.length} items`, `needs ${min}..${max} items`);
      v.forEach((x, i) => item.write(w, x, `${name}[${i}]`, ctx));
    },
    read(r, name, ctx) {
      const out: T[] = [];
      if (opts.countKey !== undefined) {
        const n = ctx[opts.countKey] as number;
        if (n < min || n > max) r.fail('bad-value', `${name}: count ${n}, must be ${min}..${max}`);
        // Every item takes at least one byte, so a false count runs out ('truncated').
        for (let i = 0; i < n; i++) out.push(item.read(r, `${name}[${i}]`, ctx));
        return out;
      }
      while (r.left > 0) {
        if (out.length === max) r.fail('bad-length', `${name}: more than ${max} items`);
        out.push(item.read(r, `${name}[${out.length}]`, ctx));
      }
      if (out.length < min) r.fail(min === 1 ? 'truncated' : 'bad-length', `${name}: ${out.length} items, needs at least ${min}`);
      return out;
    },
  };
}

// Maps a wire representation W to the typed value T (e.g. address bytes to canonical
// text). `fromWire` rejects malformed input through `fail` (DecodeError 'bad-value');
// `toWire` throws RangeError itself.
export function mapped<W, T>(
  inner: Field<W>,
  toWire: (v: T, name: string) => W,
  fromWire: (w: W, fail: (why: string) => never, name: string) => T,
): Field<T> {
  return {
    write: (w, v, name, ctx) => inner.write(w, toWire(v, name), name, ctx),
    read: (r, name, ctx) => fromWire(inner.read(r, name, ctx), (why) => r.fail('bad-value', `${name}: ${why}`), name),
  };
}

// Runs `field` over exactly the whole of `bytes`. DecodeError when anything is left over.
export function decodeWith<T>(field: Field<T>, what: string, bytes: Uint8Array): T {
  const r = new Reader(what, bytes);
  const v = field.read(r, what, {});
  r.done(what);
  return v;
}

export function encodeWith<T>(field: Field<T>, name: string, v: T, sizeHint?: number): Uint8Array {
  const w = new Writer(sizeHint);
  field.write(w, v, name, {});
  return w.result();
}
