// The memory DataPlane backend and its wire: traffic both ways, what travels on the wire,
// RFC 3948 demultiplexing (ESP / IKE marker / keepalive), events, virtual time, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryDataPlane, MemoryWire, type MemoryDatagram } from '../../src/ipsec/memory-dataplane.js';
import { DataPlaneError } from '../../src/ipsec/errors.js';
import type { DataPlaneEvent } from '../../src/ipsec/dataplane.js';
import { icmpPacket, mirror, twoPlanes, udpPacket } from './helpers.js';

const ping = (n: number, from = '10.0.1.5', to = '10.0.2.7') => icmpPacket(from, to, 8, 0, Buffer.from(`echo ${n} ------------`));

test('packets cross both ways inside UDP 4500 and never appear in clear on the wire', async () => {
  const { wire, a, b } = await twoPlanes();
  const seen: MemoryDatagram[] = [];
  wire.filter = (d) => {
    seen.push(d);
    return d;
  };
  const atA: Buffer[] = [];
  const atB: Buffer[] = [];
  a.onInner((p) => atA.push(p));
  b.onInner((p, via) => {
    assert.equal(via.spi, 0xa0b0);
    atB.push(p);
  });
  const requests = [0, 1, 2].map((n) => ping(n));
  const replies = [0, 1, 2].map((n) => ping(n, '10.0.2.7', '10.0.1.5'));
  for (const p of requests) assert.equal(a.sendInner(p).kind, 'send');
  for (const p of replies) assert.equal(b.sendInner(p).kind, 'send');
  assert.deepEqual(atB, requests);
  assert.deepEqual(atA, replies);
  assert.equal(seen.length, 6);
  for (const d of seen) {
    assert.equal(d.kind, 'udp');
    assert.equal(d.srcPort, 4500);
    assert.equal(d.dstPort, 4500);
    assert.ok([0xa0b0, 0xb0a0].includes(Buffer.from(d.payload).readUInt32BE(0)));
    assert.ok(!Buffer.from(d.payload).includes(Buffer.from('echo')), 'plaintext visible on the wire');
  }
  assert.equal((await b.counters())['rx.delivered'], 3);
});

test('raw ESP without encapsulation, loss and duplication on the wire', async () => {
  const { wire, a, b } = await twoPlanes({ encap: undefined });
  const kinds: string[] = [];
  let n = 0;
  wire.filter = (d) => {
    kinds.push(d.kind);
    n++;
    if (n === 2) return null; // lose the second
    if (n === 3) wire.send(d); // duplicate the third (queued, delivered after it)
    return d;
  };
  const got: Buffer[] = [];
  b.onInner((p) => got.push(p));
  for (let i = 0; i < 3; i++) a.sendInner(ping(i));
  assert.deepEqual(got, [ping(0), ping(2)]);
  assert.ok(kinds.every((k) => k === 'esp'));
  const c = await b.counters();
  assert.equal(c['drop.replay'], 1);
  assert.equal(c['rx.esp'], 3);
});

test('IKE behind the Non-ESP Marker and NAT keepalives share port 4500 with ESP', async () => {
  const { a, b } = await twoPlanes();
  const ike: { message: string; from: string }[] = [];
  b.onIke((m, from) => ike.push({ message: Buffer.from(m).toString(), from: from.address }));
  a.sendIke('192.0.2.1', '192.0.2.2', Buffer.from('IKE_SA_INIT'));
  a.sendKeepalive('192.0.2.1', '192.0.2.2');
  a.sendInner(ping(1));
  assert.deepEqual(ike, [{ message: 'IKE_SA_INIT', from: '192.0.2.1' }]);
  const c = await b.counters();
  assert.equal(c['rx.ike'], 1);
  assert.equal(c['rx.keepalive'], 1);
  assert.equal(c['rx.delivered'], 1);
  assert.equal(c['rx.esp'], 1, 'IKE and keepalives never reach ESP processing');
});

