// Seed 000 in the deterministic simulator (src/sim): one SettingsServer, N SettingsAgents,
// and a control network that loses, duplicates and reorders settings messages in both
// directions, in virtual time. Every message crosses the network as real bytes: a control
// envelope (wire/control-message.ts) carrying one settings item (wire/control-settings.ts).
//
// The controller shell models the store as a Map: it carries out the server's outputs IN
// ORDER ('persist' / 'forget' to the Map, then the sends that follow them; write-ahead as
// the settings/types.ts contract asks), and a controller crash stops that execution at a
// random point between two outputs of a batch: what was applied to the store stays, the
// rest is lost. The restarted controller is a fresh SettingsServer restored from the Map.
//
// The data plane is a per-device model of the SAD (SAs by direction and SPI, the newest
// outbound SA of a policy in use, hard lifetimes enforced lazily as the kernel would) fed
// with the agents' outputs; packets between devices are sealed with the sender's outbound
// SA and opened with the receiver's inbound SA of the same SPI, and an inbound packet is
// reported to the agent ('inbound-used', the make-before-break switch signal).
//
// Properties are checked while the run goes (every delivered message, every persist, send
// and install) and at the end; a violation is a line tagged with the property:
//   [requester]      a device received a distribution or error naming another address
//   [foreign-keys]   a device installed keys that the store never held for its own pair
//                    and direction, or a distribution went to a device that is not the
//                    requester's
//   [no-policy-keys] an entry, distribution or install for a pair without a policy, or
//                    keys for a link nobody asked for
//   [key-reuse]      two entries (or the two directions of one) got the same key
//   [write-ahead]    a distribution was sent with keys the store did not hold at that moment
//   [policy]         applied algorithms differ from the pair's policy; 'no-policy' answered
//                    for a pair with one
//   [spi]            an SA's SPI is not the one its receiving device proposed
//   [converge]       a pair with a policy and traffic did not converge within the bound
//                    after loss stopped, diverged again, or stopped renewing
//   [dataplane]      an SA installed twice, a packet that found an SA with other keys, or a
//                    packet lost on a pair that had converged (make-before-break broken)
//   [failure]        a failure kind that cannot happen for that kind of pair
//   [table]          the final management table or store holds an entry for a pair without
//                    a policy, or the store and the table disagree
//   [decode]         a message did not decode
import { Simulator } from '../../src/sim/simulator.js';
import { Prng } from '../../src/sim/prng.js';
import type { LinkParams, SimInput, SimNode, SimSend } from '../../src/sim/types.js';
import { defaultServerOptions, SettingsServer } from '../../src/settings/server.js';
import { flowKey, PolicyTable, WILDCARD } from '../../src/settings/server-policies.js';
import { defaultAgentOptions, SettingsAgent } from '../../src/settings/agent.js';
import type {
  AgentEntryStatus,
  AgentEvent,
  AgentFailure,
  AgentOptions,
  AgentOutput,
  AgentSpdEntry,
  DistributionPolicy,
  ManagementEntry,
  RandomSource,
  ServerEvent,
  ServerOutput,
} from '../../src/settings/types.js';
import type { AppliedPolicy, FlowSelector, SaParameters, SettingsMessage } from '../../src/wire/control-settings.js';
import { encodeSettingsItem, isSettingsItemType, readSettingsItems } from '../../src/wire/control-settings.js';
import { decodeControlMessage, encodeControlMessage } from '../../src/wire/control-message.js';
import { ControlMessageType, type ControlMessageTypeValue } from '../../src/wire/control-types.js';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import type { Policy, SaConfig } from '../../src/ipsec/types.js';

export const CONTROLLER = 'controller';
const LOCAL = 'local'; // the sender of injected traffic (the hosts behind a device)
const TCP_443: FlowSelector = { protocol: 6, port: 443 };

// Test faults: each breaks one rule so that the self-tests can show the checker catches it.
export type Fault =
  | 'policy-leak' // the server's policy lookup answers every pair (a wildcard nobody configured)
  | 'misdeliver' // the network also hands each distribution to a random other device
  | 'key-reuse' // the server's random source repeats itself for key-sized draws
  | 'send-before-persist' // the controller shell sends before it stores (no write-ahead)
  | 'quiet-blackhole'; // after loss stops, one device still never hears the controller

export interface SettingsWorldConfig {
  readonly seed: number;
  readonly devices: number;
  readonly peersPerDevice: readonly [number, number]; // each device picks this many peers
  // 'pairs': a policy for a random share of the pairs (no wildcard); 'wildcard': ('*','*')
  // for everyone, plus the flow-specific policies.
  readonly policy: 'pairs' | 'wildcard';
  readonly policyFraction: number;
  // Pairs whose two devices also have an SPD entry for tcp/443 with a flow-specific policy;
  // with 'pairs', `flowOnlyPairs` of them have ONLY that policy (their flow-less entries
  // must get nothing).
  readonly flowPairs: number;
  readonly flowOnlyPairs: number;
  readonly oneSidedFraction: number; // pairs where only one device has an SPD entry
  readonly trafficFraction: number; // links that ever see traffic
  readonly burstsPerLink: readonly [number, number]; // during the chaos phase
  readonly lifetimeSeconds: number;
  readonly chaosMs: number;
  readonly quietMs: number; // no loss, no restarts, periodic traffic on every traffic link
  readonly chaosLink: LinkParams;
  readonly quietLink: LinkParams;
  readonly restarts: number; // controller crashes during the chaos phase
  readonly restartDownMs: readonly [number, number];
  readonly quietTrafficIntervalMs: number;
  readonly convergeBoundMs: number; // after the quiet phase starts
  readonly agent?: Partial<Omit<AgentOptions, 'random'>>;
  readonly fault?: Fault;
}

export function worldConfig(over: Partial<SettingsWorldConfig> & { readonly seed: number }): SettingsWorldConfig {
  return {
    devices: 20,
    peersPerDevice: [1, 3],
    policy: 'pairs',
    policyFraction: 0.7,
    flowPairs: 2,
    flowOnlyPairs: 1,
    oneSidedFraction: 0.05,
    trafficFraction: 0.85,
    burstsPerLink: [1, 3],
    // Short SAs: renewals at 48 s (renewAtFraction 0.8), several per run.
    lifetimeSeconds: 60,
    chaosMs: 150_000,
    quietMs: 120_000,
    // 20% loss and 20% duplication each way; delays up to 1.5 s reorder messages.
    chaosLink: { lossRate: 0.2, duplicateRate: 0.2, minDelayMs: 1, maxDelayMs: 1500 },
    quietLink: { lossRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 20 },
    restarts: 2,
    restartDownMs: [200, 4000],
    quietTrafficIntervalMs: 10_000,
    // Worst case after loss stops: a request cycle whose last send was lost just before
    // gives up one retransmission interval later (5 s, seed S43), the next packet comes
    // within quietTrafficIntervalMs (10 s) and is answered in a few round trips, and a
    // renewed set is switched to after switchDelayMs (6 s); plus 4 s for round trips and
    // activations. (Seen at most 20.2 s over 850 seeds of 20 devices, 35% loss included.)
    convergeBoundMs: 25_000,
    ...over,
  };
}

