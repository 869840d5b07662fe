// Seed 000 device steps S31-S37 (IPsec processing unit: hold/resume), S41-S49 (setting
// manager on a request) and S51-S60 (setting manager on a request activation): one test
// per branch of the seed's flow charts (figures 18-20), driven with virtual time and a
// seeded PRNG as the RandomSource.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMemoryDataPlane, MemoryWire } from '../../src/ipsec/memory-dataplane.js';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import { SettingsAgent } from '../../src/settings/agent.js';
import type { AgentInput } from '../../src/settings/types.js';
import { udpPacket } from '../ipsec/helpers.js';
import {
  A,
  B,
  CBC_SHA256,
  ENTRY,
  ENTRY_C,
  GCM128,
  acquire,
  activation,
  agent,
  applyTo,
  distributionFor,
  distributionMessage,
  errorMessage,
  events,
  installs,
  only,
  options,
  pkt,
  releases,
  requests,
  runUntil,
  scriptedSource,
  shape,
} from './agent-fixtures.js';

test('initialPolicies: one PROTECT policy per extended SPD entry, asking the entry\'s request peer', () => {
  const a = agent([ENTRY, ENTRY_C]);
  assert.deepEqual(a.initialPolicies(), [
    { id: 'to-b', priority: 10, selector: ENTRY.selector, action: 'protect', protect: { mode: 'tunnel', localTunnel: A, remoteTunnel: B, requestPeer: B } },
    { id: 'to-c', priority: 20, selector: ENTRY_C.selector, action: 'protect', protect: { mode: 'tunnel', localTunnel: A, remoteTunnel: '192.0.2.3', requestPeer: '192.0.2.3' } },
  ]);
});

test('S31-S32-S33 no request peer: conventional IPsec (not held)', () => {
  // An SPD entry without a setting-request peer is plain IPsec: the agent was not given
  // it, so an acquire for it is none of the agent's business.
  const a = agent();
  assert.deepEqual(a.handle(acquire(pkt(1), 'conventional-policy'), 0), []);
  assert.equal(a.counters.get('agent.settings.acquire.unknown-policy'), 1);
  const s = only(a.status(0));
  assert.equal(s.state, 'idle');
  assert.equal(s.held, 0);
  assert.equal(a.nextDueMs(), Infinity);
});

test('S34 SA exists: no request', async () => {
  // S34 runs in the data plane: with an outbound SA it seals the packet and asks nobody.
  let now = 0;
  const wire = new MemoryWire();
  const plane = createMemoryDataPlane({ wire, addresses: [A], nowMs: () => now });
  const a = agent();
  for (const p of a.initialPolicies()) await plane.installPolicy(p);
  const acquired: Uint8Array[] = [];
  plane.on((e) => {
    if (e.type === 'acquire') acquired.push(e.packet);
  });
  const first = udpPacket('10.0.1.5', '10.0.2.7', 1000, 53, Buffer.from('first'));
  assert.equal(plane.sendInner(first).kind, 'acquire');
  const out1 = a.handle(acquire(only(acquired)), now);
  const req = only(requests(out1));
  now = 40;
  await applyTo(plane, a.handle(distributionMessage(distributionFor(req, 0x5000)), now));
  // Now the SA exists: the next packet is sealed, no acquire, hence no request.
  const second = udpPacket('10.0.1.5', '10.0.2.7', 1000, 53, Buffer.from('second'));
  assert.equal(plane.sendInner(second).kind, 'send');
  assert.equal(acquired.length, 1);
  // Were the agent asked anyway (a shell that raced the installation), it still sends no
  // request: it hands the packet back to the data plane.
  const late = a.handle(acquire(second), now);
  assert.deepEqual(requests(late), []);
  assert.deepEqual(releases(late), [[second]]);
  assert.equal(only(a.status(now)).state, 'established');
});

