// The simulator's PRNG against published reference values, and the properties the
// simulator relies on (ranges, uniformity, fork independence, determinism).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Prng, splitmix64, type Xoshiro128State } from '../../src/sim/prng.js';

interface Vectors {
  splitmix64: { seed: string; outputs: string[] };
  xoshiro128starstar: { states: string[][]; outputs: string[] };
}
const v = JSON.parse(readFileSync(new URL('../../../test/vectors/sim-prng.json', import.meta.url), 'utf8')) as Vectors;

test('SplitMix64 reproduces the reference outputs for seed 1234567', () => {
  let state = BigInt(v.splitmix64.seed);
  for (const want of v.splitmix64.outputs) {
    const [out, next] = splitmix64(state);
    assert.equal(out, BigInt(want));
    state = next;
  }
});

test('xoshiro128** reproduces the reference outputs and state transitions', () => {
  const states = v.xoshiro128starstar.states.map((s) => s.map((w) => parseInt(w, 16)) as Xoshiro128State);
  const p = Prng.fromState(states[0]!);
  v.xoshiro128starstar.outputs.forEach((want, i) => {
    assert.equal(p.nextUint32(), parseInt(want, 16), `output ${i + 1}`);
    assert.deepEqual(p.state(), states[i + 1], `state after step ${i + 1}`);
  });
});

test('seeding: 64-bit seeds through SplitMix64, equal seeds equal streams, the all-zero state refused', () => {
  const a = Prng.fromSeed(42);
  const b = Prng.fromSeed(42n);
  const c = Prng.fromSeed(43);
  const xs = Array.from({ length: 8 }, () => a.nextUint32());
  assert.deepEqual(Array.from({ length: 8 }, () => b.nextUint32()), xs);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.nextUint32()), xs);
  // The first state words are the halves of the first two SplitMix64 outputs.
  const [o1, s1] = splitmix64(42n);
  const [o2] = splitmix64(s1);
  assert.deepEqual(Prng.fromSeed(42).state(), [Number(o1 & 0xffffffffn), Number(o1 >> 32n), Number(o2 & 0xffffffffn), Number(o2 >> 32n)]);
  assert.throws(() => Prng.fromState([0, 0, 0, 0]), RangeError);
});

test('forks depend only on the seed and the label, not on what was drawn before', () => {
  const a = Prng.fromSeed(7);
  const b = Prng.fromSeed(7);
  for (let i = 0; i < 100; i++) b.nextUint32();
  assert.deepEqual(a.fork('agent-1').bytes(32), b.fork('agent-1').bytes(32));
  assert.notDeepEqual(a.fork('agent-1').bytes(32), a.fork('agent-2').bytes(32));
  assert.notDeepEqual(Prng.fromSeed(8).fork('agent-1').bytes(32), a.fork('agent-1').bytes(32));
});

test('int, between, float, chance, bytes stay in range', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 0x1_0000_0000 }), (seed, n) => {
      const p = Prng.fromSeed(seed);
      for (let i = 0; i < 20; i++) {
        const x = p.int(n);
        const f = p.float();
        if (!(Number.isInteger(x) && x >= 0 && x < n && f >= 0 && f < 1)) return false;
      }
      const y = p.between(-5, 5);
      return y >= -5 && y <= 5 && p.bytes(7).length === 7 && p.chance(0) === false && p.chance(1) === true;
    }),
    { numRuns: 300, seed: 5 },
  );
  assert.throws(() => Prng.fromSeed(1).int(0), RangeError);
});

test('int(n) is uniform (chi-square, 10 buckets, 100,000 draws) and float mean is 1/2', () => {
  const p = Prng.fromSeed(2024);
  const counts = new Array<number>(10).fill(0);
  const N = 100_000;
  for (let i = 0; i < N; i++) counts[p.int(10)]! += 1;
  const expected = N / 10;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2} (9 degrees of freedom, p = 0.001 at 27.9)`);
  let sum = 0;
  for (let i = 0; i < N; i++) sum += p.float();
  assert.ok(Math.abs(sum / N - 0.5) < 0.005);
  let hits = 0;
  for (let i = 0; i < N; i++) if (p.chance(0.3)) hits += 1;
  assert.ok(Math.abs(hits / N - 0.3) < 0.005);
});