export function address(i: number): string {
  return `10.${(i >> 8) + 1}.${i & 255}.1`;
}

export function deviceId(i: number): string {
  return `dev-${i}`;
}

function entryIdFor(peer: number, flow: FlowSelector | null): string {
  return flow === null ? `to-${peer}` : `to-${peer}-p${flow.protocol}-${flow.port ?? 'any'}`;
}

function applied(kind: 'gcm' | 'cbc' | 'chacha', lifetimeSeconds: number): AppliedPolicy {
  switch (kind) {
    case 'gcm':
      return { protocol: 'esp', mode: 'tunnel', encryption: { id: ENCR.AES_GCM_16, keyBits: 128 }, integrity: null, esn: false, lifetimeSeconds };
    case 'cbc':
      return { protocol: 'esp', mode: 'transport', encryption: { id: ENCR.AES_CBC, keyBits: 256 }, integrity: { id: INTEG.HMAC_SHA2_256_128 }, esn: true, lifetimeSeconds };
    case 'chacha':
      return { protocol: 'esp', mode: 'tunnel', encryption: { id: ENCR.CHACHA20_POLY1305, keyBits: 256 }, integrity: null, esn: true, lifetimeSeconds };
  }
}

function sameApplied(x: AppliedPolicy, y: AppliedPolicy): boolean {
  return (
    x.protocol === y.protocol &&
    x.mode === y.mode &&
    x.encryption.id === y.encryption.id &&
    x.encryption.keyBits === y.encryption.keyBits &&
    (x.integrity?.id ?? null) === (y.integrity?.id ?? null) &&
    x.esn === y.esn &&
    x.lifetimeSeconds === y.lifetimeSeconds
  );
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function bytesEqual(x: Uint8Array | null | undefined, y: Uint8Array | null | undefined): boolean {
  if (x === null || x === undefined || y === null || y === undefined) return (x ?? null) === (y ?? null);
  return Buffer.from(x).equals(Buffer.from(y));
}

// `${low address} ${high address} ${flow}`: the identity of a pair and flow, either order.
function pairKey(x: string, y: string, flow: FlowSelector | null): string {
  return x < y ? `${x} ${y} ${flowKey(flow)}` : `${y} ${x} ${flowKey(flow)}`;
}

// ------------------------------------------------------------------------- payloads

interface DataPacket {
  readonly kind: 'data';
  readonly link: number;
  readonly fromSide: 0 | 1;
  readonly spi: number;
  readonly key: Uint8Array;
  readonly integrityKey: Uint8Array | null;
  readonly sentAtMs: number;
}

export type Payload =
  | { readonly kind: 'control'; readonly bytes: Uint8Array }
  | { readonly kind: 'traffic'; readonly policyId: string; readonly packet: Uint8Array }
  | DataPacket;

// ---------------------------------------------------------------------------- links

export interface LinkTrack {
  matched: boolean;
  mismatchSinceMs: number | null;
  convergedAtMs: number | null; // first match once the quiet phase started
  maxMismatchMs: number; // longest divergence after convergedAtMs
  readonly installs: [number, number];
  readonly renewalsAfterConverged: [number, number];
  readonly failures: [Map<AgentFailure, number>, Map<AgentFailure, number>];
  lateDrops: number; // packets sent after convergence that found no SA
  delivered: number;
}

// One SPD-entry pair: device `a` always has an entry towards `b`; `b` one towards `a`
// when twoSided. Two devices with a flow-specific entry form a second link.
export interface SimLink {
  readonly index: number;
  readonly a: number;
  readonly b: number;
  readonly flow: FlowSelector | null;
  readonly twoSided: boolean;
  readonly expected: AppliedPolicy | null; // the policy the server must apply; null = none
  readonly traffic: boolean;
  readonly entryIds: readonly [string, string];
  readonly track: LinkTrack;
}

function newTrack(): LinkTrack {
  return {
    matched: false,
    mismatchSinceMs: null,
    convergedAtMs: null,
    maxMismatchMs: 0,
    installs: [0, 0],
    renewalsAfterConverged: [0, 0],
    failures: [new Map(), new Map()],
    lateDrops: 0,
    delivered: 0,
  };
}

// ---------------------------------------------------------------------- data plane

interface SaSlot {
  readonly sa: SaConfig;
  readonly hardAtMs: number;
}

// The SAD and SPD of one device, as far as the simulation needs them.
class PlaneModel {
  readonly inbound = new Map<number, SaSlot>();
  readonly outbound = new Map<number, SaSlot>();
  private readonly outByPolicy = new Map<string, number[]>(); // SPIs in install order
  readonly policies = new Map<string, Policy>();
  expired = 0;

  private table(direction: 'in' | 'out'): Map<number, SaSlot> {
    return direction === 'in' ? this.inbound : this.outbound;
  }

  // false when (direction, SPI) is taken (a real data plane refuses: 'sa-exists').
  install(sa: SaConfig, nowMs: number): boolean {
    const t = this.table(sa.direction);
    if (t.has(sa.spi)) return false;
    t.set(sa.spi, { sa, hardAtMs: nowMs + (sa.lifetime.hard.seconds ?? Infinity) * 1000 });
    if (sa.direction === 'out' && sa.policyId !== undefined) this.outByPolicy.set(sa.policyId, [...(this.outByPolicy.get(sa.policyId) ?? []), sa.spi]);
    return true;
  }

  // The policy id of the SA removed, if there was one.
  remove(direction: 'in' | 'out', spi: number): string | undefined {
    const t = this.table(direction);
    const slot = t.get(spi);
    if (slot === undefined) return undefined;
    t.delete(spi);
    const pid = slot.sa.policyId;
    if (direction === 'out' && pid !== undefined) {
      const rest = (this.outByPolicy.get(pid) ?? []).filter((s) => s !== spi);
      if (rest.length === 0) this.outByPolicy.delete(pid);
      else this.outByPolicy.set(pid, rest);
    }
    return pid ?? '';
  }

  // Hard lifetimes end SAs without the agent (RFC 4301 §4.4.2.1).
  get(direction: 'in' | 'out', spi: number, nowMs: number): SaSlot | undefined {
    const slot = this.table(direction).get(spi);
    if (slot !== undefined && nowMs >= slot.hardAtMs) {
      this.remove(direction, spi);
      this.expired++;
      return undefined;
    }
    return slot;
  }

  // The newest live outbound SA of a policy (ipsec/sad.ts outboundForPolicy).
  outboundFor(policyId: string, nowMs: number): SaSlot | undefined {
    for (;;) {
      const list = this.outByPolicy.get(policyId);
      const spi = list?.[list.length - 1];
      if (spi === undefined) return undefined;
      const slot = this.get('out', spi, nowMs);
      if (slot !== undefined) return slot;
    }
  }
}

// ---------------------------------------------------------------------- wire

// Message IDs of the control envelope: one counter per world, so a run depends on its seed only.
class MessageIds {
  private last = 0;
  next(): number {
    this.last = (this.last % 0xffff_fffe) + 1;
    return this.last;
  }
}

function controlBytes(ids: MessageIds, type: ControlMessageTypeValue, m: SettingsMessage): Uint8Array {
  return encodeControlMessage({ type, messageId: ids.next(), items: [encodeSettingsItem(m)] });
}

function readControl(bytes: Uint8Array): SettingsMessage[] {
  return readSettingsItems(decodeControlMessage(bytes, isSettingsItemType).items);
}

// ------------------------------------------------------------------------ controller

class ControllerNode implements SimNode<Payload> {
  server: SettingsServer;
  readonly store = new Map<string, ManagementEntry>();
  life = 0;
  crashArmed = false;
  armAfterRestart = false;
  crashed = false;
  readonly crashes: { atMs: number; applied: number; of: number }[] = [];
  private readonly crashRandom: Prng;

  constructor(private readonly world: SettingsWorld) {
    this.crashRandom = world.root.fork('crash');
    this.server = this.fresh(0);
  }

  private fresh(nowMs: number): SettingsServer {
    const w = this.world;
    const prng = w.sim.fork(`${CONTROLLER}-life-${this.life}`);
    const random: RandomSource =
      w.config.fault === 'key-reuse' ? (n) => (n >= 16 ? new Uint8Array(n).fill(7) : prng.bytes(n)) : (n) => prng.bytes(n);
    const leak: DistributionPolicy = { id: 'leak', name: 'leak', a: WILDCARD, b: WILDCARD, flow: null, applied: applied('gcm', w.config.lifetimeSeconds), createdAtMs: 0 };
    const server = new SettingsServer(
      defaultServerOptions({
        random,
        deviceOfAddress: (addr) => w.deviceOfAddress.get(addr),
        ownsAddress: (dev, addr) => w.deviceOfAddress.get(addr) === dev,
        lookupPolicy: (r, p, f) => w.policies.lookup(r, p, f) ?? (w.config.fault === 'policy-leak' ? leak : undefined),
      }),
    );
    // What a real store gives back: copies, not the objects the old server handed out.
    server.restore([...this.store.values()].map((e) => structuredClone(e)), nowMs);
    return server;
  }

  handle(input: SimInput<Payload>, nowMs: number): SimSend<Payload>[] {
    if (this.crashed) {
      this.world.stats.lostInCrash++;
      return [];
    }
    if (input.type === 'timer') return this.carry(this.server.handle({ type: 'tick' }, nowMs), nowMs);
    if (input.payload.kind !== 'control') return [];
    let messages: SettingsMessage[];
    try {
      messages = readControl(input.payload.bytes);
    } catch (e) {
      this.world.violation('decode', nowMs, `controller: ${(e as Error).message}`);
      return [];
    }
    const sends: SimSend<Payload>[] = [];
    for (const m of messages) {
      if (m.kind !== 'request') {
        this.world.violation('decode', nowMs, `controller got a ${m.kind} from ${input.from}`);
        continue;
      }
      // The simulator's `from` is the authenticated channel's device (the keyroll issue).
      sends.push(...this.carry(this.server.handle({ type: 'request', deviceId: input.from, request: m.request }, nowMs), nowMs));
      if (this.crashed) break;
    }
    return sends;
  }

  // Carries out a batch in order; an armed crash stops it between two outputs.
  private carry(outs: readonly ServerOutput[], nowMs: number): SimSend<Payload>[] {
    const w = this.world;
    let ops = outs.filter((o) => o.type !== 'event');
    for (const o of outs) if (o.type === 'event') w.onServerEvent(o.event, nowMs);
    if (w.config.fault === 'send-before-persist') ops = [...ops.filter((o) => o.type === 'send'), ...ops.filter((o) => o.type !== 'send')];
    let limit = ops.length;
    if (this.crashArmed && ops.length >= 2) {
      limit = this.crashRandom.int(ops.length + 1);
      this.crashArmed = false;
      this.crashed = true;
      this.crashes.push({ atMs: nowMs, applied: limit, of: ops.length });
    }
    const sends: SimSend<Payload>[] = [];
    for (const o of ops.slice(0, limit)) {
      switch (o.type) {
        case 'persist':
          w.onPersist(o.entry, nowMs);
          this.store.set(o.entry.id, structuredClone(o.entry));
          break;
        case 'forget':
          this.store.delete(o.entryId);
          break;
        case 'send': {
          w.onServerSend(o.deviceId, o.message, nowMs);
          const payload: Payload = { kind: 'control', bytes: controlBytes(w.messageIds, ControlMessageType.PUSH, o.message) };
          sends.push({ to: o.deviceId, payload });
          if (w.config.fault === 'misdeliver' && o.message.kind === 'distribution') {
            const other = deviceId(w.misdeliverRandom.int(w.config.devices));
            if (other !== o.deviceId) sends.push({ to: other, payload });
          }
          break;
        }
      }
    }
    if (this.crashed) {
      const [lo, hi] = w.config.restartDownMs;
      w.sim.scheduleRestart(CONTROLLER, nowMs, { keepState: false, downMs: this.crashRandom.between(lo, hi) });
    }
    return sends;
  }

  nextDueMs(): number {
    return this.crashed ? Infinity : this.server.nextDueMs();
  }

  restart(_keepState: boolean, nowMs: number): SimSend<Payload>[] {
    this.life++;
    this.server = this.fresh(nowMs);
    this.crashed = false;
    this.crashArmed = this.armAfterRestart;
    this.armAfterRestart = false;
    this.world.onControllerRestart(nowMs);
    return [];
  }
}

// ---------------------------------------------------------------------------- device

class DeviceNode implements SimNode<Payload> {
  readonly agent: SettingsAgent;
  readonly plane = new PlaneModel();
  readonly id: string;
  readonly address: string;

  constructor(
    private readonly world: SettingsWorld,
    readonly index: number,
    entries: readonly AgentSpdEntry[],
  ) {
    this.id = deviceId(index);
    this.address = address(index);
    const prng = world.sim.fork(this.id);
    this.agent = new SettingsAgent(entries, defaultAgentOptions({ ...world.config.agent, random: (n) => prng.bytes(n) }));
    for (const p of this.agent.initialPolicies()) this.plane.policies.set(p.id, p);
  }

  handle(input: SimInput<Payload>, nowMs: number): SimSend<Payload>[] {
    const sends: SimSend<Payload>[] = [];
    if (input.type === 'timer') {
      this.carry(this.agent.handle({ type: 'tick' }, nowMs), nowMs, sends);
      return sends;
    }
    const p = input.payload;
    switch (p.kind) {
      case 'control': {
        let messages: SettingsMessage[];
        try {
          messages = readControl(p.bytes);
        } catch (e) {
          this.world.violation('decode', nowMs, `${this.id}: ${(e as Error).message}`);
          break;
        }
        for (const message of messages) {
          this.world.onDeviceReceive(this, message, nowMs);
          this.carry(this.agent.handle({ type: 'message', message }, nowMs), nowMs, sends);
        }
        break;
      }
      case 'traffic':
        this.outbound(p.policyId, p.packet, nowMs, sends);
        break;
      case 'data':
        this.inbound(p, nowMs, sends);
        break;
    }
    return sends;
  }

  nextDueMs(): number {
    return this.agent.nextDueMs();
  }

  // S31-S34 in the data plane: an SA -> ESP to the peer; none -> acquire (S35).
  private outbound(policyId: string, packet: Uint8Array, nowMs: number, sends: SimSend<Payload>[]): void {
    const slot = this.plane.outboundFor(policyId, nowMs);
    if (slot !== undefined) {
      this.world.seal(this, policyId, slot.sa, nowMs);
      return;
    }
    this.world.stats.acquires++;
    this.carry(this.agent.handle({ type: 'acquire', policyId, packet }, nowMs), nowMs, sends);
  }

  private inbound(d: DataPacket, nowMs: number, sends: SimSend<Payload>[]): void {
    const link = this.world.links[d.link]!;
    const slot = this.plane.get('in', d.spi, nowMs);
    if (slot === undefined) {
      this.world.stats.dataDropped++;
      const c = link.track.convergedAtMs;
      if (c !== null && d.sentAtMs >= c) {
        link.track.lateDrops++;
        this.world.violation('dataplane', nowMs, `link ${link.index} (${address(link.a)} ${address(link.b)}): packet sent at ${d.sentAtMs} after convergence found no inbound SA 0x${d.spi.toString(16)} at ${this.id}`);
      }
      return;
    }
    const sender = d.fromSide === 0 ? link.a : link.b;
    if (!bytesEqual(slot.sa.encryption.keyMaterial, d.key) || !bytesEqual(slot.sa.integrity?.key ?? null, d.integrityKey)) {
      this.world.violation('dataplane', nowMs, `${this.id}: inbound SA 0x${d.spi.toString(16)} has other keys than ${deviceId(sender)} sealed with`);
      return;
    }
    if (slot.sa.remoteAddress !== address(sender) || slot.sa.localAddress !== this.address) {
      this.world.violation('dataplane', nowMs, `${this.id}: packet from ${address(sender)} opened by SA for ${slot.sa.remoteAddress} -> ${slot.sa.localAddress}`);
    }
    this.world.stats.dataDelivered++;
    link.track.delivered++;
    this.carry(this.agent.handle({ type: 'inbound-used', spi: d.spi }, nowMs), nowMs, sends);
  }

  // The agent's outputs, in order (agent.ts: inbound SA before outbound before release).
  carry(outs: readonly AgentOutput[], nowMs: number, sends: SimSend<Payload>[]): void {
    const w = this.world;
    const touched = new Set<string>();
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          w.stats.agentSends++;
          sends.push({ to: CONTROLLER, payload: { kind: 'control', bytes: controlBytes(w.messageIds, ControlMessageType.REGISTRATION, o.message) } });
          break;
        case 'install-policy':
          this.plane.policies.set(o.policy.id, o.policy);
          break;
        case 'install-sa':
          w.onInstall(this, o.sa, nowMs);
          if (!this.plane.install(o.sa, nowMs)) w.violation('dataplane', nowMs, `${this.id}: SA ${o.sa.direction} 0x${o.sa.spi.toString(16)} installed twice`);
          if (o.sa.policyId !== undefined) touched.add(o.sa.policyId);
          break;
        case 'delete-sa': {
          const pid = this.plane.remove(o.direction, o.spi);
          if (pid !== undefined) touched.add(pid);
          break;
        }
        case 'release':
          for (const packet of o.packets) {
            const slot = this.plane.outboundFor(o.policyId, nowMs);
            if (slot !== undefined) {
              w.stats.released++;
              w.seal(this, o.policyId, slot.sa, nowMs);
            } else {
              // A real data plane would raise an acquire again.
              w.stats.releasedWithoutSa++;
              w.sim.inject(LOCAL, this.id, { kind: 'traffic', policyId: o.policyId, packet }, nowMs);
            }
          }
          break;
        case 'event':
          w.onAgentEvent(this, o.event, nowMs);
          if ('policyId' in o.event) touched.add(o.event.policyId);
          break;
      }
    }
    for (const pid of touched) {
      const link = w.linkOf(this.index, pid);
      if (link !== undefined) w.evaluate(link, nowMs);
    }
  }

  status(policyId: string, nowMs: number): AgentEntryStatus | undefined {
    return this.agent.status(nowMs).find((s) => s.policyId === policyId);
  }
}

