// The setting server's request processing unit (src/settings/server.ts) against the seed's
// flowcharts: one named test per branch of Fig. 12 (S1-S11) and Fig. 13 (S21-S28), then
// authorisation, write-ahead ordering, restart, key material and freshness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Prng } from '../../src/sim/prng.js';
import { SettingsServer, defaultServerOptions, type ServerOptionsInput } from '../../src/settings/server.js';
import { PolicyTable } from '../../src/settings/server-policies.js';
import type {
  AppliedPolicy,
  DistributionPolicy,
  FlowSelector,
  ServerEvent,
  ServerInput,
  ServerOutput,
  SettingsDistribution,
  SettingsError,
  SettingsMessage,
} from '../../src/settings/types.js';

const A = '192.0.2.1';
const B = '192.0.2.2';
const C = '192.0.2.3';
const D = '192.0.2.4'; // no device has it
const LIFETIME_S = 3600;

const GCM128: AppliedPolicy = {
  protocol: 'esp',
  mode: 'tunnel',
  encryption: { id: 20, keyBits: 128 },
  integrity: null,
  esn: false,
  lifetimeSeconds: LIFETIME_S,
};

function policy(id: string, a: string, b: string, over: Partial<DistributionPolicy> = {}): DistributionPolicy {
  return { id, name: id, a, b, flow: null, applied: GCM128, createdAtMs: 0, ...over };
}

class World {
  readonly owners = new Map<string, string>([
    [A, 'dev-a'],
    [B, 'dev-b'],
    [C, 'dev-c'],
  ]);
  readonly policies: PolicyTable;
  readonly server: SettingsServer;
  readonly log: ServerOutput[] = [];

  constructor(policies: DistributionPolicy[] = [policy('p-ab', A, B)], options: Partial<ServerOptionsInput> = {}, seed = 7) {
    this.policies = new PolicyTable(policies);
    const prng = Prng.fromSeed(seed);
    this.server = new SettingsServer(this.options(prng, options));
  }

  options(prng: Prng, over: Partial<ServerOptionsInput> = {}): ReturnType<typeof defaultServerOptions> {
    return defaultServerOptions({
      random: (n) => prng.bytes(n),
      deviceOfAddress: (a) => this.owners.get(a),
      ownsAddress: (d, a) => this.owners.get(a) === d,
      lookupPolicy: (r, p, f) => this.policies.lookup(r, p, f),
      ...over,
    });
  }

  // A request from the device that owns `requester` (or `deviceId`).
  ask(nowMs: number, requester: string, peer: string, requestId: number, spi: number, opts: { flow?: FlowSelector | null; deviceId?: string } = {}): ServerOutput[] {
    const deviceId = opts.deviceId ?? this.owners.get(requester) ?? 'dev-unknown';
    return this.run({ type: 'request', deviceId, request: { requestId, requester, peer, spi, flow: opts.flow ?? null } }, nowMs);
  }

  tick(nowMs: number): ServerOutput[] {
    return this.run({ type: 'tick' }, nowMs);
  }

  run(input: ServerInput, nowMs: number): ServerOutput[] {
    const out = this.server.handle(input, nowMs);
    this.log.push(...out);
    return out;
  }

  // Ticks at every due time up to `untilMs`; returns all outputs.
  runUntil(untilMs: number): ServerOutput[] {
    const out: ServerOutput[] = [];
    for (let due = this.server.nextDueMs(); due <= untilMs; due = this.server.nextDueMs()) out.push(...this.tick(due));
    return out;
  }
}

type Sent = { deviceId: string; message: SettingsMessage };

function sends(out: readonly ServerOutput[], kind?: SettingsMessage['kind']): Sent[] {
  const list: Sent[] = [];
  for (const o of out) if (o.type === 'send' && (kind === undefined || o.message.kind === kind)) list.push({ deviceId: o.deviceId, message: o.message });
  return list;
}

function distributionTo(out: readonly ServerOutput[], deviceId: string): SettingsDistribution {
  const hits = sends(out, 'distribution').filter((s) => s.deviceId === deviceId);
  assert.equal(hits.length, 1, `one distribution to ${deviceId}`);
  const m = hits[0]!.message;
  assert.equal(m.kind, 'distribution');
  return m.distribution;
}

function errorTo(out: readonly ServerOutput[], deviceId: string): SettingsError {
  const hits = sends(out, 'error');
  assert.equal(hits.length, 1, 'exactly one error');
  assert.equal(hits[0]!.deviceId, deviceId);
  const m = hits[0]!.message;
  assert.equal(m.kind, 'error');
  return m.error;
}

