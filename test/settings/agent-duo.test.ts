// End to end on the device side of seed 000: two SettingsAgents, each driving a real
// MemoryDataPlane (the packet engine), and a tiny hand-made setting server in this file
// that pairs the two requests and hands both ends mirrored parameters (seed S1-S11 in
// their simplest form). Shows a held packet leaving ESP-encrypted once the SAs are
// installed, and traffic in both directions surviving renewals without a single loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createMemoryDataPlane, MemoryWire, type MemoryDataPlane, type MemoryDatagram } from '../../src/ipsec/memory-dataplane.js';
import { SettingsAgent } from '../../src/settings/agent.js';
import type { AgentEvent, AgentInput, AgentOptions, AgentSpdEntry } from '../../src/settings/types.js';
import type { AppliedPolicy, SettingsMessage, SettingsRequest } from '../../src/wire/control-settings.js';
import { readEspSpi } from '../../src/wire/esp.js';
import { udpPacket } from '../ipsec/helpers.js';
import { A, B, GCM128, applyTo, options } from './agent-fixtures.js';

type Side = 'A' | 'B';

const ENTRIES: Record<Side, AgentSpdEntry> = {
  A: {
    id: 'a-to-b',
    priority: 10,
    selector: { local: { start: '10.0.1.0', end: '10.0.1.255' }, remote: { start: '10.0.2.0', end: '10.0.2.255' } },
    localAddress: A,
    requestPeer: B,
    flow: null,
  },
  B: {
    id: 'b-to-a',
    priority: 10,
    selector: { local: { start: '10.0.2.0', end: '10.0.2.255' }, remote: { start: '10.0.1.0', end: '10.0.1.255' } },
    localAddress: B,
    requestPeer: A,
    flow: null,
  },
};

// The setting server reduced to what the two agents need: the first request of a pair
// waits (and activates the peer), the second completes it and both ends get their
// distribution at once; a retransmitted request of a completed pair gets its copy again.
class MiniServer {
  readonly log: string[] = [];
  private readonly waiting = new Map<string, SettingsRequest>();
  private readonly done = new Map<string, SettingsMessage>(); // `${requester}/${id}/${spi}`
  private entries = 0;

  constructor(
    private readonly policy: AppliedPolicy,
    private readonly deliver: (to: string, m: SettingsMessage) => void,
  ) {}

  receive(r: SettingsRequest): void {
    const again = this.done.get(`${r.requester}/${r.requestId}/${r.spi}`);
    if (again !== undefined) {
      this.log.push(`resend ${r.requester}`);
      this.deliver(r.requester, again);
      return;
    }
    const mine = this.waiting.get(`${r.requester}>${r.peer}`);
    if (mine !== undefined && mine.requestId === r.requestId) return; // waiting for the peer
    const other = this.waiting.get(`${r.peer}>${r.requester}`);
    if (other === undefined) {
      this.waiting.set(`${r.requester}>${r.peer}`, r);
      this.log.push(`request ${r.requester}`, `activation ${r.peer}`);
      this.deliver(r.peer, { kind: 'activation', activation: { peer: r.requester, flow: r.flow } });
      return;
    }
    this.waiting.delete(`${r.peer}>${r.requester}`);
    this.log.push(`request ${r.requester}`, 'distribute');
    const entryId = (++this.entries).toString(16).padStart(16, '0');
    // Keys for AES-GCM: key + 4-byte salt (RFC 4106 §8.1).
    const bytes = this.policy.encryption.keyBits / 8 + 4;
    const firstToSecond = { spi: r.spi, encryptionKey: randomBytes(bytes), integrityKey: null };
    const secondToFirst = { spi: other.spi, encryptionKey: randomBytes(bytes), integrityKey: null };
    const forOther: SettingsMessage = {
      kind: 'distribution',
      distribution: { requestId: other.requestId, requester: other.requester, peer: other.peer, flow: other.flow, entryId, policy: this.policy, toPeer: firstToSecond, fromPeer: secondToFirst },
    };
    const forThis: SettingsMessage = {
      kind: 'distribution',
      distribution: { requestId: r.requestId, requester: r.requester, peer: r.peer, flow: r.flow, entryId, policy: this.policy, toPeer: secondToFirst, fromPeer: firstToSecond },
    };
    this.done.set(`${other.requester}/${other.requestId}/${other.spi}`, forOther);
    this.done.set(`${r.requester}/${r.requestId}/${r.spi}`, forThis);
    // The side that completed the pair first: the other one holds the packets (it asked
    // first), and releases them the moment its copy arrives; were its copy first, they
    // would reach this side before its inbound SA and be dropped (unknown SPI).
    this.deliver(r.requester, forThis);
    this.deliver(other.requester, forOther);
  }
}

