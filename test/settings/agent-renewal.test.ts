// Renewal before expiry (seed 000 §0127 "before an SA expires, a new request") with the
// make-before-break changeover keyplane adds: new inbound SA first, the new outbound SA
// once the peer is seen using the new SAs (or after switchDelayMs, never later than 2 s
// before the old outbound SA dies), the old inbound SA kept switchDelayMs for late packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SettingsAgent } from '../../src/settings/agent.js';
import type { AgentOptions } from '../../src/settings/types.js';
import type { AppliedPolicy, SettingsDistribution, SettingsRequest } from '../../src/wire/control-settings.js';
import {
  B,
  GCM128,
  acquire,
  activation,
  agent,
  deletes,
  distributionFor,
  distributionMessage,
  errorMessage,
  events,
  installs,
  only,
  pkt,
  requests,
  runUntil,
  shape,
} from './agent-fixtures.js';

const LIFETIME_MS = GCM128.lifetimeSeconds * 1000;

interface Established {
  readonly a: SettingsAgent;
  readonly req: SettingsRequest;
  readonly d: SettingsDistribution;
}

// An agent whose entry got its SAs at `t0` (a packet, a request, a distribution).
function established(t0 = 1000, over: Partial<AgentOptions> = {}, policy: AppliedPolicy = GCM128): Established {
  const a = agent(undefined, over);
  const req = only(requests(a.handle(acquire(pkt(1)), t0)));
  const d = distributionFor(req, 0x1000_0001, policy);
  a.handle(distributionMessage(d), t0);
  return { a, req, d };
}

// Runs to the renewal and answers it: returns the renewal request and distribution.
function renewed(e: Established, answerAtMs: number, peerSpi = 0x2000_0002): { req: SettingsRequest; d: SettingsDistribution; out: ReturnType<SettingsAgent['handle']> } {
  const sent = runUntil(e.a, answerAtMs).flatMap((l) => requests(l.out));
  const req = sent[0]!;
  assert.ok(sent.every((r) => r.requestId === req.requestId && r.spi === req.spi), 'retransmissions repeat the request');
  const d = distributionFor(req, peerSpi);
  return { req, d, out: e.a.handle(distributionMessage(d), answerAtMs) };
}

test('renewal request at 80 % of the lifetime, with a new ID and SPI', () => {
  const { a, req, d } = established(1000);
  const renewAt = 1000 + 0.8 * LIFETIME_MS;
  assert.equal(a.nextDueMs(), renewAt);
  assert.deepEqual(a.handle({ type: 'tick' }, renewAt - 1), []);
  const out = a.handle({ type: 'tick' }, renewAt);
  const r = only(requests(out));
  assert.equal(only(events(out, 'request-sent')).reason, 'renewal');
  assert.notEqual(r.requestId, req.requestId);
  assert.notEqual(r.spi, req.spi);
  assert.equal(r.peer, B);
  const s = only(a.status(renewAt));
  assert.equal(s.state, 'renewing');
  assert.equal(s.current?.entryId, d.entryId, 'the old SAs stay in use meanwhile');
  assert.deepEqual(installs(out), []);
  assert.deepEqual(deletes(out), []);
});

test('new inbound SA installed before the old outbound is replaced', () => {
  const e = established(1000);
  const at = 1000 + 0.8 * LIFETIME_MS + 300;
  const { req, d, out } = renewed(e, at);
  assert.deepEqual(shape(out), ['install-sa:in', 'install-policy', 'event:installed']);
  const inbound = only(installs(out));
  assert.equal(inbound.spi, req.spi);
  assert.deepEqual(inbound.lifetime.hard, { seconds: 3600 });
  assert.deepEqual(only(events(out, 'installed')), { name: 'installed', policyId: 'to-b', entryId: d.entryId, inboundSpi: req.spi, outboundSpi: 0x2000_0002, renewal: true });
  // The old set still carries outbound traffic; the switch is due switchDelayMs later.
  const s = only(e.a.status(at));
  assert.equal(s.state, 'renewing');
  assert.equal(s.current?.outboundSpi, 0x1000_0001);
  assert.equal(e.a.nextDueMs(), at + 6000);
});