function events<N extends ServerEvent['name']>(out: readonly ServerOutput[], name: N): Extract<ServerEvent, { name: N }>[] {
  const list: Extract<ServerEvent, { name: N }>[] = [];
  for (const o of out) if (o.type === 'event' && o.event.name === name) list.push(o.event as Extract<ServerEvent, { name: N }>);
  return list;
}

function steps(out: readonly ServerOutput[]): string[] {
  return events(out, 'request').map((e) => e.step);
}

function ofType(out: readonly ServerOutput[], type: ServerOutput['type']): ServerOutput[] {
  return out.filter((o) => o.type === type);
}

// A complete A-B entry: A asks first (1001, 5100), B answers (2001, 6100), as in the
// seed's figures 6 and 10.
function completePair(w: World, t0 = 0): ServerOutput[] {
  w.ask(t0, A, B, 1001, 5100);
  return w.ask(t0 + 100, B, A, 2001, 6100);
}

// ------------------------------------------------------------------------ Fig. 12 S1-S11

test('S1-S2-S3-S8 same ID different SPI -> mismatch with entry list', () => {
  const w = new World();
  completePair(w); // A: 1001/5100 (complete)
  w.ask(1000, A, B, 1002, 5110); // A: 1002/5110 (pending), the seed's Fig. 10 situation
  const before = w.server.entries();
  const out = w.ask(2000, A, B, 1001, 5999);
  const err = errorTo(out, 'dev-a');
  assert.equal(err.kind, 'mismatch');
  assert.deepEqual({ id: err.requestId, r: err.requester, p: err.peer }, { id: 1001, r: A, p: B });
  // Only the requester's own (ID, SPI) pairs with this peer: never B's rows.
  assert.deepEqual(err.entries, [
    { requestId: 1001, spi: 5100 },
    { requestId: 1002, spi: 5110 },
  ]);
  assert.deepEqual(steps(out), ['S8']);
  assert.equal(ofType(out, 'persist').length + ofType(out, 'forget').length, 0);
  assert.deepEqual(w.server.entries(), before, 'the table is unchanged');
  assert.equal(w.server.counters.get('settings.error.mismatch'), 1);
});

// An S5 resend carries what is left of the entry's lifetime (server.ts distributionFor):
// the distribution as first sent, with the lifetime the entry has left at `nowMs`.
function resentAt(d: SettingsDistribution, expiresAtMs: number, nowMs: number): SettingsDistribution {
  return { ...d, policy: { ...d.policy, lifetimeSeconds: Math.ceil((expiresAtMs - nowMs) / 1000) } };
}

test('S4-S5 idempotent retransmission resends the distribution to the requester only', () => {
  const w = new World();
  const first = completePair(w);
  const original = distributionTo(first, 'dev-a');
  const out = w.ask(5000, A, B, 1001, 5100); // the distribution to A was lost; A retransmits
  const resent = sends(out)[0]?.message;
  assert.ok(resent?.kind === 'distribution');
  assert.equal(sends(out).length, 1);
  assert.equal(sends(out)[0]!.deviceId, 'dev-a');
  // The same distribution, with the time since completion taken off its lifetime.
  const left = resent.distribution.policy.lifetimeSeconds;
  assert.ok(left < original.policy.lifetimeSeconds && left >= original.policy.lifetimeSeconds - 6, `lifetime left ${left}`);
  assert.deepEqual(resent.distribution, { ...original, policy: { ...original.policy, lifetimeSeconds: left } });
  assert.deepEqual(steps(out), ['S5']);
  assert.equal(ofType(out, 'persist').length, 0, 'nothing new to store');
  assert.equal(w.server.entries().length, 1, 'no second entry');
  // And for the side that filled the blank row (B), the same.
  const outB = w.ask(6000, B, A, 2001, 6100);
  const toB = distributionTo(first, 'dev-b');
  const resentB = sends(outB)[0]?.message;
  assert.ok(resentB?.kind === 'distribution');
  assert.deepEqual(sends(outB), [{ deviceId: 'dev-b', message: { kind: 'distribution', distribution: { ...toB, policy: { ...toB.policy, lifetimeSeconds: left - 1 } } } }]);
  assert.equal(w.server.counters.get('settings.resend'), 2);
});

test('S4-S6 waiting for the peer: ignored', () => {
  const w = new World();
  w.ask(0, A, B, 1001, 5100);
  const entries = w.server.entries();
  const out = w.ask(2000, A, B, 1001, 5100); // A's retransmission while B has not asked
  assert.deepEqual(sends(out), [], 'no message at all (no extra activation either)');
  assert.deepEqual(steps(out), ['S6']);
  assert.deepEqual(w.server.entries(), entries);
  assert.equal(w.server.nextDueMs(), 5000, 'the activation schedule is not disturbed');
  assert.equal(w.server.counters.get('settings.drop.waiting'), 1);
});

