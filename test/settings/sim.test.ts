// Seed 000 in the deterministic simulator (issue 5, "Tests" -> "Deterministic simulation"):
// the real SettingsServer and SettingsAgents, real message bytes, 20% loss and 20%
// duplication of control messages each way with reordering, controller crashes at random
// points inside a write-ahead batch, short SA lifetimes so renewals happen (also across
// the restarts), then a quiet phase without loss in which every pair must converge.
// sim-world.ts lists the properties and checks them on every message, persist, send and
// install, and at the end.
//
// Every property can fail: the 'checker:' tests break one rule each (a policy lookup that
// answers every pair, a network that misdelivers distributions, a repeating key source, a
// shell that sends before it stores, a device the controller cannot reach after the loss
// stops) and assert that the checker reports that property; the todo test at the end
// shows the make-before-break check failing on a real case. Besides, while this file was
// written, each of these temporary changes (monkey-patched in a scratch script, never in
// the cores) made the 20-device runs fail, with the property named:
//   convergeBoundMs 5 s                                     -> [converge] (converged 6.9 s after)
//   distributions with toPeer and fromPeer swapped           -> [converge] (the agents refuse them)
//   distributions whose inbound key is the outbound key     -> [write-ahead] [foreign-keys] [dataplane]
//   PolicyTable.lookup ignoring the flow (wildcard run)      -> [policy]
//   restore() loading nothing after a crash                  -> [table] (store and table differ)
//
// KEYPLANE_SIM_LONG=1 adds a longer run (1,000 devices, 10 minutes of chaos, 5 restarts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettingsWorld, worldConfig, type Fault, type SettingsWorldConfig } from './sim-world.js';

function run(config: SettingsWorldConfig): SettingsWorld {
  const w = new SettingsWorld(config);
  w.run();
  return w;
}

// The run did what it claims (no vacuous pass): losses, duplicates, crashes mid-batch,
// renewals after a restart, pairs with and without policy, and traffic that got through.
function assertExercised(w: SettingsWorld, minRestarts: number): void {
  const s = w.summary();
  assert.ok(w.sim.stats.lost > 0 && w.sim.stats.duplicated > 0, 'the network lost and duplicated messages');
  assert.ok(w.controller.crashes.length >= minRestarts, `${w.controller.crashes.length} controller crashes`);
  assert.equal(w.restartTimesMs.length, w.controller.crashes.length, 'every crash was followed by a restart');
  assert.ok(w.stats.renewalsAfterRestart > 0, 'renewals installed after a restart');
  assert.ok((s.convergingLinks as number) > 0, 'pairs with a policy and traffic');
  assert.ok(w.stats.dataDelivered > 0, 'encrypted traffic delivered');
}

// 1,000 devices, no wildcard: about 2,000 pairs, 70% of them with a policy (one of three
// transform sets), the rest with none, a few pairs that protect tcp/443 separately (two
// with ONLY the flow-specific policy: their flow-less entries must get nothing), a few
// one-sided pairs (the peer has no SPD entry), three controller crashes.
test('1,000 devices: pairs with a policy converge, pairs without never get keys, no device sees another pair', (t) => {
  const w = run(
    worldConfig({
      seed: 5000,
      devices: 1000,
      peersPerDevice: [1, 3],
      policy: 'pairs',
      policyFraction: 0.7,
      flowPairs: 6,
      flowOnlyPairs: 2,
      oneSidedFraction: 0.03,
      restarts: 3,
      chaosMs: 150_000,
      quietMs: 120_000,
    }),
  );
  t.diagnostic(JSON.stringify(w.summary()));
  assert.deepEqual(w.violations, []);
  assertExercised(w, 2);
  const s = w.summary();
  assert.ok((s.noPolicyLinksWithTraffic as number) > 0, 'pairs without a policy had traffic');
  assert.ok((w.stats.failures['no-policy'] ?? 0) > 0, "'no-policy' failures were reported");
});

// A wildcard ("all others") and, for some pairs, a flow-specific policy on tcp/443 next to
// it: every pair has a policy, the flow entries get the flow policy's transforms
// (AES-CBC + HMAC-SHA-256, transport) and the flow-less ones the wildcard's (AES-GCM).
test('200 devices with a wildcard policy and flow-specific policies: every pair converges with the right policy', (t) => {
  const w = run(worldConfig({ seed: 5001, devices: 200, policy: 'wildcard', flowPairs: 10, oneSidedFraction: 0.03, restarts: 2 }));
  t.diagnostic(JSON.stringify(w.summary()));
  assert.deepEqual(w.violations, []);
  assertExercised(w, 2);
  assert.equal(w.links.filter((l) => l.expected === null).length, 0);
  assert.equal(w.links.filter((l) => l.flow !== null).length, 10);
});

// Many small worlds, each with its own pairs, traffic, losses and crash points.
test('20 devices, 50 seeds: the same properties', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const w = run(
      worldConfig({
        seed,
        devices: 20,
        policy: seed % 5 === 0 ? 'wildcard' : 'pairs',
        restarts: 2 + (seed % 2),
        chaosMs: 120_000,
        quietMs: 110_000,
      }),
    );
    assert.deepEqual(w.violations, [], `seed ${seed}`);
    assert.ok(w.controller.crashes.length >= 2, `seed ${seed}: ${w.controller.crashes.length} crashes`);
  }
});