// ----------------------------------------------------------------------------- world

export interface WorldStats {
  acquires: number;
  agentSends: number;
  released: number;
  releasedWithoutSa: number;
  dataSent: number;
  dataDelivered: number;
  dataDropped: number;
  lostInCrash: number;
  distributed: number;
  renewals: number;
  renewalsAfterRestart: number;
  installs: number;
  failures: Record<string, number>;
}

export class SettingsWorld {
  readonly sim: Simulator<Payload>;
  readonly root: Prng;
  readonly links: SimLink[] = [];
  readonly devices: DeviceNode[] = [];
  readonly controller: ControllerNode;
  readonly policies = new PolicyTable();
  readonly deviceOfAddress = new Map<string, string>();
  readonly misdeliverRandom: Prng;
  readonly messageIds = new MessageIds();
  readonly quietStartMs: number;
  readonly endMs: number;
  readonly violations: string[] = [];
  readonly violationCounts = new Map<string, number>();
  readonly stats: WorldStats = {
    acquires: 0,
    agentSends: 0,
    released: 0,
    releasedWithoutSa: 0,
    dataSent: 0,
    dataDelivered: 0,
    dataDropped: 0,
    lostInCrash: 0,
    distributed: 0,
    renewals: 0,
    renewalsAfterRestart: 0,
    installs: 0,
    failures: {},
  };
  restartTimesMs: number[] = [];
  readonly transientMs: number;
  private readonly byDeviceEntry = new Map<string, SimLink>(); // `${device} ${entry id}`
  private readonly byPair = new Map<string, SimLink>(); // pairKey
  // Every key the store ever held for a complete entry: who may use it, in which direction.
  private readonly keyOwner = new Map<string, { readonly entryId: string; readonly from: string; readonly to: string; readonly spi: number }>();
  private readonly registered = new Set<string>();
  private readonly dataRandom: Prng;
  private finished = false;