test('S7-S8 reused SPI -> mismatch', () => {
  const w = new World();
  completePair(w);
  const out = w.ask(1000, A, B, 1002, 5100); // new ID, SPI 5100 already registered
  const err = errorTo(out, 'dev-a');
  assert.equal(err.kind, 'mismatch');
  assert.equal(err.requestId, 1002);
  assert.deepEqual(err.entries, [{ requestId: 1001, spi: 5100 }]);
  assert.deepEqual(steps(out), ['S8']);
  assert.equal(w.server.entries().length, 1);
  // The same SPI towards ANOTHER peer is not this pair's business (the seed searches by
  // requester + peer + SPI): with a policy for A-C it goes ahead.
  w.policies.set(policy('p-ac', A, C));
  assert.deepEqual(steps(w.ask(2000, A, C, 1003, 5100)), ['S23']);
});

test('S9-S10-S11 placeholder filled, both ends get mirrored SA parameters, receiver SPI = receiver\'s proposal', () => {
  const w = new World();
  w.ask(0, A, B, 1001, 5100);
  const out = w.ask(3000, B, A, 2001, 6100);
  assert.deepEqual(steps(out), ['S11']);
  const toA = distributionTo(out, 'dev-a');
  const toB = distributionTo(out, 'dev-b');
  // Each addressed to itself, with its own request ID.
  assert.deepEqual([toA.requestId, toA.requester, toA.peer], [1001, A, B]);
  assert.deepEqual([toB.requestId, toB.requester, toB.peer], [2001, B, A]);
  // Receiver SPI: A sends with B's proposal (6100) and receives on its own (5100).
  assert.equal(toA.toPeer.spi, 6100);
  assert.equal(toA.fromPeer.spi, 5100);
  assert.equal(toB.toPeer.spi, 5100);
  assert.equal(toB.fromPeer.spi, 6100);
  // Mirrored: A's outbound SA is B's inbound SA and vice versa, byte for byte.
  assert.deepEqual(toA.toPeer, toB.fromPeer);
  assert.deepEqual(toA.fromPeer, toB.toPeer);
  assert.notDeepEqual(toA.toPeer.encryptionKey, toA.fromPeer.encryptionKey, 'one key per direction');
  // The applied policy, unchanged, to both; one entry.
  assert.deepEqual(toA.policy, GCM128);
  assert.deepEqual(toB.policy, GCM128);
  assert.equal(toA.entryId, toB.entryId);
  const [entry, ...rest] = w.server.entries();
  assert.equal(rest.length, 0);
  assert.equal(entry!.id, toA.entryId);
  assert.deepEqual(
    entry!.rows.map((r) => [r.address, r.deviceId, r.requestId, r.spi]),
    [
      [A, 'dev-a', 1001, 5100],
      [B, 'dev-b', 2001, 6100],
    ],
  );
  assert.deepEqual(entry!.params, [toA.toPeer, toB.toPeer], 'params[0] = row0 -> row1, params[1] = row1 -> row0');
  assert.equal(entry!.completedAtMs, 3000);
  assert.equal(entry!.expiresAtMs, 3000 + LIFETIME_S * 1000);
  const [dist] = events(out, 'distributed');
  assert.deepEqual(dist, { name: 'distributed', entryId: entry!.id, a: A, b: B, spis: [5100, 6100], lifetimeSeconds: LIFETIME_S, renewal: false });
  assert.equal(w.server.counters.get('settings.distributed'), 1);
});

// ------------------------------------------------------------------------ Fig. 13 S21-S28

test('S21-S26 no matching policy', () => {
  const w = new World(); // only A-B
  const out = w.ask(0, A, C, 1, 5100);
  const err = errorTo(out, 'dev-a');
  assert.deepEqual(err, { kind: 'no-policy', requestId: 1, requester: A, peer: C, flow: null, entries: [], reason: err.reason });
  assert.deepEqual(steps(out), ['S26']);
  assert.deepEqual(sends(out, 'activation'), [], 'C is not bothered');
  assert.equal(w.server.entries().length, 0);
  assert.equal(w.server.nextDueMs(), Infinity);
  assert.equal(w.server.counters.get('settings.error.no-policy'), 1);
});

