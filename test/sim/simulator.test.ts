// The deterministic network simulator with plain test nodes (no keyroll): delivery and
// timers in virtual time, link loss / duplication / reordering, node restarts,
// determinism per seed, and scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulator, SimError } from '../../src/sim/simulator.js';
import type { SimEvent, SimInput, SimNode, SimSend } from '../../src/sim/types.js';

// Sends "<id>:<n>" to `peer` every `periodMs` and answers nothing; records what it gets.
class Pinger implements SimNode<string> {
  next: number;
  sent = 0;
  readonly got: { from: string; payload: string; atMs: number }[] = [];
  restarts: boolean[] = [];

  constructor(
    readonly id: string,
    readonly peer: string | null,
    readonly periodMs: number,
    startMs = 0,
    readonly limit = Infinity,
  ) {
    this.next = startMs;
  }

  handle(input: SimInput<string>, nowMs: number): SimSend<string>[] {
    if (input.type === 'message') {
      this.got.push({ from: input.from, payload: input.payload, atMs: nowMs });
      return [];
    }
    if (this.peer === null || nowMs < this.next || this.sent >= this.limit) return [];
    this.next = nowMs + this.periodMs;
    this.sent += 1;
    return [{ to: this.peer, payload: `${this.id}:${this.sent}` }];
  }

  nextDueMs(): number {
    return this.peer === null || this.sent >= this.limit ? Infinity : this.next;
  }

  restart(keepState: boolean, nowMs: number): SimSend<string>[] {
    this.restarts.push(keepState);
    if (!keepState) this.sent = 0;
    this.next = nowMs;
    return [];
  }
}

test('datagrams arrive after the link delay and timers fire at the due time, in virtual time', () => {
  const sim = new Simulator<string>({ seed: 1, defaultLink: { lossRate: 0, duplicateRate: 0, minDelayMs: 7, maxDelayMs: 7 } });
  const a = new Pinger('a', 'b', 100);
  const b = new Pinger('b', null, 0);
  sim.addNode('a', a);
  sim.addNode('b', b);
  sim.runUntil(1000);
  assert.equal(sim.now, 1000);
  assert.deepEqual(
    b.got.map((g) => [g.payload, g.atMs]),
    Array.from({ length: 10 }, (_, i) => [`a:${i + 1}`, i * 100 + 7]),
  );
  assert.equal(sim.stats.timers, 11); // t = 0, 100, ..., 1000
});

test('loss and duplication follow the link parameters', () => {
  const sim = new Simulator<string>({ seed: 2, defaultLink: { lossRate: 0.3, duplicateRate: 0.2, minDelayMs: 1, maxDelayMs: 1 } });
  const a = new Pinger('a', 'b', 1, 0, 20_000);
  const b = new Pinger('b', null, 0);
  sim.addNode('a', a);
  sim.addNode('b', b);
  sim.runUntil(30_000);
  const distinct = new Set(b.got.map((g) => g.payload)).size;
  assert.ok(Math.abs(distinct / 20_000 - 0.7) < 0.015, `delivered ${distinct}`);
  assert.ok(Math.abs(b.got.length / distinct - 1.2) < 0.02, `copies ${b.got.length}`);
  assert.equal(sim.stats.sent, 20_000);
  assert.equal(sim.stats.delivered, b.got.length);
});

test('random delays reorder datagrams; equal delays never do', () => {
  const order = (minDelayMs: number, maxDelayMs: number): number[] => {
    const sim = new Simulator<string>({ seed: 3, defaultLink: { lossRate: 0, duplicateRate: 0, minDelayMs, maxDelayMs } });
    const b = new Pinger('b', null, 0);
    sim.addNode('a', new Pinger('a', 'b', 5, 0, 400));
    sim.addNode('b', b);
    sim.runUntil(10_000);
    return b.got.map((g) => Number(g.payload.split(':')[1]));
  };
  const fixed = order(50, 50);
  assert.deepEqual(fixed, [...fixed].sort((x, y) => x - y));
  const spread = order(1, 200);
  assert.equal(spread.length, 400);
  assert.notDeepEqual(spread, [...spread].sort((x, y) => x - y));
});

function trace(seed: number): string[] {
  const sim = new Simulator<string>({ seed, defaultLink: { lossRate: 0.2, duplicateRate: 0.1, minDelayMs: 1, maxDelayMs: 50 } });
  const out: string[] = [];
  sim.observe((e: SimEvent<string>) => out.push(`${e.type} ${e.timeMs.toFixed(3)} ${'payload' in e ? e.payload : ''}`));
  for (let i = 0; i < 5; i++) sim.addNode(`n${i}`, new Pinger(`n${i}`, `n${(i + 1) % 5}`, 10 + i));
  sim.scheduleRestart('n2', 300, { keepState: false, downMs: 40 });
  sim.runUntil(1000);
  return out;
}