test('S35-S41-S42-S43 first packet held, one request with fresh ID and SPI', () => {
  const a = agent([ENTRY, ENTRY_C]);
  const out = a.handle(acquire(pkt(1)), 1000);
  const req = only(requests(out));
  assert.equal(req.requester, A);
  assert.equal(req.peer, B);
  assert.equal(req.flow, null);
  assert.ok(Number.isInteger(req.requestId) && req.requestId >= 1 && req.requestId <= 0xffff_ffff);
  assert.ok(Number.isInteger(req.spi) && req.spi >= 256 && req.spi <= 0xffff_ffff);
  assert.deepEqual(events(out, 'request-sent'), [{ name: 'request-sent', policyId: 'to-b', requestId: req.requestId, spi: req.spi, send: 1, reason: 'acquire' }]);
  const s = a.status(1000)[0]!;
  assert.equal(s.state, 'requesting');
  assert.equal(s.held, 1);
  assert.deepEqual(s.request, { requestId: req.requestId, spi: req.spi, sends: 1, reason: 'acquire' });
  // The other entry's request gets its own ID and SPI.
  const other = only(requests(a.handle(acquire(pkt(2), 'to-c'), 1000)));
  assert.notEqual(other.requestId, req.requestId);
  assert.notEqual(other.spi, req.spi);
  assert.equal(other.peer, '192.0.2.3');
});

test('S42 fresh values even from a degenerate random source (all zero bytes)', () => {
  const a = new SettingsAgent([ENTRY, ENTRY_C], options({ random: (n) => new Uint8Array(n) }));
  const r1 = only(requests(a.handle(acquire(pkt(1)), 0)));
  const r2 = only(requests(a.handle(acquire(pkt(2), 'to-c'), 0)));
  for (const r of [r1, r2]) {
    assert.notEqual(r.requestId, 0);
    assert.ok(r.spi >= 256, `SPI ${r.spi} is reserved`);
  }
  assert.notEqual(r1.requestId, r2.requestId);
  assert.notEqual(r1.spi, r2.spi);
});

test('S35 one outstanding request per SPD entry', () => {
  const a = agent();
  const outs = [1, 2, 3, 4, 5].map((n) => a.handle(acquire(pkt(n)), n * 100));
  assert.equal(outs.flatMap(requests).length, 1);
  assert.equal(only(a.status(500)).held, 5);
  assert.equal(a.counters.get('agent.settings.acquire.request-outstanding'), 4);
});

test('S43 retransmission every 5 s with the same ID and SPI, at most 6', () => {
  const a = agent();
  const first = only(requests(a.handle(acquire(pkt(1)), 1000)));
  const log = runUntil(a, 1000 + 60_000);
  const sent = log.flatMap((l) => requests(l.out).map((r) => ({ atMs: l.atMs, ...r })));
  assert.deepEqual(
    sent.map((s) => s.atMs),
    [6000, 11_000, 16_000, 21_000, 26_000],
  );
  for (const s of sent) {
    assert.equal(s.requestId, first.requestId);
    assert.equal(s.spi, first.spi);
  }
  const sends = log.flatMap((l) => events(l.out, 'request-sent')).map((e) => e.send);
  assert.deepEqual(sends, [2, 3, 4, 5, 6]);
});