test('S22-S23 entry created, activation sent to the peer', () => {
  const w = new World();
  const out = w.ask(1000, A, B, 1001, 5100);
  assert.deepEqual(steps(out), ['S23']);
  const [entry] = w.server.entries();
  assert.ok(entry !== undefined);
  assert.match(entry.id, /^[0-9a-f]{16}$/);
  assert.deepEqual(entry.rows, [
    { address: A, deviceId: 'dev-a', requestId: 1001, spi: 5100 },
    { address: B, deviceId: 'dev-b', requestId: null, spi: null },
  ]);
  assert.equal(entry.policyId, 'p-ab');
  assert.deepEqual(entry.applied, GCM128);
  assert.equal(entry.params, null);
  assert.equal(entry.activationsSent, 1);
  assert.equal(entry.nextActivationAtMs, 6000);
  assert.deepEqual(sends(out), [{ deviceId: 'dev-b', message: { kind: 'activation', activation: { peer: A, flow: null } } }]);
  assert.equal(w.server.nextDueMs(), 6000);
  assert.equal(w.server.counters.get('settings.activation'), 1);
});

test('S24 activation every 5 s, at most 6', () => {
  const w = new World();
  const at: number[] = [];
  if (sends(w.ask(0, A, B, 1001, 5100), 'activation').length === 1) at.push(0);
  assert.deepEqual(w.tick(4999), [], 'nothing before the interval');
  let last = 0;
  for (let due = w.server.nextDueMs(); due < Infinity; due = w.server.nextDueMs()) {
    if (sends(w.tick(due), 'activation').length === 1) at.push(due);
    last = due;
  }
  assert.deepEqual(at, [0, 5000, 10_000, 15_000, 20_000, 25_000]);
  assert.deepEqual(
    events(w.log, 'activation').map((e) => [e.to, e.send]),
    [1, 2, 3, 4, 5, 6].map((n) => [B, n]),
  );
  assert.ok(sends(w.log, 'activation').every((s) => s.deviceId === 'dev-b'));
  assert.equal(last, 30_000, 'the last timer is the no-response one, one interval after the sixth');
  assert.equal(w.server.counters.get('settings.activation'), 6);
  // Both numbers are options.
  const w3 = new World(undefined, { activationIntervalMs: 1000, activationMaxSends: 3 });
  w3.ask(0, A, B, 1001, 5100);
  w3.runUntil(60_000);
  assert.equal(sends(w3.log, 'activation').length, 3);
  assert.equal(events(w3.log, 'error')[0]?.error.kind, 'no-response');
  assert.equal(events(w3.log, 'expired')[0]?.complete, false);
});

test('S24-S25 peer\'s request stops activations', () => {
  const w = new World();
  w.ask(0, A, B, 1001, 5100);
  w.tick(5000); // second activation
  const out = w.ask(7000, B, A, 2001, 6100);
  assert.deepEqual(steps(out), ['S11']);
  const later = w.runUntil(600_000);
  assert.deepEqual(sends(later), [], 'no more activations, no no-response error');
  assert.equal(sends(w.log, 'activation').length, 2);
  assert.equal(w.server.nextDueMs(), 7000 + LIFETIME_S * 1000, 'only the expiry timer is left');
});

test('S24-S27-S28 no response: entry deleted, error to requester', () => {
  const w = new World();
  w.ask(0, A, B, 1001, 5100);
  w.runUntil(25_000);
  assert.equal(w.server.entries().length, 1, 'still pending after the sixth activation');
  const out = w.tick(30_000);
  assert.deepEqual(ofType(out, 'forget'), [{ type: 'forget', entryId: events(w.log, 'activation')[0]!.entryId }]);
  const err = errorTo(out, 'dev-a');
  assert.deepEqual(err, { kind: 'no-response', requestId: 1001, requester: A, peer: B, flow: null, entries: [], reason: err.reason });
  assert.deepEqual(sends(out, 'activation'), [], 'no seventh activation');
  assert.equal(w.server.entries().length, 0);
  assert.equal(w.server.nextDueMs(), Infinity);
  assert.equal(w.server.counters.get('settings.error.no-response'), 1);
  // A late answer from B now starts afresh (its own entry, activation to A).
  assert.deepEqual(steps(w.ask(31_000, B, A, 2001, 6100)), ['S23']);
});

test('entry expiry timer deletes the complete entry', () => {
  const w = new World([policy('p-ab', A, B, { applied: { ...GCM128, lifetimeSeconds: 60 } })]);
  completePair(w, 7000);
  const expires = 7100 + 60_000;
  assert.equal(w.server.nextDueMs(), expires);
  assert.deepEqual(w.tick(expires - 1), []);
  const out = w.tick(expires);
  const id = w.log.find((o) => o.type === 'persist')!;
  assert.equal(id.type, 'persist');
  assert.deepEqual(ofType(out, 'forget'), [{ type: 'forget', entryId: id.entry.id }]);
  assert.deepEqual(events(out, 'expired'), [{ name: 'expired', entryId: id.entry.id, complete: true }]);
  assert.equal(w.server.entries().length, 0);
  assert.equal(w.server.counters.get('settings.expired'), 1);
  // The old request is no longer known: a retransmission of it is a new request.
  assert.deepEqual(steps(w.ask(expires + 1, A, B, 1001, 5100)), ['S23']);
});