  constructor(readonly config: SettingsWorldConfig) {
    this.root = Prng.fromSeed(config.seed);
    this.sim = new Simulator<Payload>({ seed: config.seed, defaultLink: config.chaosLink });
    this.dataRandom = this.root.fork('data');
    this.misdeliverRandom = this.root.fork('misdeliver');
    this.quietStartMs = config.chaosMs;
    this.endMs = config.chaosMs + config.quietMs;
    this.transientMs = (config.agent?.switchDelayMs ?? defaultAgentOptions({ random: () => new Uint8Array(0) }).switchDelayMs) + 1000;
    for (let i = 0; i < config.devices; i++) this.deviceOfAddress.set(address(i), deviceId(i));
    const entries = this.buildLinks();
    this.controller = new ControllerNode(this);
    this.sim.addNode(CONTROLLER, this.controller);
    for (let i = 0; i < config.devices; i++) {
      const d = new DeviceNode(this, i, entries[i]!);
      this.devices.push(d);
      this.sim.addNode(d.id, d);
    }
    this.scheduleTraffic();
    this.scheduleRestarts();
    this.sim.at(this.quietStartMs, (now) => this.startQuiet(now));
  }

  // Pairs, their SPD entries at both ends, and the policy store.
  private buildLinks(): AgentSpdEntry[][] {
    const c = this.config;
    const rnd = this.root.fork('setup');
    const pairs = new Set<string>();
    const edges: [number, number][] = [];
    for (let i = 0; i < c.devices; i++) {
      const k = rnd.between(c.peersPerDevice[0], c.peersPerDevice[1]);
      for (let n = 0; n < k; n++) {
        const j = rnd.int(c.devices);
        const key = i < j ? `${i} ${j}` : `${j} ${i}`;
        if (j === i || pairs.has(key)) continue;
        pairs.add(key);
        edges.push([i, j]);
      }
    }
    const kinds = ['gcm', 'cbc', 'chacha'] as const;
    const wildcard = applied('gcm', c.lifetimeSeconds);
    let createdAtMs = 0;
    const addPolicy = (a: string, b: string, flow: FlowSelector | null, p: AppliedPolicy): void => {
      const id = `p${this.policies.size + 1}`;
      this.policies.set({ id, name: id, a, b, flow, applied: p, createdAtMs: createdAtMs++ });
    };
    if (c.policy === 'wildcard') addPolicy(WILDCARD, WILDCARD, null, wildcard);
    const entries: AgentSpdEntry[][] = Array.from({ length: c.devices }, () => []);
    const addLink = (a: number, b: number, flow: FlowSelector | null, twoSided: boolean, expected: AppliedPolicy | null, traffic: boolean): void => {
      const link: SimLink = { index: this.links.length, a, b, flow, twoSided, expected, traffic, entryIds: [entryIdFor(b, flow), entryIdFor(a, flow)], track: newTrack() };
      this.links.push(link);
      this.byPair.set(pairKey(address(a), address(b), flow), link);
      const sides: [number, number][] = twoSided ? [[a, b], [b, a]] : [[a, b]];
      for (const [me, peer] of sides) {
        const id = entryIdFor(peer, flow);
        this.byDeviceEntry.set(`${me} ${id}`, link);
        entries[me]!.push({
          id,
          priority: flow === null ? 100 : 50,
          // PC mode: the device's own address to the peer's (and the flow's port, which the
          // simulated data plane does not look at).
          selector: { local: { start: address(me), end: address(me) }, remote: { start: address(peer), end: address(peer) } },
          localAddress: address(me),
          requestPeer: address(peer),
          flow,
        });
      }
    };
    let flowPairs = 0;
    for (const [a, b] of edges) {
      const twoSided = !rnd.chance(c.oneSidedFraction);
      const traffic = rnd.chance(c.trafficFraction);
      if (twoSided && flowPairs < c.flowPairs) {
        // Two protected flows between the same two devices: tcp/443 with its own policy.
        const flowOnly = c.policy === 'pairs' && flowPairs < c.flowOnlyPairs;
        flowPairs++;
        const flowApplied = applied('cbc', c.lifetimeSeconds);
        addPolicy(address(a), address(b), TCP_443, flowApplied);
        const plain = c.policy === 'wildcard' ? wildcard : flowOnly ? null : applied('chacha', c.lifetimeSeconds);
        if (plain !== null && c.policy === 'pairs') addPolicy(address(a), address(b), null, plain);
        addLink(a, b, TCP_443, true, flowApplied, true);
        addLink(a, b, null, true, plain, true);
        continue;
      }
      let expected: AppliedPolicy | null = null;
      if (c.policy === 'wildcard') expected = wildcard;
      else if (rnd.chance(c.policyFraction)) {
        expected = applied(rnd.pick(kinds), c.lifetimeSeconds);
        addPolicy(address(a), address(b), null, expected);
      }
      addLink(a, b, null, twoSided, expected, traffic);
    }
    return entries;
  }