test('S44-S45-S46-S36 distribution installs inbound then outbound SA and releases held packets in order (S33 resumes)', () => {
  const a = agent();
  const held = [pkt(1), pkt(2), pkt(3)];
  const req = only(requests(a.handle(acquire(held[0]!), 0)));
  a.handle(acquire(held[1]!), 10);
  a.handle(acquire(held[2]!), 20);
  const d = distributionFor(req, 0x0001_2345, CBC_SHA256);
  const out = a.handle(distributionMessage(d), 300);
  assert.deepEqual(shape(out), ['install-sa:in', 'install-sa:out', 'install-policy', 'event:installed', 'release']);
  const [inbound, outbound] = installs(out);
  assert.deepEqual(inbound, {
    spi: req.spi,
    direction: 'in',
    mode: 'transport',
    localAddress: A,
    remoteAddress: B,
    encap: { localPort: 4500, remotePort: 4500 },
    encryption: { id: ENCR.AES_CBC, keyBits: 256, keyMaterial: Uint8Array.from(d.fromPeer.encryptionKey) },
    integrity: { id: INTEG.HMAC_SHA2_256_128, key: Uint8Array.from(d.fromPeer.integrityKey!) },
    esn: true,
    replayWindow: 1024,
    lifetime: { soft: { seconds: 2880 }, hard: { seconds: 3600 } },
    selector: ENTRY.selector,
    policyId: 'to-b',
  });
  assert.equal(outbound!.spi, 0x0001_2345);
  assert.equal(outbound!.direction, 'out');
  assert.deepEqual(outbound!.encryption.keyMaterial, Uint8Array.from(d.toPeer.encryptionKey));
  assert.deepEqual(outbound!.integrity?.key, Uint8Array.from(d.toPeer.integrityKey!));
  assert.deepEqual(outbound!.selector, ENTRY.selector);
  // S45: the applied policy (transport) is written into the SPD entry.
  const policy = out.find((o) => o.type === 'install-policy');
  assert.equal(policy?.type === 'install-policy' && policy.policy.protect?.mode, 'transport');
  assert.deepEqual(releases(out), [held]);
  assert.deepEqual(only(events(out, 'installed')), { name: 'installed', policyId: 'to-b', entryId: d.entryId, inboundSpi: req.spi, outboundSpi: 0x12345, renewal: false });
  const s = only(a.status(300));
  assert.equal(s.state, 'established');
  assert.equal(s.held, 0);
  assert.equal(s.request, null);
  assert.deepEqual(s.current, { entryId: d.entryId, inboundSpi: req.spi, outboundSpi: 0x12345, installedAtMs: 300, expiresAtMs: 3_600_300, renewAtMs: 2_880_300 });
  // No more retransmissions once answered.
  assert.deepEqual(runUntil(a, 60_000).flatMap((l) => requests(l.out)), []);
});

test('S44-S49-S37 no-policy error: held packets dropped, failure reported', () => {
  const a = agent();
  const req = only(requests(a.handle(acquire(pkt(1)), 0)));
  a.handle(acquire(pkt(2)), 5);
  const out = a.handle(errorMessage(req, 'no-policy'), 50);
  assert.deepEqual(releases(out), []);
  assert.deepEqual(only(events(out, 'failed')), { name: 'failed', policyId: 'to-b', failure: 'no-policy', droppedPackets: 2, reason: 'test no-policy' });
  const s = only(a.status(50));
  assert.equal(s.state, 'failed');
  assert.equal(s.held, 0);
  assert.equal(s.heldDropped, 2);
  assert.deepEqual(s.lastFailure, { failure: 'no-policy', atMs: 50, reason: 'test no-policy' });
  assert.equal(a.nextDueMs(), Infinity, 'no retransmission after the failure');
  // A later packet starts a new request (the entry is back to idle/failed, not stuck).
  const again = only(requests(a.handle(acquire(pkt(3)), 10_000)));
  assert.notEqual(again.requestId, req.requestId);
  assert.equal(only(a.status(10_000)).state, 'requesting');
});

test('S44-S49 no-response error', () => {
  const a = agent();
  const req = only(requests(a.handle(acquire(pkt(1)), 0)));
  const out = a.handle(errorMessage(req, 'no-response'), 30_000);
  const f = only(events(out, 'failed'));
  assert.equal(f.failure, 'no-response');
  assert.equal(f.droppedPackets, 1);
  assert.equal(only(a.status(30_000)).state, 'failed');
  // An error for a request that is no longer outstanding changes nothing.
  assert.deepEqual(a.handle(errorMessage(req, 'no-response'), 30_001), []);
  assert.equal(a.counters.get('agent.settings.error.unmatched'), 1);
});

test('S43-S49 six sends unanswered: failure', () => {
  const a = agent();
  a.handle(acquire(pkt(1)), 0);
  a.handle(acquire(pkt(2)), 1);
  const log = runUntil(a, 100_000);
  const failed = log.flatMap((l) => events(l.out, 'failed').map((e) => ({ atMs: l.atMs, ...e })));
  // Sends at 0, 5, ..., 25 s; the sixth gets its 5 s too, then the request has failed.
  assert.equal(log.flatMap((l) => requests(l.out)).length, 5);
  assert.equal(only(failed).atMs, 30_000);
  assert.equal(only(failed).failure, 'timeout');
  assert.equal(only(failed).droppedPackets, 2);
  assert.equal(only(a.status(30_000)).state, 'failed');
});