test('renewal entry kept apart from the entry it replaces', () => {
  const w = new World();
  const first = completePair(w);
  const old = distributionTo(first, 'dev-a');
  const renewAt = 0.8 * LIFETIME_S * 1000;
  const askOut = w.ask(renewAt, A, B, 1002, 5200); // new ID, new SPI
  assert.deepEqual(steps(askOut), ['S23'], 'a new entry, activation to B');
  assert.equal(w.server.entries().length, 2);
  const out = w.ask(renewAt + 50, B, A, 2002, 6200);
  const renewed = distributionTo(out, 'dev-a');
  assert.notEqual(renewed.entryId, old.entryId);
  assert.deepEqual([renewed.toPeer.spi, renewed.fromPeer.spi], [6200, 5200]);
  assert.notDeepEqual(renewed.toPeer.encryptionKey, old.toPeer.encryptionKey);
  assert.equal(events(out, 'distributed')[0]!.renewal, true);
  assert.equal(events(first, 'distributed')[0]!.renewal, false);
  // The old entry still answers its own retransmission until its own timer ...
  const oldExpiry = w.server.entries().find((e) => e.id === old.entryId)!.expiresAtMs!;
  assert.deepEqual(distributionTo(w.ask(renewAt + 60, A, B, 1001, 5100), 'dev-a'), resentAt(old, oldExpiry, renewAt + 60));
  const expiry = w.tick(100 + LIFETIME_S * 1000);
  assert.deepEqual(ofType(expiry, 'forget'), [{ type: 'forget', entryId: old.entryId }]);
  // ... and only the old one goes.
  assert.deepEqual(
    w.server.entries().map((e) => e.id),
    [renewed.entryId],
  );
});

test('simultaneous requests from both sides make one entry', () => {
  for (const [first, second] of [
    [A, B],
    [B, A],
  ] as const) {
    const w = new World();
    const spi = (x: string) => (x === A ? 5100 : 6100);
    w.ask(0, first, second, 11, spi(first));
    const out = w.ask(0, second, first, 22, spi(second)); // before any activation arrived
    assert.deepEqual(steps(out), ['S11']);
    assert.equal(w.server.entries().length, 1);
    const toA = distributionTo(out, 'dev-a');
    const toB = distributionTo(out, 'dev-b');
    assert.deepEqual([toA.fromPeer.spi, toB.fromPeer.spi], [5100, 6100]);
    assert.deepEqual(toA.toPeer, toB.fromPeer);
    // The activation B (or A) receives afterwards leads to a retransmission: S5, no new entry.
    assert.deepEqual(steps(w.ask(10, second, first, 22, spi(second))), ['S5']);
    assert.equal(w.server.entries().length, 1);
  }
});

test('policy lookup order: pair+flow, pair, half wildcard, wildcard', () => {
  const tcp443: FlowSelector = { protocol: 6, port: 443 };
  const t = new PolicyTable([
    policy('wild', '*', '*', { createdAtMs: 1 }),
    policy('wild-udp', '*', '*', { createdAtMs: 1, flow: { protocol: 17, port: null } }),
    policy('half-a', A, '*', { createdAtMs: 5 }),
    policy('pair', B, A, { createdAtMs: 9 }), // written the other way round
    policy('pair-tcp', A, B, { flow: { protocol: 6, port: null } }),
    policy('pair-443', A, B, { flow: tcp443 }),
  ]);
  const at = (r: string, p: string, f: FlowSelector | null = null) => t.lookup(r, p, f)?.id;
  assert.equal(at(A, B, tcp443), 'pair-443', 'exact pair with the flow');
  assert.equal(at(B, A, tcp443), 'pair-443', 'endpoints are unordered');
  assert.equal(at(A, B, { protocol: 6, port: 22 }), 'pair-tcp', 'the protocol with any port');
  assert.equal(at(A, B, { protocol: 17, port: 53 }), 'pair', 'then the pair without flow');
  assert.equal(at(A, B), 'pair');
  assert.equal(at(A, C), 'half-a', 'then a half wildcard');
  assert.equal(at(C, A), 'half-a');
  assert.equal(at(B, C), 'wild', 'then the wildcard');
  assert.equal(at(B, C, { protocol: 17, port: 53 }), 'wild-udp', 'the wildcard with the flow first');
  // Both half wildcards match: the older wins, whichever side asks.
  t.set(policy('half-c', '*', C, { createdAtMs: 3 }));
  assert.equal(at(A, C), 'half-c');
  assert.equal(at(C, A), 'half-c');
  t.remove('pair');
  assert.equal(at(A, B), 'half-a');
  t.remove('half-a');
  t.remove('wild');
  assert.equal(at(A, B), undefined);
  // The server uses what the lookup answers: the entry records the policy and its algorithms.
  const cbc: AppliedPolicy = { ...GCM128, encryption: { id: 12, keyBits: 128 }, integrity: { id: 12 } };
  const w = new World([policy('pair', A, B), policy('pair-443', A, B, { flow: tcp443, applied: cbc })]);
  w.ask(0, A, B, 1, 5100, { flow: tcp443 });
  w.ask(0, A, B, 2, 5101);
  assert.deepEqual(
    w.server.entries().map((e) => [e.policyId, e.applied, e.flow]),
    [
      ['pair-443', cbc, tcp443],
      ['pair', GCM128, null],
    ],
  );
});