test('switch on inbound-used', () => {
  const e = established(1000);
  const at = 1000 + 0.8 * LIFETIME_MS;
  const { req } = renewed(e, at);
  // Traffic on the OLD inbound SA says nothing about the peer having switched.
  assert.deepEqual(e.a.handle({ type: 'inbound-used', spi: e.req.spi }, at + 50), []);
  const out = e.a.handle({ type: 'inbound-used', spi: req.spi }, at + 100);
  assert.deepEqual(shape(out), ['install-sa:out', 'delete-sa:out', 'event:switched']);
  const outbound = only(installs(out));
  assert.equal(outbound.spi, 0x2000_0002);
  assert.equal(outbound.direction, 'out');
  // Its hard lifetime ends with its set (installed 100 ms ago).
  assert.deepEqual(outbound.lifetime.hard, { seconds: 3599.9 });
  assert.deepEqual(deletes(out), [{ direction: 'out', spi: 0x1000_0001 }]);
  assert.deepEqual(only(events(out, 'switched')), { name: 'switched', policyId: 'to-b', outboundSpi: 0x2000_0002, cause: 'inbound-used' });
  const s = only(e.a.status(at + 100));
  assert.equal(s.state, 'established');
  assert.equal(s.current?.inboundSpi, req.spi);
  assert.equal(s.current?.outboundSpi, 0x2000_0002);
  // Once switched, more traffic changes nothing.
  assert.deepEqual(e.a.handle({ type: 'inbound-used', spi: req.spi }, at + 200), []);
});

test('switch on delay', () => {
  const e = established(1000);
  const at = 1000 + 0.8 * LIFETIME_MS;
  renewed(e, at);
  assert.deepEqual(e.a.handle({ type: 'tick' }, at + 5999), []);
  const out = e.a.handle({ type: 'tick' }, at + 6000);
  assert.deepEqual(shape(out), ['install-sa:out', 'delete-sa:out', 'event:switched']);
  assert.equal(only(events(out, 'switched')).cause, 'delay');
});

test('switch never later than 2 s before the old outbound SA expires', () => {
  // Renewal late in the lifetime (99.5 %): the distribution comes 3 s before expiry.
  const t0 = 1000;
  const expiry = t0 + LIFETIME_MS;
  const e = established(t0, { renewAtFraction: 0.995 });
  renewed(e, expiry - 3000);
  assert.equal(e.a.nextDueMs(), expiry - 2000);
  assert.equal(only(events(e.a.handle({ type: 'tick' }, expiry - 2000), 'switched')).cause, 'delay');
  // ... and 1 s before expiry: at once, in the same breath as the inbound SA.
  const late = established(t0, { renewAtFraction: 0.995 });
  const { out } = renewed(late, expiry - 1000);
  assert.deepEqual(shape(out), ['install-sa:in', 'install-policy', 'event:installed', 'install-sa:out', 'delete-sa:out', 'event:switched']);
});

test('old inbound removed after the grace', () => {
  const e = established(1000);
  const at = 1000 + 0.8 * LIFETIME_MS;
  const { req } = renewed(e, at);
  const switchAt = at + 1234;
  e.a.handle({ type: 'inbound-used', spi: req.spi }, switchAt);
  assert.equal(e.a.nextDueMs(), switchAt + 6000);
  assert.deepEqual(e.a.handle({ type: 'tick' }, switchAt + 5999), []);
  const out = e.a.handle({ type: 'tick' }, switchAt + 6000);
  assert.deepEqual(deletes(out), [{ direction: 'in', spi: e.req.spi }]);
  // Next is the new set's own renewal.
  assert.equal(e.a.nextDueMs(), at + 0.8 * LIFETIME_MS);
});

test('hard expiry without renewal', () => {
  const t0 = 1000;
  const e = established(t0);
  const failures: string[] = [];
  let expiredOut: ReturnType<SettingsAgent['handle']> = [];
  // The server turns every renewal down (no-policy): the SAs run out.
  for (let due = e.a.nextDueMs(); due <= t0 + LIFETIME_MS; due = e.a.nextDueMs()) {
    const out = e.a.handle({ type: 'tick' }, due);
    if (deletes(out).length > 0) expiredOut = out;
    for (const r of requests(out)) {
      for (const f of events(e.a.handle(errorMessage(r, 'no-policy'), due), 'failed')) failures.push(f.reason);
    }
  }
  assert.ok(failures.length >= 2, 'the failed renewal is retried');
  assert.ok(failures.every((r) => r.startsWith('renewal: ')));
  assert.deepEqual(deletes(expiredOut), [
    { direction: 'in', spi: e.req.spi },
    { direction: 'out', spi: 0x1000_0001 },
  ]);
  const s = only(e.a.status(t0 + LIFETIME_MS));
  assert.equal(s.state, 'idle');
  assert.equal(s.current, null);
  assert.equal(e.a.nextDueMs(), Infinity);
  // The next packet asks again, as at the start.
  const out = e.a.handle(acquire(pkt(9)), t0 + LIFETIME_MS + 10);
  assert.equal(only(events(out, 'request-sent')).reason, 'acquire');
  assert.equal(only(e.a.status(t0 + LIFETIME_MS + 10)).held, 1);
});