  // Chaos-phase bursts (from either end, sometimes both in the same millisecond), then a
  // packet and its answer every quietTrafficIntervalMs on every traffic link once loss stops.
  private scheduleTraffic(): void {
    const c = this.config;
    const rnd = this.root.fork('traffic');
    let seq = 0;
    const packet = (): Uint8Array => {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(0x45000008);
      b.writeUInt32BE(seq++ >>> 0, 4);
      return b;
    };
    const send = (link: SimLink, side: 0 | 1, atMs: number): void => {
      const dev = side === 0 ? link.a : link.b;
      this.sim.inject(LOCAL, deviceId(dev), { kind: 'traffic', policyId: link.entryIds[side], packet: packet() }, atMs);
    };
    for (const link of this.links) {
      if (!link.traffic) continue;
      const bursts = rnd.between(c.burstsPerLink[0], c.burstsPerLink[1]);
      for (let n = 0; n < bursts; n++) {
        const t = rnd.int(Math.max(1, c.chaosMs - 1000));
        const who = link.twoSided ? rnd.int(5) : 0; // 0..1: a, 2..3: b, 4: both at once
        const sides: (0 | 1)[] = !link.twoSided || who <= 1 ? [0] : who <= 3 ? [1] : [0, 1];
        const packets = rnd.between(1, 3);
        for (const side of sides) for (let k = 0; k < packets; k++) send(link, side, t + (k === 0 ? 0 : rnd.int(200)));
      }
      // Request and answer: one end sends, the other answers 50-250 ms later.
      for (let t = this.quietStartMs + rnd.int(c.quietTrafficIntervalMs); t < this.endMs; t += c.quietTrafficIntervalMs) {
        const first: 0 | 1 = link.twoSided && rnd.chance(0.5) ? 1 : 0;
        send(link, first, t);
        if (link.twoSided) send(link, first === 0 ? 1 : 0, t + rnd.between(50, 250));
      }
    }
  }