class Duo {
  readonly clock = { nowMs: 0 };
  readonly wire = new MemoryWire();
  readonly planes: Record<Side, MemoryDataPlane>;
  readonly agents: Record<Side, SettingsAgent>;
  readonly server: MiniServer;
  readonly delivered: Record<Side, Buffer[]> = { A: [], B: [] };
  readonly events: Record<Side, AgentEvent[]> = { A: [], B: [] };
  readonly captured: MemoryDatagram[] = [];
  private readonly queue: { side: Side; input: AgentInput }[] = [];
  // Server -> device messages in flight (latency per side), delivered by advanceTo.
  private readonly inFlight: { atMs: number; side: Side; input: AgentInput }[] = [];

  // `latencyMs`: how long the server's messages take to reach each side.
  constructor(policy: AppliedPolicy, over: Partial<Record<Side, Partial<AgentOptions>>> = {}, latencyMs: Record<Side, number> = { A: 0, B: 0 }) {
    const nowMs = () => this.clock.nowMs;
    this.planes = {
      A: createMemoryDataPlane({ wire: this.wire, addresses: [A], nowMs }),
      B: createMemoryDataPlane({ wire: this.wire, addresses: [B], nowMs }),
    };
    this.agents = {
      A: new SettingsAgent([ENTRIES.A], options(over.A, 1)),
      B: new SettingsAgent([ENTRIES.B], options(over.B, 2)),
    };
    this.server = new MiniServer(policy, (to, message) => {
      const side: Side = to === A ? 'A' : 'B';
      const input: AgentInput = { type: 'message', message };
      if (latencyMs[side] === 0) this.queue.push({ side, input });
      else this.inFlight.push({ atMs: this.clock.nowMs + latencyMs[side], side, input });
    });
    this.wire.filter = (d) => {
      this.captured.push(d);
      return d;
    };
    for (const side of ['A', 'B'] as const) {
      const plane = this.planes[side];
      plane.on((e) => {
        if (e.type === 'acquire') this.queue.push({ side, input: { type: 'acquire', policyId: e.policyId, packet: e.packet } });
      });
      plane.onInner((packet, via) => {
        this.delivered[side].push(Buffer.from(packet));
        if (via.spi !== null) this.queue.push({ side, input: { type: 'inbound-used', spi: via.spi } });
      });
    }
  }

  async start(): Promise<void> {
    for (const side of ['A', 'B'] as const) for (const p of this.agents[side].initialPolicies()) await this.planes[side].installPolicy(p);
  }

  // Feeds queued inputs to the agents and carries out their outputs, until quiet.
  async pump(): Promise<void> {
    for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
      const { side, input } = item;
      const out = this.agents[side].handle(input, this.clock.nowMs);
      for (const o of out) if (o.type === 'event') this.events[side].push(o.event);
      await applyTo(this.planes[side], out, (m) => {
        if (m.kind === 'request') this.server.receive(m.request);
      });
    }
  }

  // Runs the agents' timers (and the data planes' lifetimes) up to `t`.
  async advanceTo(t: number): Promise<void> {
    for (;;) {
      const due = Math.min(this.agents.A.nextDueMs(), this.agents.B.nextDueMs(), ...this.inFlight.map((m) => m.atMs));
      if (due > t) break;
      await this.step(due);
    }
    await this.step(t);
  }

  private async step(t: number): Promise<void> {
    this.clock.nowMs = t;
    this.planes.A.advance();
    this.planes.B.advance();
    // Arrived messages first, in the order they were sent (stable sort).
    const arrived = this.inFlight.filter((m) => m.atMs <= t).sort((x, y) => x.atMs - y.atMs);
    for (const m of arrived) {
      this.inFlight.splice(this.inFlight.indexOf(m), 1);
      this.queue.push({ side: m.side, input: m.input });
    }
    for (const side of ['A', 'B'] as const) if (this.agents[side].nextDueMs() <= t) this.queue.push({ side, input: { type: 'tick' } });
    await this.pump();
  }

  async send(side: Side, packet: Buffer): Promise<void> {
    this.planes[side].sendInner(packet);
    await this.pump();
  }
}

function named<N extends AgentEvent['name']>(events: readonly AgentEvent[], name: N): Extract<AgentEvent, { name: N }>[] {
  return events.filter((e): e is Extract<AgentEvent, { name: N }> => e.name === name);
}

