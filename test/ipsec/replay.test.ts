// Anti-replay window (RFC 4303 §3.4.3, RFC 6479) and ESN inference (RFC 4303 Appendix A).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ReplayWindow,
  REPLAY_DUPLICATE,
  REPLAY_TOO_OLD,
  REPLAY_ZERO,
  REPLAY_WRAPPED,
  isValidReplayWindowSize,
} from '../../src/ipsec/replay.js';

const TWO_32 = 0x1_0000_0000;

// check + commit of a 64-bit number given as a JS number (exact below 2^53).
function accept(w: ReplayWindow, seq: number): number {
  const lo = seq % TWO_32;
  const hi = w.check(lo);
  if (hi >= 0) w.commit(hi, lo);
  return hi < 0 ? hi : hi * TWO_32 + lo;
}

describe('replay window without ESN', () => {
  test('duplicates and sequence number 0 are rejected', () => {
    const w = new ReplayWindow(64, false);
    assert.equal(w.check(0), REPLAY_ZERO);
    assert.equal(accept(w, 1), 1);
    assert.equal(w.check(1), REPLAY_DUPLICATE);
    assert.equal(accept(w, 3), 3);
    assert.equal(accept(w, 2), 2);
    assert.equal(w.check(2), REPLAY_DUPLICATE);
    assert.equal(w.check(3), REPLAY_DUPLICATE);
  });

  for (const size of [32, 64, 100, 1024, 4096]) {
    test(`window edges, size ${size}: top-size+1 accepted, top-size rejected`, () => {
      const w = new ReplayWindow(size, false);
      const top = 10 * size + 7;
      assert.equal(accept(w, top), top);
      assert.equal(w.check(top - size), REPLAY_TOO_OLD, 'exactly `size` behind the top');
      assert.equal(w.check(top - size - 1), REPLAY_TOO_OLD);
      assert.equal(accept(w, top - size + 1), top - size + 1, 'the oldest position inside the window');
      assert.equal(w.check(top - size + 1), REPLAY_DUPLICATE);
      // Every other position inside is still free exactly once.
      for (let s = top - size + 2; s < top; s++) assert.equal(accept(w, s), s);
      for (let s = top - size + 1; s <= top; s++) assert.equal(w.check(s), REPLAY_DUPLICATE);
      // One step ahead slides the window by one: the oldest falls out.
      assert.equal(accept(w, top + 1), top + 1);
      assert.equal(w.check(top - size + 1), REPLAY_TOO_OLD);
    });
  }

  test('a far jump ahead clears the bitmap: nothing from the old range is reported seen', () => {
    const w = new ReplayWindow(128, false);
    for (let s = 1; s <= 300; s++) accept(w, s);
    const far = 300 + 128 * 50 + 13;
    assert.equal(accept(w, far), far);
    for (let s = far - 127; s < far; s++) assert.equal(w.check(s), 0, `seq ${s} inside the new window, never received`);
    assert.equal(w.check(300), REPLAY_TOO_OLD);
    assert.equal(w.check(far), REPLAY_DUPLICATE);
  });

  test('jumps of less than a window keep exactly the received bits', () => {
    const w = new ReplayWindow(64, false);
    for (const s of [5, 9, 40, 70]) accept(w, s);
    // top 70, window 7..70: 9, 40 and 70 seen; 5 too old now.
    assert.equal(w.check(5), REPLAY_TOO_OLD);
    assert.equal(w.check(9), REPLAY_DUPLICATE);
    assert.equal(w.check(40), REPLAY_DUPLICATE);
    assert.equal(w.check(41), 0);
    assert.equal(w.check(69), 0);
  });

  test('no wrap: after 2^32-1 nothing new is accepted', () => {
    const w = new ReplayWindow(64, false);
    assert.equal(accept(w, TWO_32 - 1), TWO_32 - 1);
    assert.equal(w.check(0), REPLAY_ZERO);
    assert.equal(w.check(1), REPLAY_TOO_OLD);
    assert.equal(w.check(TWO_32 - 1), REPLAY_DUPLICATE);
    assert.equal(w.check(TWO_32 - 2), 0);
  });

  test('check alone never changes state (two-phase: commit only after the ICV)', () => {
    const w = new ReplayWindow(64, false);
    accept(w, 10);
    for (const s of [1000, 5000, 11, 3]) w.check(s);
    assert.deepEqual(w.top, [0, 10]);
    assert.equal(w.check(11), 0);
    assert.equal(w.check(3), 0);
  });

  test('window 0 disables the check but still rejects 0', () => {
    const w = new ReplayWindow(0, false);
    assert.equal(accept(w, 5), 5);
    assert.equal(accept(w, 5), 5);
    assert.equal(accept(w, 1), 1);
    assert.equal(w.check(0), REPLAY_ZERO);
  });

  test('valid sizes', () => {
    for (const ok of [0, 32, 64, 100, 1024, 4096, 65536]) assert.ok(isValidReplayWindowSize(ok), String(ok));
    for (const bad of [-1, 1, 31, 65537, 1.5, NaN]) {
      assert.ok(!isValidReplayWindowSize(bad), String(bad));
      assert.throws(() => new ReplayWindow(bad, false), RangeError);
    }
  });

  test('matches a set-based model on random sequences (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32, 64, 96, 256, 1000),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: -40, max: 40 })), { minLength: 1, maxLength: 300 }),
        (size, steps) => {
          const w = new ReplayWindow(size, false);
          const seen = new Set<number>();
          let top = 0;
          let last = 1;
          for (const step of steps) {
            // Negative steps move relative to the last value: reordering near the top.
            const seq = step < 0 || step <= 40 ? Math.max(0, last + step) : step;
            last = seq;
            const expectOk = seq > 0 && !seen.has(seq) && seq > top - size;
            const got = w.check(seq);
            assert.equal(got >= 0, expectOk, `seq ${seq} top ${top} size ${size}`);
            if (got >= 0) {
              w.commit(got, seq);
              seen.add(seq);
              top = Math.max(top, seq);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('replay window with ESN (RFC 4303 Appendix A)', () => {
  test('rollover across 2^32: the high half is inferred, late packets from below still count', () => {
    const w = new ReplayWindow(64, true);
    assert.equal(accept(w, TWO_32 - 5), TWO_32 - 5);
    assert.equal(accept(w, TWO_32 - 1), TWO_32 - 1);
    assert.equal(accept(w, TWO_32), TWO_32, 'low half 0 in the second subspace is valid');
    assert.equal(accept(w, TWO_32 + 3), TWO_32 + 3);
    assert.deepEqual(w.top, [1, 3]);
    // Case B: the window spans both subspaces; a low value near 2^32 is from subspace 0.
    assert.equal(w.check(0xffff_fffe), 0);
    assert.equal(accept(w, TWO_32 - 2), TWO_32 - 2);
    assert.equal(w.check(0xffff_fffb), REPLAY_DUPLICATE);
    assert.equal(w.check(0xffff_ffff), REPLAY_DUPLICATE);
    assert.equal(w.check(0), REPLAY_DUPLICATE);
    assert.equal(w.check(2), 1);
    // Case B, outside [Tl-W+1+2^32, 2^32): assumed ahead in the top's subspace (the ICV
    // decides; Appendix A never assumes "old" for a value outside the window).
    assert.equal(w.check(0xffff_ff00), 1);
    assert.equal(accept(w, TWO_32 + 100), TWO_32 + 100);
    // Case A (Tl >= W-1): below the window's bottom means the next subspace.
    assert.equal(w.check(36), 2);
    assert.equal(w.check(37), 1, 'Tl-W+1 = 37 is the bottom of the window');
    assert.equal(w.check(0xffff_ff00), 1);
  });

  test('a fresh SA accepts the first packet even with a low half near 2^32', () => {
    const w = new ReplayWindow(1024, true);
    assert.equal(w.check(0), REPLAY_ZERO);
    assert.equal(accept(w, TWO_32 - 10), TWO_32 - 10);
    assert.equal(accept(w, TWO_32 + 1), TWO_32 + 1);
  });

  test('the 64-bit space does not wrap', () => {
    const w = new ReplayWindow(64, true);
    w.commit(0xffff_ffff, 0xffff_fff0);
    assert.equal(w.check(0xffff_fff1), 0xffff_ffff);
    assert.equal(w.check(5), REPLAY_WRAPPED);
  });

  test('inference recovers the true high half for any packet within the window (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32, 64, 1024),
        fc.bigInt({ min: 1n, max: (1n << 64n) - 5000n }),
        fc.array(fc.integer({ min: -3000, max: 3000 }), { minLength: 1, maxLength: 60 }),
        (size, start, deltas) => {
          const w = new ReplayWindow(size, true);
          w.commit(Number(start >> 32n), Number(start & 0xffff_ffffn));
          let top = start;
          for (const d of deltas) {
            const seq = top + BigInt(d);
            if (seq <= 0n || seq >= 1n << 64n) continue;
            const lo = Number(seq & 0xffff_ffffn);
            const hi = Number(seq >> 32n);
            const got = w.check(lo);
            if (seq > top - BigInt(size)) {
              // Inside or ahead of the window: Appendix A must name the right subspace.
              if (got >= 0) assert.equal(got, hi, `seq ${seq} top ${top}`);
              else assert.equal(got, REPLAY_DUPLICATE);
              if (got >= 0) {
                w.commit(got, lo);
                if (seq > top) top = seq;
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('window 0 still infers the high half from the highest packet', () => {
    const w = new ReplayWindow(0, true);
    assert.equal(accept(w, TWO_32 - 1), TWO_32 - 1);
    assert.equal(w.check(7), 1);
    assert.equal(w.check(0xffff_fff0), 0);
  });
});

test('resized keeps the top and treats everything up to it as seen', () => {
  const w = new ReplayWindow(64, false);
  accept(w, 100);
  const r = w.resized(128);
  assert.deepEqual(r.top, [0, 100]);
  assert.equal(r.check(100), REPLAY_DUPLICATE);
  assert.equal(r.check(50), REPLAY_DUPLICATE);
  assert.equal(r.check(101), 0);
  assert.equal(accept(r, 105), 105);
  assert.equal(r.check(103), 0, 'positions above the old top stay free');
});