test('S47-S48 mismatch: new ID and SPI outside the entry list', () => {
  // The random source offers exactly the values the server says are taken first; the
  // agent must pass over them (and over the reserved SPI 17).
  const values: number[] = [0x1111, 0x2222_2222];
  const a = new SettingsAgent([ENTRY], options({ random: scriptedSource(values) }));
  const req = only(requests(a.handle(acquire(pkt(1)), 0)));
  assert.deepEqual([req.requestId, req.spi], [0x1111, 0x2222_2222]);
  const taken = [
    { requestId: 0x1111, spi: 0x2222_2222 },
    { requestId: 0x3333, spi: 0x4444_4444 },
  ];
  values.push(0x3333, 0x1111, 0x5555, 0x4444_4444, 17, 0x2222_2222, 0x6666_6666);
  const out = a.handle(errorMessage(req, 'mismatch', taken), 200);
  const again = only(requests(out));
  assert.equal(again.requestId, 0x5555);
  assert.equal(again.spi, 0x6666_6666);
  assert.deepEqual(events(out, 'failed'), []);
  assert.deepEqual(only(events(out, 'request-sent')), { name: 'request-sent', policyId: 'to-b', requestId: 0x5555, spi: 0x6666_6666, send: 1, reason: 'mismatch' });
  // A new retransmission cycle with the new values; the held packet is still held.
  const log = runUntil(a, 200 + 25_000);
  const resent = log.flatMap((l) => requests(l.out));
  assert.equal(resent.length, 5);
  assert.ok(resent.every((r) => r.requestId === 0x5555 && r.spi === 0x6666_6666));
  assert.equal(only(a.status(25_200)).held, 1);
  // A distribution for the old ID no longer matches anything; the new one installs.
  assert.deepEqual(a.handle(distributionMessage(distributionFor(req, 0x9000)), 25_300), []);
  const ok = a.handle(distributionMessage(distributionFor(again, 0x9000)), 25_400);
  assert.equal(installs(ok).length, 2);
  assert.equal(releases(ok).length, 1);
});

test('S47-S48 a server that answers only mismatch: the agent gives up', () => {
  const a = agent();
  let req = only(requests(a.handle(acquire(pkt(1)), 0)));
  let failed: ReturnType<typeof events<'failed'>> = [];
  for (let i = 0; i < 10 && failed.length === 0; i++) {
    const out = a.handle(errorMessage(req, 'mismatch', [{ requestId: req.requestId, spi: req.spi }]), i + 1);
    failed = events(out, 'failed');
    if (failed.length === 0) req = only(requests(out));
  }
  assert.equal(only(failed).failure, 'refused');
  assert.equal(a.counters.get('agent.settings.error.mismatch'), 5);
});

test('S51-S53 activation without matching entry ignored', () => {
  const a = agent();
  const out = a.handle(activation('192.0.2.99'), 0);
  assert.deepEqual(out, [{ type: 'event', event: { name: 'activation-ignored', peer: '192.0.2.99', reason: 'no-entry' } }]);
  // The right peer but another flow is another entry (none here).
  assert.deepEqual(requests(a.handle(activation(B, { protocol: 6, port: 443 }), 0)), []);
  assert.equal(a.counters.get('agent.settings.activation.no-entry'), 2);
  assert.equal(a.nextDueMs(), Infinity);
});