// ------------------------------------------------------------------------ authorisation

test('authorisation: a device asking as another device\'s address is refused', () => {
  const w = new World([policy('any', '*', '*')]);
  const out = w.ask(0, A, B, 1, 5100, { deviceId: 'dev-c' }); // C claims to be A
  const err = errorTo(out, 'dev-c');
  assert.equal(err.kind, 'refused');
  assert.deepEqual(err.entries, []);
  assert.deepEqual(
    out.filter((o) => o.type !== 'event'),
    [{ type: 'send', deviceId: 'dev-c', message: { kind: 'error', error: err } }],
    'nothing else: no entry, no activation',
  );
  assert.equal(w.server.entries().length, 0);
  assert.equal(w.server.counters.get('settings.drop.not-owner'), 1);
  assert.equal(w.server.counters.get('settings.error.refused'), 1);
  assert.equal(events(out, 'error')[0]!.error.kind, 'refused');
});

test('authorisation: reserved SPI and requester = peer are refused', () => {
  const w = new World([policy('any', '*', '*')]);
  for (const spi of [0, 1, 255]) {
    assert.equal(errorTo(w.ask(0, A, B, spi + 10, spi), 'dev-a').kind, 'refused', `SPI ${spi}`);
  }
  assert.equal(errorTo(w.ask(0, A, A, 50, 5100), 'dev-a').kind, 'refused', 'requester = peer');
  assert.equal(w.server.entries().length, 0);
  assert.equal(w.server.counters.get('settings.drop.reserved-spi'), 3);
  assert.equal(w.server.counters.get('settings.drop.self-peer'), 1);
  assert.deepEqual(steps(w.ask(0, A, B, 60, 256)), ['S23'], '256 is the first usable SPI');
});

test('authorisation: peer not enrolled is refused', () => {
  const w = new World([policy('any', '*', '*')]);
  const out = w.ask(0, A, D, 1, 5100);
  const err = errorTo(out, 'dev-a');
  assert.equal(err.kind, 'refused');
  assert.equal(err.reason, 'peer address not enrolled');
  assert.equal(w.server.entries().length, 0);
  assert.equal(w.server.nextDueMs(), Infinity);
  assert.equal(w.server.counters.get('settings.drop.peer-not-enrolled'), 1);
});

test('authorisation: keys go only to the two devices of the entry, rows stay with the device that had the address', () => {
  const w = new World([policy('any', '*', '*')]);
  const out = completePair(w);
  assert.deepEqual(
    sends(out).map((s) => s.deviceId),
    ['dev-b', 'dev-a'],
  );
  // C asks for B: its own entry, its own keys; nothing of A-B reaches C.
  w.ask(1000, C, B, 3001, 7100);
  const cb = w.ask(1100, B, C, 2002, 6200);
  const toC = distributionTo(cb, 'dev-c');
  const ab = distributionTo(out, 'dev-a');
  for (const k of [toC.toPeer.encryptionKey, toC.fromPeer.encryptionKey]) {
    assert.notDeepEqual(k, ab.toPeer.encryptionKey);
    assert.notDeepEqual(k, ab.fromPeer.encryptionKey);
  }
  // Address B moves to another device: the old rows are not its, so replaying B's old
  // request gets no old keys but a new entry.
  w.owners.set(B, 'dev-b2');
  const replay = w.ask(2000, B, A, 2001, 6100);
  assert.deepEqual(steps(replay), ['S23']);
  assert.deepEqual(sends(replay, 'distribution'), []);
  for (const s of sends(w.log, 'distribution')) assert.notEqual(s.deviceId, 'dev-b2');
});

