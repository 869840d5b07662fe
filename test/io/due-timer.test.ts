// DueTimer on real timers with short delays. Where a test must tell "re-armed" from "kept",
// the injected clock is frozen, so the delay a re-arm would compute is known exactly.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DueTimer } from '../../src/io/due-timer.js';

// A timer on a frozen clock (now() = 0): arm(d) means "fire d ms of real time from now".
// Stopped after the test even when an assertion fails, so no timer keeps the run alive.
function frozen(t: TestContext): { timer: DueTimer; fired: number[] } {
  const startMs = performance.now();
  const fired: number[] = [];
  const timer = new DueTimer(() => 0, () => fired.push(performance.now() - startMs));
  t.after(() => timer.stop());
  return { timer, fired };
}

// Timers the process holds open (a Timeout left behind would keep a stopped shell alive).
const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('fires once, at the due time and not before', async (t) => {
  const { timer, fired } = frozen(t);
  timer.arm(60);
  await sleep(20);
  assert.equal(fired.length, 0);
  await sleep(100);
  assert.equal(fired.length, 1);
  assert.ok(fired[0]! >= 55, `fired after ${fired[0]} ms`);
});

test('the delay is the due time minus now()', async (t) => {
  const fired: number[] = [];
  const timer = new DueTimer(() => 1_000_000, () => fired.push(1));
  t.after(() => timer.stop());
  timer.arm(1_000_040); // 40 ms from now
  await sleep(15);
  assert.equal(fired.length, 0);
  await sleep(80);
  assert.equal(fired.length, 1);
});

test('re-arming to an earlier due time fires at the earlier time', async (t) => {
  const { timer, fired } = frozen(t);
  timer.arm(400);
  timer.arm(20);
  await sleep(120);
  assert.equal(fired.length, 1);
  assert.ok(fired[0]! < 300, `fired after ${fired[0]} ms`);
});

test('re-arming to a later due time does not fire at the earlier one', async (t) => {
  const { timer, fired } = frozen(t);
  timer.arm(20);
  timer.arm(150);
  await sleep(80);
  assert.equal(fired.length, 0);
  await sleep(150);
  assert.equal(fired.length, 1);
});

test('an unchanged due time keeps the running timer (not reset)', async (t) => {
  const { timer, fired } = frozen(t);
  timer.arm(100);
  await sleep(70);
  timer.arm(100); // a reset would push the firing to ~170 ms
  await sleep(65); // ~135 ms
  assert.equal(fired.length, 1);
  await sleep(80);
  assert.equal(fired.length, 1, 'fired once only');
});

test('the same due time after a firing arms again', async (t) => {
  const { timer, fired } = frozen(t);
  timer.arm(10);
  await sleep(50);
  assert.equal(fired.length, 1);
  timer.arm(10);
  await sleep(50);
  assert.equal(fired.length, 2);
});

test('Infinity cancels the running timer and arms none', async (t) => {
  const { timer, fired } = frozen(t);
  const before = timeouts();
  timer.arm(20);
  assert.equal(timeouts(), before + 1);
  timer.arm(Infinity);
  assert.equal(timeouts(), before, 'no timer left for Infinity');
  await sleep(80);
  assert.equal(fired.length, 0);
  timer.arm(10); // a finite due time arms again
  await sleep(50);
  assert.equal(fired.length, 1);
});

test('a due time in the past fires promptly', async (t) => {
  const fired: number[] = [];
  const timer = new DueTimer(() => 5000, () => fired.push(1));
  t.after(() => timer.stop());
  timer.arm(1000);
  await sleep(40);
  assert.equal(fired.length, 1);
});

test('a due time beyond the setTimeout range is clamped, not fired at once', async (t) => {
  // Node runs a delay above 2^31-1 ms after 1 ms; the clamp keeps it far away.
  const { timer, fired } = frozen(t);
  timer.arm(2 ** 33);
  await sleep(40);
  assert.equal(fired.length, 0);
});

test('onDue may re-arm the timer (the shells tick, then re-arm)', async (t) => {
  const fired: number[] = [];
  const timer: DueTimer = new DueTimer(
    () => 0,
    () => {
      fired.push(fired.length);
      if (fired.length < 3) timer.arm(10);
    },
  );
  t.after(() => timer.stop());
  timer.arm(10);
  await sleep(150);
  assert.deepEqual(fired, [0, 1, 2]);
});

test('stop clears the running timer and later arms do nothing', async (t) => {
  const { timer, fired } = frozen(t);
  const before = timeouts();
  timer.arm(20);
  timer.stop();
  assert.equal(timeouts(), before);
  await sleep(60);
  assert.equal(fired.length, 0);
  timer.arm(10);
  await sleep(50);
  assert.equal(fired.length, 0);
});
