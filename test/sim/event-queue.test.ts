// The agenda pops events in (time, insertion order) order, whatever the push order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventQueue } from '../../src/sim/event-queue.js';

test('pops in (time, insertion sequence) order; equal times keep insertion order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (times) => {
      const q = new EventQueue<number>();
      times.forEach((t, i) => q.push(t, i));
      const expected = times.map((t, i) => ({ t, i })).sort((a, b) => a.t - b.t || a.i - b.i);
      const got: { t: number; i: number }[] = [];
      assert.equal(q.size, times.length);
      while (q.size > 0) {
        const peek = q.peekTime();
        const e = q.pop()!;
        assert.equal(e.timeMs, peek);
        got.push({ t: e.timeMs, i: e.event });
      }
      assert.equal(q.pop(), undefined);
      assert.equal(q.peekTime(), Infinity);
      return JSON.stringify(got) === JSON.stringify(expected);
    }),
    { numRuns: 500, seed: 11 },
  );
});

test('interleaved pushes and pops stay ordered', () => {
  const q = new EventQueue<string>();
  q.push(5, 'a');
  q.push(1, 'b');
  assert.equal(q.pop()?.event, 'b');
  q.push(5, 'c');
  q.push(3, 'd');
  assert.deepEqual([q.pop()?.event, q.pop()?.event, q.pop()?.event], ['d', 'a', 'c']);
  assert.throws(() => q.push(Number.NaN, 'x'), RangeError);
});
