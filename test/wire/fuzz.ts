// Shared fuzz properties for the wire decoders: random bytes, every truncation of a valid
// encoding, and every single-bit flip of it must either decode or throw DecodeError, never
// anything else (RangeError from a read, TypeError from undefined, ...).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/wire/errors.js';

export const RUNS = 500;

// Calls decode(bytes); returns the value, or undefined for a DecodeError. Any other throw
// fails the test with the input in the message.
export function decodeOrDecodeError<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof DecodeError) {
      assert.ok(e.what.length > 0 && e.message.length > 0, 'DecodeError without what/detail');
      return undefined;
    }
    assert.fail(`decoder threw ${String(e)} (not a DecodeError) for ${Buffer.from(bytes).toString('hex')}`);
  }
}

// A view into a larger buffer, so decoders that ignore byteOffset get caught.
export function offsetCopy(bytes: Uint8Array, before = 3): Uint8Array {
  const big = new Uint8Array(before + bytes.length + 5).fill(0xee);
  big.set(bytes, before);
  return big.subarray(before, before + bytes.length);
}

// Runs the three fuzz properties for one decoder. `valid` generates valid encodings.
// `check` may assert extra invariants on any decoded value (e.g. fields in range).
export function fuzzDecoder<T>(
  decode: (b: Uint8Array) => T,
  valid: fc.Arbitrary<Uint8Array>,
  check?: (value: T, input: Uint8Array) => void,
): void {
  const run = (b: Uint8Array) => {
    const v = decodeOrDecodeError(decode, b);
    if (v !== undefined && check !== undefined) check(v, b);
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (b) => run(offsetCopy(b))),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(valid, (b) => {
      for (let n = 0; n <= b.length; n++) run(offsetCopy(b.subarray(0, n)));
    }),
    { numRuns: Math.ceil(RUNS / 5) },
  );
  fc.assert(
    fc.property(valid, fc.nat(), (b, seed) => {
      if (b.length === 0) return;
      // every bit of short encodings, a spread of them for longer ones
      const bits = b.length * 8;
      const step = bits <= 512 ? 1 : Math.ceil(bits / 512);
      for (let bit = seed % step; bit < bits; bit += step) {
        const m = Uint8Array.from(b);
        m[bit >> 3]! ^= 0x80 >> (bit & 7);
        run(offsetCopy(m));
      }
    }),
    { numRuns: Math.ceil(RUNS / 5) },
  );
}

export function expectDecodeError(fn: () => unknown, reason: DecodeError['reason'], what?: string): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.equal(e.reason, reason, `reason (${e.message})`);
    if (what !== undefined) assert.equal(e.what, what);
    assert.equal(e.code, `decode.${reason}`);
    return e;
  }
  assert.fail(`expected DecodeError ${reason}, nothing thrown`);
}

export const arbBytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
export const ipv4Addr = () => fc.uint8Array({ minLength: 4, maxLength: 4 });
export const ipv6Addr = () => fc.uint8Array({ minLength: 16, maxLength: 16 });
export const u16 = () => fc.integer({ min: 0, max: 0xffff });
export const u32 = () => fc.integer({ min: 0, max: 0xffffffff });

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}