test('a failed renewal is reported and retried while the SAs last', () => {
  const t0 = 0;
  const e = established(t0);
  const renewAt = 0.8 * LIFETIME_MS;
  const log = runUntil(e.a, renewAt + 30_000);
  assert.equal(log.flatMap((l) => requests(l.out)).length, 6);
  const f = only(log.flatMap((l) => events(l.out, 'failed')));
  assert.equal(f.failure, 'timeout');
  assert.equal(f.droppedPackets, 0);
  assert.match(f.reason, /^renewal: /);
  assert.equal(only(e.a.status(renewAt + 30_000)).state, 'established', 'the old SAs still work');
  // Retried when half of the remaining lifetime has passed.
  const retryAt = renewAt + 30_000 + (LIFETIME_MS - renewAt - 30_000) / 2;
  assert.equal(e.a.nextDueMs(), retryAt);
  assert.equal(only(events(e.a.handle({ type: 'tick' }, retryAt), 'request-sent')).reason, 'renewal');
});

test('activation while established starts a request and renews make-before-break', () => {
  const e = established(0);
  // The peer restarted (or renews first): the server activates this side.
  const out = e.a.handle(activation(B), 60_000);
  const r = only(requests(out));
  assert.equal(only(events(out, 'request-sent')).reason, 'activation');
  assert.equal(only(e.a.status(60_000)).state, 'renewing');
  const d = distributionFor(r, 0x3000_0003);
  const inst = e.a.handle(distributionMessage(d), 60_100);
  assert.deepEqual(shape(inst), ['install-sa:in', 'install-policy', 'event:installed']);
  assert.equal(only(events(inst, 'installed')).renewal, true);
  const sw = e.a.handle({ type: 'inbound-used', spi: r.spi }, 60_200);
  assert.deepEqual(deletes(sw), [{ direction: 'out', spi: 0x1000_0001 }]);
  assert.equal(only(installs(sw)).spi, 0x3000_0003);
});

test('an activation right after an installation is a stale copy and ignored', () => {
  const e = established(0);
  const out = e.a.handle(activation(B), 1000);
  assert.deepEqual(requests(out), []);
  assert.deepEqual(events(out, 'activation-ignored'), [{ name: 'activation-ignored', peer: B, reason: 'in-progress' }]);
  // The server's retransmission 5 s later is answered.
  assert.equal(requests(e.a.handle(activation(B), 5000)).length, 1);
});

test('a newer set overtaking one still waiting for its switch', () => {
  const e = established(0);
  const at = 0.8 * LIFETIME_MS;
  const first = renewed(e, at, 0x2000_0002);
  // Another request starts (an activation 5 s later) and is answered before the switch.
  const r2 = only(requests(e.a.handle(activation(B), at + 5000)));
  const out = e.a.handle(distributionMessage(distributionFor(r2, 0x4000_0004)), at + 5500);
  assert.deepEqual(shape(out), ['install-sa:in', 'install-policy', 'event:installed']);
  // The switch goes straight from the original set to the newest one.
  const sw = e.a.handle({ type: 'inbound-used', spi: r2.spi }, at + 5600);
  assert.equal(only(installs(sw)).spi, 0x4000_0004);
  assert.deepEqual(deletes(sw), [{ direction: 'out', spi: 0x1000_0001 }]);
  // Both older inbound SAs go after their grace: the overtaken one 6 s after it was
  // overtaken, the original one 6 s after the switch.
  const later = runUntil(e.a, at + 20_000).flatMap((l) => deletes(l.out));
  assert.deepEqual(later, [
    { direction: 'in', spi: first.req.spi },
    { direction: 'in', spi: e.req.spi },
  ]);
});
