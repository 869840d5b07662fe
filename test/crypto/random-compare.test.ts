// CSPRNG helpers and constant-time comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CryptoError } from '../../src/crypto/types.js';
import { randomBytes, randomFill, randomSpi, randomUint32InRange } from '../../src/crypto/random.js';
import { constantTimeEqual } from '../../src/crypto/compare.js';

test('randomBytes gives the requested length and differs between calls', () => {
  for (const n of [0, 1, 16, 1000]) assert.equal(randomBytes(n).length, n);
  assert.notDeepEqual(randomBytes(32), randomBytes(32));
  assert.throws(() => randomBytes(-1), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-argument');
  assert.throws(() => randomBytes(1.5), CryptoError);
  const buf = new Uint8Array(64);
  assert.equal(randomFill(buf), buf);
  assert.ok(buf.some((b) => b !== 0));
});

test('randomUint32InRange stays inside the range, including the full uint32 range', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (a, b) => {
      const [min, max] = a <= b ? [a, b] : [b, a];
      const x = randomUint32InRange(min, max);
      assert.ok(Number.isInteger(x) && x >= min && x <= max);
    }),
    { numRuns: 500 },
  );
  assert.equal(randomUint32InRange(7, 7), 7);
  const full = randomUint32InRange(0, 0xffffffff);
  assert.ok(full >= 0 && full <= 0xffffffff);
});

test('randomUint32InRange rejects draws in the biased tail (deterministic source)', () => {
  // range 3: 2^32 mod 3 = 1, so the limit is 2^32 - 1 and the draw 0xffffffff is rejected.
  const draws = [0xffffffff, 0xffffffff, 5];
  const source = () => draws.shift()!;
  assert.equal(randomUint32InRange(10, 12, source), 10 + (5 % 3));
  assert.equal(draws.length, 0, 'both tail draws were consumed and rejected');
  // range 2^31 + 1: limit 2^31 + 1; 0x80000001 and above are rejected.
  const seq = [0x80000001, 0xfffffffe, 0x80000000];
  assert.equal(randomUint32InRange(0, 0x80000000, () => seq.shift()!), 0x80000000);
  // Without rejection, a draw at the limit would map to min: show the rejection mattered.
  const seq2 = [0x80000001, 0];
  assert.equal(randomUint32InRange(100, 0x80000064, () => seq2.shift()!), 100);
  assert.equal(seq2.length, 0);
});

test('randomUint32InRange is roughly uniform over a small range', () => {
  const counts = new Array<number>(6).fill(0);
  const n = 6000;
  for (let i = 0; i < n; i++) counts[randomUint32InRange(1, 6) - 1]!++;
  // Chi-square with 5 degrees of freedom; 20.5 is the 0.999 quantile.
  const chi = counts.reduce((s, c) => s + (c - n / 6) ** 2 / (n / 6), 0);
  assert.ok(chi < 20.5, `chi-square ${chi.toFixed(2)} for ${counts.join(',')}`);
});

test('randomUint32InRange refuses bad ranges', () => {
  const bad = (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-argument';
  assert.throws(() => randomUint32InRange(5, 4), bad);
  assert.throws(() => randomUint32InRange(-1, 4), bad);
  assert.throws(() => randomUint32InRange(0, 0x100000000), bad);
  assert.throws(() => randomUint32InRange(0.5, 4), bad);
});

test('randomSpi avoids the reserved SPI values 0..255 (RFC 4303 §2.1)', () => {
  for (let i = 0; i < 2000; i++) {
    const spi = randomSpi();
    assert.ok(spi >= 256 && spi <= 0xffffffff);
  }
});

test('constantTimeEqual: equal content, unequal content, unequal lengths', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
      assert.equal(constantTimeEqual(a, b), Buffer.from(a).equals(Buffer.from(b)));
      assert.equal(constantTimeEqual(a, Uint8Array.from(a)), true);
    }),
    { numRuns: 500 },
  );
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abd')), false);
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd')), false, 'prefix is not equal');
  assert.equal(constantTimeEqual(Buffer.from('abcd'), Buffer.from('abc')), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(1)), false);
});