test('the same seed gives the same trace, another seed another one', () => {
  const a = trace(9);
  assert.ok(a.length > 500);
  assert.deepEqual(trace(9), a);
  assert.notDeepEqual(trace(10), a);
});

test('a node that is down loses what is sent to it and its timers, then restart() says how it comes back', () => {
  const sim = new Simulator<string>({ seed: 4 });
  const a = new Pinger('a', 'b', 10);
  const b = new Pinger('b', 'a', 10);
  sim.addNode('a', a);
  sim.addNode('b', b);
  const lost: string[] = [];
  sim.observe((e) => {
    if (e.type === 'lost') lost.push(e.reason);
  });
  sim.scheduleRestart('b', 100, { keepState: false, downMs: 50 });
  sim.scheduleRestart('b', 400, { keepState: true, downMs: 0 });
  sim.runUntil(149);
  assert.equal(sim.isUp('b'), false);
  const sentBefore = b.sent;
  sim.runUntil(500);
  assert.deepEqual(b.restarts, [false, true]);
  assert.ok(lost.filter((r) => r === 'down').length >= 4, 'a:... sent while b was down were lost');
  assert.ok(a.got.every((g) => g.atMs < 100 || g.atMs > 150), 'b sent nothing while down');
  assert.ok(b.sent < sentBefore + 40, 'b lost its counter at the first restart');
  assert.equal(sim.stats.droppedDown, lost.filter((r) => r === 'down').length);
});

test('an interceptor drops chosen datagrams; inject delivers without a link', () => {
  const sim = new Simulator<string>({ seed: 5, defaultLink: { lossRate: 1, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 1 } });
  const b = new Pinger('b', null, 0);
  sim.addNode('a', new Pinger('a', 'b', 10, 0, 5));
  sim.addNode('b', b);
  sim.setLink('a', 'b', { lossRate: 0, duplicateRate: 0, minDelayMs: 2, maxDelayMs: 2 });
  sim.setInterceptor((_from, _to, payload) => (payload === 'a:3' ? 'drop' : 'pass'));
  sim.inject('x', 'b', 'forged', 25);
  sim.inject('x', 'nobody', 'lost', 26);
  sim.runUntil(100);
  assert.deepEqual(
    b.got.map((g) => g.payload),
    ['a:1', 'a:2', 'forged', 'a:4', 'a:5'],
  );
  assert.throws(() => sim.setLink('a', 'b', { lossRate: 2, duplicateRate: 0, minDelayMs: 0, maxDelayMs: 0 }), SimError);
  assert.throws(() => sim.setLink('a', 'b', { lossRate: 0, duplicateRate: 0, minDelayMs: 5, maxDelayMs: 1 }), SimError);
  assert.throws(() => sim.addNode('a', new Pinger('a', null, 0)), SimError);
});

test('moving due times supersede scheduled timers; a node that never stops asking trips the budget', () => {
  let ticks = 0;
  let due = 100;
  const mover: SimNode<string> = {
    handle: (input) => {
      if (input.type === 'timer') {
        ticks += 1;
        due = Infinity; // done
      }
      return [];
    },
    nextDueMs: () => due,
  };
  const sim = new Simulator<string>({ seed: 6 });
  sim.addNode('m', mover);
  sim.at(10, () => {
    due = 50; // earlier than the timer already scheduled at 100
  });
  sim.inject('x', 'm', 'wake', 20); // a message makes the simulator ask again
  const fired: number[] = [];
  sim.observe((e) => {
    if (e.type === 'timer') fired.push(e.timeMs);
  });
  sim.runUntil(200);
  assert.equal(ticks, 1);
  assert.deepEqual(fired, [50], 'the superseded timer at 100 did not fire');
  const busy = new Simulator<string>({ seed: 7 });
  busy.addNode('b', { handle: () => [], nextDueMs: () => 0 });
  assert.throws(() => busy.runUntil(10, 1000), (e: unknown) => e instanceof SimError && e.code === 'sim.event-budget');
});

test('thousands of nodes: 5,000 nodes pinging each other for a minute of virtual time', () => {
  const sim = new Simulator<string>({ seed: 8, defaultLink: { lossRate: 0.05, duplicateRate: 0.01, minDelayMs: 1, maxDelayMs: 30 } });
  const nodes: Pinger[] = [];
  for (let i = 0; i < 5000; i++) {
    const n = new Pinger(`n${i}`, `n${(i * 7 + 1) % 5000}`, 10_000, i % 1000);
    nodes.push(n);
    sim.addNode(n.id, n);
  }
  sim.runUntil(60_000);
  const sent = nodes.reduce((s, n) => s + n.sent, 0);
  const got = nodes.reduce((s, n) => s + n.got.length, 0);
  // Node i starts at i % 1000 ms and sends every 10 s up to and including 60 s.
  assert.equal(sent, nodes.reduce((s, _n, i) => s + Math.floor((60_000 - (i % 1000)) / 10_000) + 1, 0));
  assert.ok(got > sent * 0.9 && got < sent, `${got} of ${sent}`);
});