test('S51-S52-S54-S55 activation starts a request', () => {
  const a = agent([ENTRY_C, ENTRY]);
  const out = a.handle(activation(B), 0);
  const req = only(requests(out));
  assert.equal(req.requester, A);
  assert.equal(req.peer, B);
  assert.equal(only(events(out, 'request-sent')).reason, 'activation');
  assert.equal(a.status(0).find((s) => s.policyId === 'to-b')?.state, 'requesting');
  assert.equal(a.status(0).find((s) => s.policyId === 'to-c')?.state, 'idle');
  // S55: retransmitted like any request.
  const resent = runUntil(a, 25_000).flatMap((l) => requests(l.out));
  assert.equal(resent.length, 5);
  assert.ok(resent.every((r) => r.requestId === req.requestId && r.spi === req.spi));
});

test('activation repeated during a retry cycle is ignored', () => {
  const a = agent();
  a.handle(activation(B), 0);
  const out = a.handle(activation(B), 5000); // the server's second activation
  assert.deepEqual(requests(out).length, 1, 'only the due retransmission');
  assert.deepEqual(events(out, 'activation-ignored'), [{ name: 'activation-ignored', peer: B, reason: 'in-progress' }]);
  assert.equal(only(events(out, 'request-sent')).send, 2);
  // Likewise while a request started by a packet runs.
  const b = agent();
  b.handle(acquire(pkt(1)), 0);
  assert.deepEqual(requests(b.handle(activation(B), 100)), []);
});

test('S56-S57 distribution after activation installs SAs', () => {
  const a = agent();
  const req = only(requests(a.handle(activation(B), 0)));
  const d = distributionFor(req, 0x7777);
  const out = a.handle(distributionMessage(d), 80);
  assert.deepEqual(shape(out), ['install-sa:in', 'install-sa:out', 'install-policy', 'event:installed']);
  assert.equal(installs(out)[0]!.spi, req.spi);
  assert.equal(installs(out)[1]!.spi, 0x7777);
  assert.equal(only(a.status(80)).state, 'established');
});

// Fig. 20 numbers S59 between the distribution (S56-S57) and error (S58, S60) branches of
// an activation-started request; the text names only S56, S58 and S60: the errors end the
// cycle without a report to the IPsec processing unit ([0142]).
test('S58-S59-S60 errors after activation are not reported as held-traffic failures', () => {
  for (const kind of ['no-policy', 'no-response'] as const) {
    const a = agent();
    const req = only(requests(a.handle(activation(B), 0)));
    const out = a.handle(errorMessage(req, kind), 100);
    assert.deepEqual(events(out, 'failed'), [], kind);
    const s = only(a.status(100));
    assert.equal(s.state, 'idle', kind);
    assert.equal(s.lastFailure, null, kind);
    assert.equal(a.counters.get(`agent.settings.activation.failed.${kind}`), 1);
  }
  // Timeout after an activation: quiet too.
  const t = agent();
  t.handle(activation(B), 0);
  assert.deepEqual(runUntil(t, 100_000).flatMap((l) => events(l.out, 'failed')), []);
  assert.equal(only(t.status(100_000)).state, 'idle');
  // But a packet that arrived meanwhile was held and is dropped: that IS reported.
  const h = agent();
  const req = only(requests(h.handle(activation(B), 0)));
  assert.deepEqual(requests(h.handle(acquire(pkt(1)), 10)), []);
  const f = only(events(h.handle(errorMessage(req, 'no-policy'), 20), 'failed'));
  assert.equal(f.droppedPackets, 1);
});

test('hold queue bounded, overflow dropped and counted', () => {
  const a = agent([ENTRY], { holdQueuePackets: 4 });
  const packets = Array.from({ length: 10 }, (_, i) => pkt(i));
  const outs = packets.map((p, i) => a.handle(acquire(p), i));
  const overflow = outs.flatMap((o) => events(o, 'hold-overflow'));
  assert.deepEqual(overflow.map((e) => e.dropped), [1, 2, 4]);
  const s = only(a.status(10));
  assert.equal(s.held, 4);
  assert.equal(s.heldDropped, 6);
  assert.equal(a.counters.get('agent.settings.hold.overflow'), 6);
  const req = only(outs.flatMap(requests));
  // Tail drop: the first four packets are the ones kept and released.
  const out = a.handle(distributionMessage(distributionFor(req, 0x8888)), 20);
  assert.deepEqual(releases(out), [packets.slice(0, 4)]);
});