test('a held packet is delivered ESP-encrypted to the other data plane', async () => {
  const duo = new Duo(GCM128);
  await duo.start();
  const text = Buffer.from('the first packet, held while the server is asked');
  const first = udpPacket('10.0.1.5', '10.0.2.7', 40000, 53, text);
  await duo.send('A', first);
  // A asked, the server activated B, B asked, both got their SAs: A released the packet.
  assert.deepEqual(duo.server.log, [`request ${A}`, `activation ${B}`, `request ${B}`, 'distribute']);
  assert.deepEqual(duo.delivered.B, [first]);
  const installedA = named(duo.events.A, 'installed')[0]!;
  const installedB = named(duo.events.B, 'installed')[0]!;
  assert.equal(installedA.outboundSpi, installedB.inboundSpi);
  assert.equal(installedB.outboundSpi, installedA.inboundSpi);
  // On the wire: ESP in UDP/4500 (RFC 3948) to B's inbound SPI, the text not visible.
  const esp = duo.captured.filter((d) => d.kind === 'udp');
  assert.equal(esp.length, 1);
  assert.equal(esp[0]!.src, A);
  assert.equal(esp[0]!.dst, B);
  assert.equal(esp[0]!.dstPort, 4500);
  assert.equal(readEspSpi(esp[0]!.payload), installedB.inboundSpi);
  assert.equal(Buffer.from(esp[0]!.payload).indexOf(text), -1);
  // S57: B holds its SAs too: its answer goes straight out, no request, no activation.
  const reply = udpPacket('10.0.2.7', '10.0.1.5', 53, 40000, Buffer.from('the answer'));
  await duo.send('B', reply);
  assert.deepEqual(duo.delivered.A, [reply]);
  assert.equal(duo.server.log.length, 4);
});

// One packet from A sets the pair up (held, then released); then a steady two-way flow,
// a packet each way every 250 ms, from t = 1 s to `endMs`. Returns what was sent after
// the first packet.
async function flow(duo: Duo, endMs: number): Promise<Record<Side, Buffer[]>> {
  await duo.start();
  await duo.send('A', udpPacket('10.0.1.5', '10.0.2.7', 40000, 5001, Buffer.from('setup')));
  await duo.advanceTo(1000);
  assert.equal(duo.delivered.B.length, 1, 'the setup packet was held and delivered');
  duo.delivered.B.length = 0;
  const sent: Record<Side, Buffer[]> = { A: [], B: [] };
  for (let t = 1000, n = 0; t <= endMs; t += 250, n++) {
    await duo.advanceTo(t);
    const seq = Buffer.alloc(4);
    seq.writeUInt32BE(n);
    const ab = udpPacket('10.0.1.5', '10.0.2.7', 40000, 5001, seq);
    const ba = udpPacket('10.0.2.7', '10.0.1.5', 5001, 40000, seq);
    sent.A.push(ab);
    sent.B.push(ba);
    await duo.send('A', ab);
    await duo.send('B', ba);
  }
  return sent;
}

// The server's messages reach B after 50 ms and A after 400 ms: B always holds new SAs
// first, and, left to itself, would start sealing with them before A could open them.
const LATENCY = { A: 400, B: 50 };

test('packets keep flowing with no loss across renewals (make-before-break)', async () => {
  // 60 s SAs: renewals at 48 s, 96 s, ... A waits longer before switching by itself, so it
  // switches because B's traffic arrives on its new inbound SA.
  const duo = new Duo({ ...GCM128, lifetimeSeconds: 60 }, { A: { switchDelayMs: 15_000 } }, LATENCY);
  const sent = await flow(duo, 200_000);
  // Every packet arrived, once, in order.
  assert.deepEqual(duo.delivered.B, sent.A);
  assert.deepEqual(duo.delivered.A, sent.B);
  for (const side of ['A', 'B'] as const) {
    const ev = duo.events[side];
    assert.deepEqual(named(ev, 'failed'), [], side);
    const renewals = named(ev, 'installed').filter((e) => e.renewal);
    assert.ok(renewals.length >= 3, `${side}: ${renewals.length} renewals`);
    assert.equal(named(ev, 'switched').length, renewals.length, side);
    // Old SAs are cleaned up: at most the current pair plus one inbound in its grace.
    const sas = await duo.planes[side].listSas();
    assert.ok(sas.length <= 3, `${side} still holds ${sas.length} SAs`);
    const drops = Object.entries(await duo.planes[side].counters()).filter(([k]) => k.startsWith('drop.'));
    assert.deepEqual(drops, [], side);
  }
  assert.ok(named(duo.events.B, 'switched').every((e) => e.cause === 'delay'));
  assert.ok(named(duo.events.A, 'switched').every((e) => e.cause === 'inbound-used'));
  // Outbound SPIs on the wire changed with each renewal.
  const spis = new Set(duo.captured.filter((d) => d.kind === 'udp' && d.src === A).map((d) => readEspSpi(d.payload)));
  assert.ok(spis.size >= 4, `A used ${spis.size} outbound SPIs`);
});

test('control experiment: switching at once (switchDelayMs 0) loses packets at each renewal', async () => {
  // The same run without make-before-break: what the test above guards against.
  const duo = new Duo({ ...GCM128, lifetimeSeconds: 60 }, { A: { switchDelayMs: 0 }, B: { switchDelayMs: 0 } }, LATENCY);
  const sent = await flow(duo, 200_000);
  // B seals with SAs A does not have yet; B drops its old inbound SA while A still uses it.
  assert.ok(duo.delivered.A.length < sent.B.length);
  assert.ok(duo.delivered.B.length < sent.A.length);
  assert.ok(((await duo.planes.A.counters())['drop.unknown-spi'] ?? 0) >= 3);
  assert.ok(((await duo.planes.B.counters())['drop.unknown-spi'] ?? 0) >= 3);
});