  private scheduleRestarts(): void {
    const c = this.config;
    const rnd = this.root.fork('restarts');
    // One crash at a random time in each of `restarts` equal slices of 10%..85% of the
    // chaos phase; one that falls while the controller is still down waits for its restart.
    const slice = (0.75 * c.chaosMs) / Math.max(1, c.restarts);
    for (let i = 0; i < c.restarts; i++) {
      const t = Math.floor(0.1 * c.chaosMs + i * slice + rnd.float() * slice);
      this.sim.at(t, () => {
        // The crash hits the next batch of two or more outputs (ControllerNode.carry).
        if (this.controller.crashed) this.controller.armAfterRestart = true;
        else this.controller.crashArmed = true;
      });
    }
  }

  private startQuiet(nowMs: number): void {
    this.controller.crashArmed = false;
    this.controller.armAfterRestart = false;
    this.sim.setDefaultLink(this.config.quietLink);
    if (this.config.fault === 'quiet-blackhole') {
      const victim = this.links.find((l) => l.expected !== null && l.twoSided && l.traffic);
      if (victim !== undefined) this.sim.setLink(CONTROLLER, deviceId(victim.a), { ...this.config.quietLink, lossRate: 1 });
    }
    for (const link of this.links) this.evaluate(link, nowMs);
  }

  run(): void {
    if (this.finished) throw new Error('run() twice');
    // A core that asks for ticks without end fails fast instead of hanging.
    const budget = 2_000 * this.config.devices * Math.ceil(this.endMs / 1000);
    this.sim.runUntil(this.endMs, budget);
    this.finish(this.endMs);
    this.finished = true;
  }

  linkOf(device: number, entryId: string): SimLink | undefined {
    return this.byDeviceEntry.get(`${device} ${entryId}`);
  }

  violation(tag: string, nowMs: number, what: string): void {
    this.violationCounts.set(tag, (this.violationCounts.get(tag) ?? 0) + 1);
    if (this.violations.length < 40) this.violations.push(`[${tag}] t=${nowMs} ${what}`);
  }

  hasViolation(tag: string): boolean {
    return (this.violationCounts.get(tag) ?? 0) > 0;
  }

  // ------------------------------------------------------------------ observations

  onControllerRestart(nowMs: number): void {
    this.restartTimesMs.push(nowMs);
  }

  onServerEvent(e: ServerEvent, _nowMs: number): void {
    if (e.name === 'distributed') this.stats.distributed++;
  }

  // A 'persist' about to be applied: the entry must be for a configured pair with a policy,
  // and a complete entry's keys are registered (fresh, one owner each).
  onPersist(e: ManagementEntry, nowMs: number): void {
    const [r0, r1] = e.rows;
    const link = this.byPair.get(pairKey(r0.address, r1.address, e.flow));
    const what = `entry ${e.id} ${r0.address} ${r1.address} flow ${flowKey(e.flow) || '-'}`;
    if (link === undefined || link.expected === null) this.violation('no-policy-keys', nowMs, `${what} persisted for a pair without a policy`);
    else if (!sameApplied(link.expected, e.applied)) this.violation('policy', nowMs, `${what} applies ${JSON.stringify(e.applied)}, the pair's policy is ${JSON.stringify(link.expected)}`);
    for (const r of e.rows) {
      if (this.deviceOfAddress.get(r.address) !== r.deviceId) this.violation('foreign-keys', nowMs, `${what}: row ${r.address} belongs to ${r.deviceId}`);
    }
    if (e.params === null || this.registered.has(e.id)) return;
    this.registered.add(e.id);
    const own = new Set<string>();
    for (const d of [0, 1] as const) {
      const from = e.rows[d].address;
      const to = e.rows[1 - d]!.address;
      const p: SaParameters = e.params[d];
      // S10: the SA towards a device carries the SPI that device proposed.
      if (p.spi !== e.rows[1 - d]!.spi) this.violation('spi', nowMs, `${what}: SA ${from} -> ${to} has SPI ${p.spi}, ${to} proposed ${e.rows[1 - d]!.spi}`);
      for (const k of [p.encryptionKey, p.integrityKey]) {
        if (k === null) continue;
        const h = hex(k);
        const prev = this.keyOwner.get(h);
        if (prev !== undefined || own.has(h)) this.violation('key-reuse', nowMs, `${what}: key already used by entry ${prev?.entryId ?? e.id}`);
        else this.keyOwner.set(h, { entryId: e.id, from, to, spi: p.spi });
        own.add(h);
      }
    }
  }

  // A send about to be carried out: a distribution's keys must be in the store already
  // (write-ahead), and it must go to the device that owns its requester address.
  onServerSend(dev: string, m: SettingsMessage, nowMs: number): void {
    if (m.kind !== 'distribution') return;
    const d = m.distribution;
    if (this.deviceOfAddress.get(d.requester) !== dev) this.violation('foreign-keys', nowMs, `distribution for ${d.requester} sent to ${dev}`);
    const stored = this.controller.store.get(d.entryId);
    const held = (p: SaParameters): boolean =>
      stored?.params?.some((s) => s.spi === p.spi && bytesEqual(s.encryptionKey, p.encryptionKey) && bytesEqual(s.integrityKey, p.integrityKey)) ?? false;
    if (!held(d.toPeer) || !held(d.fromPeer)) this.violation('write-ahead', nowMs, `distribution of entry ${d.entryId} to ${dev} sent before the store held its keys`);
  }

  // Every message a device receives must be about itself.
  onDeviceReceive(dev: DeviceNode, m: SettingsMessage, nowMs: number): void {
    if (m.kind === 'distribution') {
      if (m.distribution.requester !== dev.address || m.distribution.peer === dev.address) {
        this.violation('requester', nowMs, `${dev.id} (${dev.address}) received the distribution of entry ${m.distribution.entryId} for ${m.distribution.requester} <-> ${m.distribution.peer}`);
      }
    } else if (m.kind === 'error') {
      if (m.error.requester !== dev.address) this.violation('requester', nowMs, `${dev.id} received an error for ${m.error.requester}`);
    }
  }