test('bad distribution (wrong key length, reserved SPI) is ignored, nothing installed', () => {
  const a = agent();
  const req = only(requests(a.handle(acquire(pkt(1)), 0)));
  const good = distributionFor(req, 0x4000);
  const cbc = distributionFor(req, 0x4000, CBC_SHA256);
  const short = { ...good.toPeer, encryptionKey: good.toPeer.encryptionKey.subarray(1) };
  const bad: [string, typeof good][] = [
    ['encryption-key-length', { ...good, toPeer: short }],
    ['outbound-spi', { ...good, toPeer: { ...good.toPeer, spi: 255 } }],
    ['outbound-spi', { ...good, toPeer: { ...good.toPeer, spi: 0 } }],
    ['inbound-spi', { ...good, fromPeer: { ...good.fromPeer, spi: req.spi + 1 } }],
    ['encryption', { ...good, policy: { ...GCM128, encryption: { id: 9999, keyBits: 128 } } }],
    ['encryption', { ...good, policy: { ...GCM128, encryption: { id: ENCR.AES_GCM_16, keyBits: 100 } } }],
    ['encryption', { ...good, policy: { ...GCM128, encryption: { id: ENCR.NULL, keyBits: 0 } } }],
    ['integrity-with-aead', { ...good, policy: { ...GCM128, integrity: { id: INTEG.HMAC_SHA2_256_128 } } }],
    ['integrity-missing', { ...cbc, policy: { ...CBC_SHA256, integrity: null } }],
    ['integrity-key-length', { ...cbc, fromPeer: { ...cbc.fromPeer, integrityKey: new Uint8Array(20) } }],
    ['integrity', { ...cbc, policy: { ...CBC_SHA256, integrity: { id: 77 } } }],
    ['lifetime', { ...good, policy: { ...GCM128, lifetimeSeconds: 0 } }],
    ['mode', { ...good, policy: { ...GCM128, mode: 'beet' as 'tunnel' } }],
    ['entry-id', { ...good, entryId: 'not-hex' }],
  ];
  for (const [reason, d] of bad) {
    assert.deepEqual(a.handle(distributionMessage(d), 10), [], reason);
  }
  for (const reason of new Set(bad.map(([r]) => r))) {
    assert.ok(a.counters.get(`agent.settings.distribution.bad.${reason}`) >= 1, reason);
  }
  // Still waiting (and retransmitting); the held packet is still there.
  const s = only(a.status(10));
  assert.equal(s.state, 'requesting');
  assert.equal(s.held, 1);
  // The good one installs; a copy of it afterwards is a duplicate; a stranger is unmatched.
  assert.equal(installs(a.handle(distributionMessage(good), 20)).length, 2);
  assert.deepEqual(a.handle(distributionMessage(good), 30), []);
  assert.equal(a.counters.get('agent.settings.distribution.duplicate'), 1);
  assert.deepEqual(a.handle(distributionMessage({ ...good, requestId: good.requestId ^ 1, entryId: 'ffffffffffffffff' }), 40), []);
  assert.equal(a.counters.get('agent.settings.distribution.unmatched'), 1);
});

test('garbage inputs never throw and change nothing', () => {
  const anything = fc.anything({ withTypedArray: true, withNullPrototype: true, maxDepth: 3 });
  fc.assert(
    fc.property(anything, anything, (x, y) => {
      const a = agent();
      const inputs = [
        x,
        { type: 'message', message: x },
        { type: 'message', message: { kind: 'distribution', distribution: x } },
        { type: 'message', message: { kind: 'error', error: x } },
        { type: 'message', message: { kind: 'activation', activation: y } },
        { type: 'inbound-used', spi: x },
        { type: 'acquire', policyId: x, packet: y },
      ];
      for (const input of inputs) a.handle(input as AgentInput, 0);
      assert.equal(a.counters.get('agent.settings.internal-error'), 0);
      assert.equal(a.status(0)[0]!.request, null);
    }),
    { numRuns: 300 },
  );
});