test('the same seed gives the same run', () => {
  const trace = (): string => {
    const w = new SettingsWorld(worldConfig({ seed: 77, devices: 20 }));
    const lines: string[] = [];
    w.sim.observe((e) => {
      if (e.type === 'deliver' && e.payload.kind === 'control') lines.push(`${e.timeMs} ${e.from}>${e.to} ${Buffer.from(e.payload.bytes).toString('hex')}`);
    });
    w.run();
    assert.ok(lines.length > 100);
    return lines.join('\n');
  };
  assert.equal(trace(), trace());
});

// ------------------------------------------------------------------ the checker catches

function faulty(fault: Fault, seed = 11): SettingsWorld {
  return run(worldConfig({ seed, devices: 20, fault, restarts: fault === 'send-before-persist' ? 2 : 0 }));
}

test('checker: a policy lookup that answers every pair gives keys to pairs without a policy', () => {
  const w = faulty('policy-leak');
  assert.ok(w.hasViolation('no-policy-keys'), w.violations.join('\n'));
  assert.ok(w.hasViolation('table'), w.violations.join('\n'));
});

test('checker: a distribution delivered to another device is seen', () => {
  const w = faulty('misdeliver');
  assert.ok(w.hasViolation('requester'), w.violations.join('\n'));
});

test('checker: repeated keys are seen, and so are devices holding keys of another pair', () => {
  const w = faulty('key-reuse');
  assert.ok(w.hasViolation('key-reuse'), w.violations.join('\n'));
  assert.ok(w.hasViolation('foreign-keys'), w.violations.join('\n'));
});

test('checker: a shell that sends before it stores breaks write-ahead', () => {
  const w = faulty('send-before-persist');
  assert.ok(w.hasViolation('write-ahead'), w.violations.join('\n'));
});

test('checker: a device that never hears the controller after loss stops does not converge', () => {
  const w = faulty('quiet-blackhole');
  assert.ok(w.hasViolation('converge'), w.violations.join('\n'));
  // Liveness only (its peer switches to SAs it never got: [dataplane]); safety still holds.
  assert.deepEqual([...w.violationCounts.keys()].filter((k) => k !== 'converge' && k !== 'dataplane'), []);
});

// FOUND (agent/server, not fixed here): the two ends of a pair date the same SA set from
// their own install time, so an end whose copy of a distribution came late (after lost
// copies, with an S5 resend) believes the set lives longer than its peer does. At the next
// renewal the early end switches at its expiry guard and deletes its old inbound SA at its
// own hard expiry, while the late end keeps sealing with the old outbound SA until its own
// switch deadline (install + switchDelayMs): its packets in between are lost, after the
// pair had converged and with no loss on the network. With 60 s SAs (renewal at 48 s) the
// 12 s margin hides it unless a renewal is late; with 30 s SAs the margin equals
// switchDelayMs and 4 of 100 seeds show it. Seed 1082, link 10.1.16.1 (dev-16) <->
// 10.1.5.1 (dev-5): entry 9ae2e52122a57f4d completed at t=95.4 s; dev-5 installed it at
// 96.25 s (expires 126.25 s); dev-16's copies were lost until its 5th retransmission,
// installed at 117.5 s (expires 147.5 s). dev-5 renewed at 120.25 s; dev-16 ignored the
// first activation (installed < 5 s ago), answered the second at 125.27 s; entry
// c8f5162a372867af reached dev-5 at 125.283 s, whose deadline had passed (expiry - 2 s):
// switched at once, deleted inbound SA 0xb85dc88d at 126.25 s; dev-16 (deadline 131.29 s)
// sealed with 0xb85dc88d until it saw traffic on its new inbound SA at 128.57 s; its
// packet sent at 128.384 s was dropped. Fixed by dating the set from the entry: the
// server's S5 resend carries the remaining lifetime rather than the full one.
test(
  'make-before-break with 30 s SAs after a late distribution copy',
  // Fixed: an S5 resend carries the remaining lifetime (server.ts distributionFor).
  () => {
    const w = run(
      worldConfig({
        seed: 1082,
        devices: 20,
        restarts: 4,
        restartDownMs: [0, 10_000],
        lifetimeSeconds: 30,
        peersPerDevice: [2, 5],
        chaosMs: 120_000,
        quietMs: 110_000,
      }),
    );
    assert.deepEqual(w.violations, []);
  },
);

test('long run: 1,000 devices, 10 minutes of chaos, 5 controller crashes', { skip: process.env.KEYPLANE_SIM_LONG !== '1' && 'set KEYPLANE_SIM_LONG=1' }, (t) => {
  const w = run(worldConfig({ seed: 5002, devices: 1000, peersPerDevice: [1, 4], flowPairs: 10, flowOnlyPairs: 3, restarts: 5, chaosMs: 600_000, quietMs: 150_000, burstsPerLink: [2, 8] }));
  t.diagnostic(JSON.stringify(w.summary()));
  assert.deepEqual(w.violations, []);
  assertExercised(w, 4);
});