  // An SA a device installs: its own pair, keys the store held for exactly that pair and
  // direction, the SPI the receiver proposed, the algorithms of the pair's policy.
  onInstall(dev: DeviceNode, sa: SaConfig, nowMs: number): void {
    this.stats.installs++;
    const link = sa.policyId === undefined ? undefined : this.linkOf(dev.index, sa.policyId);
    const what = `${dev.id} installs ${sa.direction} SA 0x${sa.spi.toString(16)} (${sa.localAddress} -> ${sa.remoteAddress})`;
    if (link === undefined || sa.localAddress !== dev.address) {
      this.violation('foreign-keys', nowMs, `${what}: not one of its SPD entries`);
      return;
    }
    const side = link.a === dev.index ? 0 : 1;
    const peer = side === 0 ? link.b : link.a;
    link.track.installs[side]++;
    if (sa.remoteAddress !== address(peer)) this.violation('foreign-keys', nowMs, `${what}: the entry's peer is ${address(peer)}`);
    if (link.expected === null) this.violation('no-policy-keys', nowMs, `${what}: the pair has no policy`);
    else if (!link.traffic) this.violation('no-policy-keys', nowMs, `${what}: nobody sent traffic on this link`);
    const owner = this.keyOwner.get(hex(sa.encryption.keyMaterial));
    const [from, to] = sa.direction === 'out' ? [sa.localAddress, sa.remoteAddress] : [sa.remoteAddress, sa.localAddress];
    if (owner === undefined) this.violation('foreign-keys', nowMs, `${what}: keys the store never held`);
    else if (owner.from !== from || owner.to !== to || owner.spi !== sa.spi) {
      this.violation('foreign-keys', nowMs, `${what}: keys of entry ${owner.entryId} for ${owner.from} -> ${owner.to} SPI 0x${owner.spi.toString(16)}`);
    }
    if (sa.integrity !== undefined) {
      const i = this.keyOwner.get(hex(sa.integrity.key));
      if (i === undefined || i.entryId !== owner?.entryId || i.from !== from) this.violation('foreign-keys', nowMs, `${what}: integrity key of another SA`);
    }
    const e = link.expected;
    if (
      e !== null &&
      (sa.mode !== e.mode || sa.esn !== e.esn || sa.encryption.id !== e.encryption.id || sa.encryption.keyBits !== e.encryption.keyBits || (sa.integrity?.id ?? null) !== (e.integrity?.id ?? null))
    ) {
      this.violation('policy', nowMs, `${what}: algorithms differ from the pair's policy`);
    }
  }

  onAgentEvent(dev: DeviceNode, e: AgentEvent, nowMs: number): void {
    if (!('policyId' in e)) return;
    const link = this.linkOf(dev.index, e.policyId);
    if (link === undefined) return;
    const side = link.a === dev.index ? 0 : 1;
    if (e.name === 'installed' && e.renewal) {
      this.stats.renewals++;
      if (this.restartTimesMs.length > 0) this.stats.renewalsAfterRestart++;
      const c = link.track.convergedAtMs;
      if (c !== null && nowMs > c) link.track.renewalsAfterConverged[side]++;
    }
    if (e.name === 'failed') {
      const f = link.track.failures[side];
      f.set(e.failure, (f.get(e.failure) ?? 0) + 1);
      this.stats.failures[e.failure] = (this.stats.failures[e.failure] ?? 0) + 1;
      const what = `${dev.id} entry ${e.policyId}: failure '${e.failure}' (${e.reason})`;
      if (link.expected !== null && e.failure === 'no-policy') this.violation('policy', nowMs, `${what} on a pair with a policy`);
      if (link.expected === null && e.failure !== 'no-policy' && e.failure !== 'timeout') this.violation('failure', nowMs, `${what} on a pair without a policy`);
      if (e.failure === 'refused') this.violation('failure', nowMs, what);
    }
  }

  // ------------------------------------------------------------------ data

  seal(dev: DeviceNode, policyId: string, sa: SaConfig, nowMs: number): void {
    const link = this.linkOf(dev.index, policyId);
    if (link === undefined) return;
    const side: 0 | 1 = link.a === dev.index ? 0 : 1;
    const peer = side === 0 ? link.b : link.a;
    this.stats.dataSent++;
    const packet: DataPacket = {
      kind: 'data',
      link: link.index,
      fromSide: side,
      spi: sa.spi,
      key: sa.encryption.keyMaterial,
      integrityKey: sa.integrity?.key ?? null,
      sentAtMs: nowMs,
    };
    this.sim.inject(dev.id, deviceId(peer), packet, nowMs + this.dataRandom.between(1, 20));
  }

  // ------------------------------------------------------------------ convergence

  // Both ends hold the same current entry, with mirrored SPIs, and the SAs installed at
  // the two ends carry identical keys and algorithms. `settled`: besides, neither end has a
  // request or a renewal under way (agent status 'established').
  state(link: SimLink, nowMs: number): { matched: boolean; settled: boolean } {
    const no = { matched: false, settled: false };
    if (!link.twoSided) return no;
    const A = this.devices[link.a]!;
    const B = this.devices[link.b]!;
    const sa = A.status(link.entryIds[0], nowMs);
    const sb = B.status(link.entryIds[1], nowMs);
    const ca = sa?.current ?? null;
    const cb = sb?.current ?? null;
    if (ca === null || cb === null || ca.entryId !== cb.entryId || ca.outboundSpi !== cb.inboundSpi || ca.inboundSpi !== cb.outboundSpi) return no;
    const matched =
      mirrored(A.plane.get('out', ca.outboundSpi, nowMs), B.plane.get('in', ca.outboundSpi, nowMs)) &&
      mirrored(B.plane.get('out', cb.outboundSpi, nowMs), A.plane.get('in', cb.outboundSpi, nowMs));
    return { matched, settled: matched && sa?.state === 'established' && sb?.state === 'established' };
  }

  // Called after every batch of an agent that touched the link. Convergence: the first
  // settled match once loss stopped (a match with a renewal of the chaos phase still under
  // way may yet be broken by it); divergence: any time without a match after that.
  evaluate(link: SimLink, nowMs: number): void {
    if (!link.twoSided) return;
    const t = link.track;
    const { matched, settled } = this.state(link, nowMs);
    if (matched !== t.matched) {
      t.matched = matched;
      if (!matched) t.mismatchSinceMs = nowMs;
      else {
        if (t.convergedAtMs !== null && t.mismatchSinceMs !== null) t.maxMismatchMs = Math.max(t.maxMismatchMs, nowMs - t.mismatchSinceMs);
        t.mismatchSinceMs = null;
      }
    }
    if (settled && t.convergedAtMs === null && nowMs >= this.quietStartMs) t.convergedAtMs = nowMs;
  }