test('malformed typed requests are counted and dropped, and the server never throws', () => {
  const w = new World();
  const bad: unknown[] = [
    { requestId: 0, requester: A, peer: B, spi: 5100, flow: null },
    { requestId: 1, requester: 'not an address', peer: B, spi: 5100, flow: null },
    { requestId: 1, requester: A, peer: B, spi: 2 ** 32, flow: null },
    { requestId: 1, requester: A, peer: B, spi: 5100, flow: { protocol: 6, port: 0 } },
    null,
  ];
  for (const request of bad) assert.deepEqual(w.run({ type: 'request', deviceId: 'dev-a', request } as ServerInput, 0), []);
  assert.equal(w.server.counters.get('settings.drop.malformed'), bad.length);
  fc.assert(
    fc.property(fc.anything(), fc.anything(), fc.double(), (request, deviceId, now) => {
      w.server.handle({ type: 'request', deviceId, request } as ServerInput, now);
      w.server.handle({ type: 'tick' }, now);
      w.server.handle(request as ServerInput, now);
    }),
    { numRuns: 300, seed: 5 },
  );
  assert.equal(w.server.counters.get('settings.drop.internal'), 0, 'no internal failure on bad input');
  // A throwing callback is contained and counted too.
  const w2 = new World(undefined, {
    lookupPolicy: () => {
      throw new Error('store down');
    },
  });
  assert.deepEqual(w2.ask(0, A, B, 1, 5100), []);
  assert.equal(w2.server.counters.get('settings.drop.internal'), 1);
});

// ------------------------------------------------------------------------ write-ahead

test('persist precedes send', () => {
  const w = new World();
  const created = w.ask(0, A, B, 1001, 5100);
  const activation = w.tick(5000);
  const completed = w.ask(6000, B, A, 2001, 6100);
  for (const [name, out] of [
    ['S22-S23', created],
    ['S24', activation],
    ['S10-S11', completed],
  ] as const) {
    const types = out.filter((o) => o.type !== 'event').map((o) => o.type);
    assert.equal(types[0], 'persist', `${name}: ${types.join(',')}`);
    assert.ok(types.slice(1).every((t) => t === 'send'), name);
  }
  // The stored entry already holds exactly the keys that are then sent.
  const persisted = completed.find((o) => o.type === 'persist');
  assert.ok(persisted?.type === 'persist');
  assert.deepEqual(persisted.entry.params?.[0], distributionTo(completed, 'dev-a').toPeer);
});

// ------------------------------------------------------------------------ restart

test('restore: a pending entry keeps its activation schedule, late activations go at the next tick', () => {
  const w = new World();
  w.ask(0, A, B, 1001, 5100);
  w.tick(5000); // 2 activations sent, next due at 10 s
  const stored = w.server.entries();
  assert.equal(stored[0]!.nextActivationAtMs, 10_000);

  // The controller was down from 6 s to 20 s.
  const w2 = new World(undefined, {}, 99);
  w2.server.restore(stored, 20_000);
  assert.ok(w2.server.nextDueMs() <= 20_000, 'overdue');
  const out = w2.tick(20_000);
  assert.deepEqual(events(out, 'activation').map((e) => e.send), [3]);
  assert.equal(w2.server.nextDueMs(), 25_000);
  w2.runUntil(100_000);
  assert.equal(sends(w2.log, 'activation').length, 6 - 2, 'at most 6 in total across the restart');
  assert.equal(events(w2.log, 'error')[0]?.error.kind, 'no-response');

  // Restored again, and this time B answers: its request fills the restored blank row.
  const w3 = new World(undefined, {}, 98);
  w3.server.restore(stored, 7000);
  const done = w3.ask(7000, B, A, 2001, 6100);
  assert.deepEqual(steps(done), ['S11']);
  assert.equal(distributionTo(done, 'dev-a').entryId, stored[0]!.id);
});

test('restore: a complete entry keeps its keys and its expiry; one past expiry goes at the next tick', () => {
  const w = new World();
  const first = completePair(w);
  const stored = w.server.entries();
  const w2 = new World(undefined, {}, 42);
  w2.server.restore(stored, 10_000);
  assert.equal(w2.server.nextDueMs(), stored[0]!.expiresAtMs);
  assert.deepEqual(distributionTo(w2.ask(11_000, A, B, 1001, 5100), 'dev-a'), resentAt(distributionTo(first, 'dev-a'), stored[0]!.expiresAtMs!, 11_000), 'S5 with the stored keys');
  assert.deepEqual(steps(w2.ask(11_000, A, B, 1001, 5101)), ['S8'], 'and S3 still sees the stored SPI');
  const w3 = new World(undefined, {}, 43);
  w3.server.restore(stored, stored[0]!.expiresAtMs! + 5000);
  const out = w3.tick(stored[0]!.expiresAtMs! + 5000);
  assert.deepEqual(ofType(out, 'forget'), [{ type: 'forget', entryId: stored[0]!.id }]);
  assert.equal(w3.server.entries().length, 0);
});