test('BYPASS goes in clear to whoever owns the destination; its SPD must allow it', async () => {
  const wire = new MemoryWire();
  const now = () => 0;
  const a = createMemoryDataPlane({ wire, addresses: ['192.0.2.1'], nowMs: now });
  const host = createMemoryDataPlane({ wire, addresses: ['203.0.113.9'], nowMs: now });
  await a.installPolicy({ id: 'clear', priority: 1, selector: {}, action: 'bypass' });
  // The host protects UDP port 7 from 192.0.2.1 (inbound view: remote = the sender), lets
  // UDP 6 in clear and has no policy for anything else.
  await host.installPolicy({
    id: 'must-be-protected',
    priority: 1,
    selector: { remote: { start: '192.0.2.1', end: '192.0.2.1' }, protocol: 17, localPorts: { start: 7, end: 7 } },
    action: 'protect',
    protect: { mode: 'transport', remoteTunnel: '192.0.2.1' },
  });
  await host.installPolicy({ id: 'udp6', priority: 2, selector: { protocol: 17, localPorts: { start: 6, end: 6 } }, action: 'bypass' });
  const got: Buffer[] = [];
  host.onInner((p, via) => {
    assert.equal(via.spi, null);
    got.push(p);
  });
  const p = udpPacket('192.0.2.1', '203.0.113.9', 5, 6, Buffer.from('hi'));
  assert.equal(a.sendInner(p).kind, 'bypass');
  assert.deepEqual(got, [p]);
  a.sendInner(udpPacket('192.0.2.1', '203.0.113.10', 5, 6, Buffer.from('hi')));
  assert.equal(wire.undeliverable, 1);
  assert.equal(a.sendInner(udpPacket('192.0.2.1', '203.0.113.9', 5, 7, Buffer.from('hi'))).kind, 'bypass');
  assert.equal(a.sendInner(udpPacket('192.0.2.1', '203.0.113.9', 5, 8, Buffer.from('hi'))).kind, 'bypass');
  assert.deepEqual(got, [p]);
  const c = await host.counters();
  assert.equal(c['drop.unprotected'], 1);
  assert.equal(c['drop.no-policy'], 1);
  assert.equal(c['rx.clear'], 3);
});

test('acquire events carry the packet and are rate limited on the virtual clock', async () => {
  const wire = new MemoryWire();
  const clock = { nowMs: 5_000 };
  const a = createMemoryDataPlane({ wire, addresses: ['192.0.2.1'], nowMs: () => clock.nowMs });
  await a.installPolicy({ id: 'p', priority: 1, selector: {}, action: 'protect', protect: { mode: 'tunnel', remoteTunnel: '192.0.2.2' } });
  const events: DataPlaneEvent[] = [];
  a.on((e) => events.push(e));
  const p = ping(1);
  a.sendInner(p);
  a.sendInner(p);
  clock.nowMs += 999;
  a.sendInner(p);
  clock.nowMs += 1;
  a.sendInner(p);
  assert.deepEqual(events, [
    { type: 'acquire', policyId: 'p', packet: new Uint8Array(p), atMs: 5_000 },
    { type: 'acquire', policyId: 'p', packet: new Uint8Array(p), atMs: 6_000 },
  ]);
  assert.equal((await a.counters())['drop.acquire-pending'], 2);
});

test('advance() runs lifetimes at virtual time and emits soft then hard expiry', async () => {
  const { a, b, clock, aToB } = await twoPlanes();
  await b.deleteSa('in', aToB.spi);
  await b.installSa(mirror(aToB, { lifetime: { soft: { seconds: 30 }, hard: { seconds: 60, packets: 3 } } }));
  const events: DataPlaneEvent[] = [];
  b.on((e) => events.push(e));
  clock.nowMs = 29_999;
  assert.deepEqual(b.advance(), []);
  clock.nowMs = 30_000;
  b.advance();
  assert.deepEqual(events, [{ type: 'soft-expire', spi: aToB.spi, direction: 'in', atMs: 30_000 }]);
  for (let i = 0; i < 4; i++) a.sendInner(ping(i));
  b.advance();
  // The hard limit removed the SA; the 4th packet then meets an unknown SPI, which the
  // data plane reports too (once a second per remote address).
  assert.deepEqual(events.slice(1), [
    { type: 'unknown-spi', spi: aToB.spi, remoteAddress: '192.0.2.1', atMs: 30_000 },
    { type: 'hard-expire', spi: aToB.spi, direction: 'in', atMs: 30_000 },
  ]);
  const c = await b.counters();
  assert.equal(c['rx.delivered'], 3);
  assert.equal(c['drop.unknown-spi'], 1);
  assert.ok(!(await b.listSas()).some((s) => s.spi === aToB.spi && s.direction === 'in'));
});

test('DataPlane errors: duplicate SA, unknown update, closed plane', async () => {
  const { a, aToB } = await twoPlanes();
  await assert.rejects(a.installSa(aToB), (e: unknown) => e instanceof DataPlaneError && e.code === 'sa-exists');
  await assert.rejects(a.updateSa({ ...aToB, spi: 0x777 }), (e: unknown) => e instanceof DataPlaneError && e.code === 'sa-not-found');
  assert.equal((await a.listSas()).length, 2);
  assert.equal((await a.listPolicies()).length, 1);
  await a.close();
  await assert.rejects(a.installSa({ ...aToB, spi: 0x778 }), (e: unknown) => e instanceof DataPlaneError && e.code === 'closed');
  assert.throws(() => a.sendInner(ping(1)), DataPlaneError);
});