  // End-of-run properties.
  private finish(nowMs: number): void {
    const renewAt = this.config.agent?.renewAtFraction ?? 0.8;
    for (const link of this.links) {
      const t = link.track;
      this.evaluate(link, nowMs);
      const name = `link ${link.index} ${address(link.a)}${link.twoSided ? ' <-> ' : ' -> '}${address(link.b)} flow ${flowKey(link.flow) || '-'}`;
      if (link.expected !== null && link.twoSided && link.traffic) {
        if (t.convergedAtMs === null) {
          this.violation('converge', nowMs, `${name}: not converged ${nowMs - this.quietStartMs} ms after loss stopped (${this.describe(link, nowMs)})`);
          continue;
        }
        const late = t.convergedAtMs - this.quietStartMs;
        if (late > this.config.convergeBoundMs) this.violation('converge', nowMs, `${name}: converged ${late} ms after loss stopped (bound ${this.config.convergeBoundMs})`);
        const ongoing = t.matched || t.mismatchSinceMs === null ? 0 : nowMs - t.mismatchSinceMs;
        const diverged = Math.max(t.maxMismatchMs, ongoing);
        if (diverged > this.transientMs) this.violation('converge', nowMs, `${name}: diverged for ${diverged} ms after converging (${this.describe(link, nowMs)})`);
        // Renewals keep working: one full renewal fits between convergence and the end.
        const renewalDue = t.convergedAtMs + this.config.lifetimeSeconds * 1000 * renewAt + this.transientMs;
        if (renewalDue < nowMs && (t.renewalsAfterConverged[0] < 1 || t.renewalsAfterConverged[1] < 1)) {
          this.violation('converge', nowMs, `${name}: renewals after convergence ${t.renewalsAfterConverged.join('/')}`);
        }
      }
      if (link.expected === null) {
        if (t.installs[0] + t.installs[1] > 0) this.violation('no-policy-keys', nowMs, `${name}: ${t.installs.join('/')} SAs installed without a policy`);
        // Quiet-phase traffic reaches the server for sure: the answer is reported.
        if (link.traffic && (t.failures[0].get('no-policy') ?? 0) + (t.failures[1].get('no-policy') ?? 0) === 0) {
          this.violation('failure', nowMs, `${name}: traffic without a policy, no 'no-policy' failure reported`);
        }
      } else if (!link.twoSided && link.traffic) {
        // The peer has no SPD entry: activations are ignored (S53), the requester hears
        // 'no-response' (S28) or times out, and nobody gets keys.
        if (t.installs[0] > 0) this.violation('no-policy-keys', nowMs, `${name}: one-sided link installed SAs`);
        const f = t.failures[0];
        if ((f.get('no-response') ?? 0) + (f.get('timeout') ?? 0) === 0) this.violation('failure', nowMs, `${name}: one-sided link reported no failure`);
      }
      if (!link.traffic && t.installs[0] + t.installs[1] > 0) this.violation('no-policy-keys', nowMs, `${name}: SAs without traffic`);
    }
    // The management table and the store: only pairs with a policy, and the same entries.
    const table = this.controller.server.entries();
    for (const e of table) {
      const link = this.byPair.get(pairKey(e.rows[0].address, e.rows[1].address, e.flow));
      if (link === undefined || link.expected === null) this.violation('table', nowMs, `table holds entry ${e.id} for ${e.rows[0].address} ${e.rows[1].address} without a policy`);
    }
    for (const e of this.controller.store.values()) {
      const link = this.byPair.get(pairKey(e.rows[0].address, e.rows[1].address, e.flow));
      if (link === undefined || link.expected === null) this.violation('table', nowMs, `store holds entry ${e.id} for ${e.rows[0].address} ${e.rows[1].address} without a policy`);
    }
    const ids = table.map((e) => e.id).sort();
    const stored = [...this.controller.store.keys()].sort();
    if (ids.join() !== stored.join()) this.violation('table', nowMs, `table (${ids.length} entries) and store (${stored.length}) differ`);
  }

  private describe(link: SimLink, nowMs: number): string {
    const st = (dev: number, entry: string): string => {
      const s = this.devices[dev]!.agent.status(nowMs).find((x) => x.policyId === entry);
      if (s === undefined) return 'none';
      return `${s.state}${s.current === null ? '' : ` ${s.current.entryId}`}${s.lastFailure === null ? '' : ` last failure ${s.lastFailure.failure}@${s.lastFailure.atMs}`}`;
    };
    return `a: ${st(link.a, link.entryIds[0])}; b: ${st(link.b, link.entryIds[1])}`;
  }

  // ------------------------------------------------------------------ summary

  summary(): Record<string, unknown> {
    const withPolicy = this.links.filter((l) => l.expected !== null && l.twoSided && l.traffic);
    const conv = withPolicy.map((l) => (l.track.convergedAtMs ?? Infinity) - this.quietStartMs);
    return {
      devices: this.config.devices,
      links: this.links.length,
      convergingLinks: withPolicy.length,
      noPolicyLinks: this.links.filter((l) => l.expected === null).length,
      noPolicyLinksWithTraffic: this.links.filter((l) => l.expected === null && l.traffic).length,
      oneSidedLinks: this.links.filter((l) => !l.twoSided).length,
      maxConvergeMs: conv.length === 0 ? 0 : Math.max(...conv),
      maxDivergeMs: Math.max(0, ...withPolicy.map((l) => l.track.maxMismatchMs)),
      restarts: this.controller.crashes.map((c) => `${c.atMs}ms ${c.applied}/${c.of}`),
      tableEntries: this.controller.server.entries().length,
      ...this.stats,
      net: { ...this.sim.stats },
      violations: Object.fromEntries(this.violationCounts),
    };
  }
}

function mirrored(out: SaSlot | undefined, inb: SaSlot | undefined): boolean {
  if (out === undefined || inb === undefined) return false;
  const o = out.sa;
  const i = inb.sa;
  return (
    o.spi === i.spi &&
    o.mode === i.mode &&
    o.esn === i.esn &&
    o.localAddress === i.remoteAddress &&
    o.remoteAddress === i.localAddress &&
    o.encryption.id === i.encryption.id &&
    o.encryption.keyBits === i.encryption.keyBits &&
    bytesEqual(o.encryption.keyMaterial, i.encryption.keyMaterial) &&
    (o.integrity?.id ?? null) === (i.integrity?.id ?? null) &&
    bytesEqual(o.integrity?.key ?? null, i.integrity?.key ?? null)
  );
}