// ------------------------------------------------------------------------ key material

interface KeyCase {
  name: string;
  encryption: { id: number; keyBits: number };
  integrity: { id: number } | null;
  encryptionKeyBytes: number;
  integrityKeyBytes: number | null;
}

const keyCases = (JSON.parse(readFileSync(new URL('../../../test/vectors/settings-key-material.json', import.meta.url), 'utf8')) as { cases: KeyCase[] }).cases;

test('key lengths per transform: AES-GCM-16 128/256 with salt, AES-CBC + HMAC-SHA2-256-128, ChaCha20-Poly1305', () => {
  assert.equal(keyCases.length, 4);
  for (const c of keyCases) {
    const applied: AppliedPolicy = { ...GCM128, encryption: c.encryption, integrity: c.integrity };
    const w = new World([policy('p', A, B, { applied })]);
    const out = completePair(w);
    for (const d of [distributionTo(out, 'dev-a'), distributionTo(out, 'dev-b')]) {
      for (const sa of [d.toPeer, d.fromPeer]) {
        assert.equal(sa.encryptionKey.length, c.encryptionKeyBytes, c.name);
        assert.equal(sa.integrityKey?.length ?? null, c.integrityKeyBytes, c.name);
      }
    }
  }
  // Policies keyplane cannot key are answered 'no-policy' before anything is created.
  for (const applied of [
    { ...GCM128, encryption: { id: 11, keyBits: 0 } }, // ENCR_NULL: test only, traffic in clear
    { ...GCM128, encryption: { id: 12, keyBits: 128 }, integrity: null }, // CBC without integrity
    { ...GCM128, integrity: { id: 12 } }, // AEAD with an integrity transform
    { ...GCM128, encryption: { id: 20, keyBits: 100 } }, // no such key size
  ]) {
    const w = new World([policy('p', A, B, { applied })]);
    const err = errorTo(w.ask(0, A, B, 1, 5100), 'dev-a');
    assert.equal(err.kind, 'no-policy');
    assert.match(err.reason, /cannot be used/);
    assert.equal(w.server.entries().length, 0);
  }
});

test('fresh keys per entry: two entries never share keys', () => {
  const w = new World([policy('any', '*', '*')], { random: (n) => randomBytes(n) });
  const keys: string[] = [];
  const collect = (out: ServerOutput[]) => {
    const d = distributionTo(out, 'dev-a');
    for (const sa of [d.toPeer, d.fromPeer]) keys.push(Buffer.from(sa.encryptionKey).toString('hex'));
  };
  collect(completePair(w)); // A-B
  w.ask(10, A, C, 1002, 5200);
  collect(w.ask(20, C, A, 3001, 7100)); // A-C
  w.ask(30, A, B, 1003, 5300);
  collect(w.ask(40, B, A, 2002, 6300)); // A-B renewal
  assert.equal(new Set(keys).size, keys.length, 'six distinct keys');
  // And with a deterministic source the keys are the source's bytes, in order: nothing
  // else (no constant, no reuse) goes into them.
  const w2 = new World();
  const prng = Prng.fromSeed(7);
  const idBytes = prng.bytes(8); // the entry ID is drawn first (S22)
  const out = completePair(w2);
  const entry = w2.server.entries()[0]!;
  assert.equal(entry.id, Buffer.from(idBytes).toString('hex'));
  assert.deepEqual(Buffer.from(entry.params![0].encryptionKey), Buffer.from(prng.bytes(20)));
  assert.deepEqual(Buffer.from(entry.params![1].encryptionKey), Buffer.from(prng.bytes(20)));
  void out;
});

test('10,000 devices: every pair completes, the table holds one entry per pair', () => {
  const w = new World([policy('any', '*', '*')]);
  const n = 10_000;
  const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  for (let i = 0; i < n; i++) w.owners.set(addr(i), `d${i}`);
  let distributed = 0;
  for (let i = 0; i < n; i += 2) {
    w.server.handle({ type: 'request', deviceId: `d${i}`, request: { requestId: 1, requester: addr(i), peer: addr(i + 1), spi: 1000, flow: null } }, i);
    const out = w.server.handle({ type: 'request', deviceId: `d${i + 1}`, request: { requestId: 1, requester: addr(i + 1), peer: addr(i), spi: 1000, flow: null } }, i);
    distributed += sends(out, 'distribution').length;
  }
  assert.equal(distributed, n);
  assert.equal(w.server.entries().length, n / 2);
  assert.equal(w.server.counters.get('settings.distributed'), n / 2);
});
