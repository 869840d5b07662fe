// A controller (KeySender) and N agents (KeyReceiver) in the deterministic simulator,
// with restarts (durable state kept or lost), optional cross-talk (copies of one agent's
// packets delivered to another), and an invariant checker that runs after every event.
//
// Invariants (seed 004 "Invariants to test"), checked while the controller and the agent
// are both up and the pair is not recovering from a restart that lost keys:
//   no gap          the sender's send key is in the receiver's receive set, and the
//                   receiver's send key is in the sender's receive set (or it is the init
//                   key of an init request, which the sender always accepts);
//   one generation  outside an initialisation the receiver's N is the sender's N or N-1,
//                   and the sender has no proof for a key the receiver lacks;
// and at all times:
//   no double shift each installed rotation is exactly one generation up, and no key is
//                   installed twice in one life of the agent;
//   idempotent      a resend carries the sender's current N, never a new key, and every
//   resend          key an agent installs is one the sender made for that agent;
//   isolation       no two agents ever get the same key, and a packet of one agent's
//                   channel delivered to another agent is dropped without changing it.
import { Simulator } from '../../src/sim/simulator.js';
import type { LinkParams, SimInput, SimNode, SimSend } from '../../src/sim/types.js';
import { Prng } from '../../src/sim/prng.js';
import { KeySender } from '../../src/keyroll/sender.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../../src/keyroll/params.js';
import { senderInitKeyStateOnly } from '../../src/keyroll/durable.js';
import type {
  ChannelParams,
  KeyrollVariant,
  ReceiverDurable,
  ReceiverEvent,
  ReceiverOptions,
  ReceiverView,
  SenderEvent,
  SenderOptions,
  SenderPeerDurable,
  SenderPeerView,
} from '../../src/keyroll/types.js';
import { prngSource } from './duo.js';

export const CONTROLLER = 'controller';

export interface RestartPlan {
  readonly node: string; // CONTROLLER or an agent id
  readonly atMs: number;
  readonly keepState: boolean;
  readonly downMs: number;
}

export interface WorldConfig {
  readonly seed: number;
  readonly agents: number;
  readonly variant: KeyrollVariant | 'mixed';
  readonly forwardSecrecy: boolean | 'mixed';
  readonly link: LinkParams; // during the chaos phase
  readonly chaosMs: number;
  readonly settleMs: number; // perfect links, no restarts: must converge and keep rotating
  readonly restarts: readonly RestartPlan[];
  readonly crossTalkRate: number;
  // Replay adversary: after each datagram sent, with this probability a recorded earlier
  // datagram is injected again to its original destination, up to 30 s later.
  readonly replayRate?: number;
  readonly sender?: Partial<SenderOptions>;
  readonly receiver?: Partial<ReceiverOptions>;
}

// Timers scaled for simulation: registrations every 10 s, 1 s reply wait, controller
// rotation every 30 s, agent (explicit) rotation every 45 s.
export const SIM_SENDER: Partial<SenderOptions> = {
  rotationPeriodMs: 30_000,
  minRotationIntervalMs: 5_000,
  initRateLimit: { perMinute: 20, burst: 4 },
  replayWindow: 64,
};
export const SIM_RECEIVER: Partial<ReceiverOptions> = {
  registrationIntervalMs: 10_000,
  replyTimeoutMs: 1_000,
  maxResends: 1,
  rotationPeriodMs: 45_000,
  initRetryMaxMs: 8_000,
  replayWindow: 64,
};

export function agentId(i: number): string {
  return `agent-${i}`;
}

class ControllerNode implements SimNode<Uint8Array> {
  sender: KeySender;
  readonly durable = new Map<string, SenderPeerDurable>();

  constructor(
    private readonly world: World,
    private readonly options: SenderOptions,
    private readonly channels: readonly ChannelParams[],
  ) {
    this.sender = this.fresh(false, 0);
  }

  private fresh(keepState: boolean, nowMs: number): KeySender {
    const s = new KeySender(this.options);
    for (const p of this.channels) s.addReceiver(p, nowMs, keepState ? this.durable.get(p.deviceId) : undefined);
    return s;
  }

  handle(input: SimInput<Uint8Array>, nowMs: number): SimSend<Uint8Array>[] {
    if (input.type === 'timer') return [];
    const sends: SimSend<Uint8Array>[] = [];
    for (const o of this.sender.handle({ type: 'packet', bytes: input.payload }, nowMs)) {
      if (o.type === 'send') sends.push({ to: o.deviceId, payload: o.bytes });
      else if (o.type === 'persist') this.durable.set(o.deviceId, this.sender.durable(o.deviceId));
      else this.world.onSenderEvent(o.event, nowMs);
    }
    return sends;
  }

  nextDueMs(): number {
    return this.sender.nextDueMs();
  }

  restart(keepState: boolean, nowMs: number): SimSend<Uint8Array>[] {
    // Key loss: N and N-1 (and everything about them) are gone; the init key's record
    // from enrollment, with its replay state, is what is left (durable.ts).
    if (!keepState) for (const [id, d] of this.durable) this.durable.set(id, senderInitKeyStateOnly(d));
    this.sender = this.fresh(true, nowMs);
    this.world.onSenderRestart(keepState);
    return [];
  }
}

class AgentNode implements SimNode<Uint8Array> {
  receiver: KeyReceiver;
  durable: ReceiverDurable | undefined;
  readonly foreign = new WeakSet<Uint8Array>(); // cross-talk copies addressed to us

  constructor(
    private readonly world: World,
    readonly params: ChannelParams,
    private readonly options: ReceiverOptions,
  ) {
    this.receiver = new KeyReceiver(params, options, 0);
  }

  private run(input: Parameters<KeyReceiver['handle']>[0], nowMs: number): SimSend<Uint8Array>[] {
    const sends: SimSend<Uint8Array>[] = [];
    for (const o of this.receiver.handle(input, nowMs)) {
      if (o.type === 'send') sends.push({ to: CONTROLLER, payload: o.bytes });
      else if (o.type === 'persist') this.durable = this.receiver.durable();
      else if (o.type === 'event') this.world.onReceiverEvent(this.params.deviceId, o.event, nowMs);
    }
    return sends;
  }

  handle(input: SimInput<Uint8Array>, nowMs: number): SimSend<Uint8Array>[] {
    if (input.type === 'timer') return this.run({ type: 'tick' }, nowMs);
    if (this.foreign.has(input.payload)) {
      // Isolation: another agent's packet must be a counted drop and change nothing.
      const before = JSON.stringify(this.receiver.view());
      const drops = dropCount(this.receiver.counters.snapshot());
      const out = this.run({ type: 'packet', bytes: input.payload }, nowMs);
      if (out.length > 0 || JSON.stringify(this.receiver.view()) !== before || dropCount(this.receiver.counters.snapshot()) !== drops + 1) {
        this.world.violation(this.params.deviceId, nowMs, 'isolation: a foreign packet was not simply dropped');
      }
      return out;
    }
    return this.run({ type: 'packet', bytes: input.payload }, nowMs);
  }

  nextDueMs(): number {
    return this.receiver.nextDueMs();
  }

  restart(keepState: boolean, nowMs: number): SimSend<Uint8Array>[] {
    if (!keepState) this.durable = undefined;
    this.receiver = new KeyReceiver(this.params, this.options, nowMs, keepState ? this.durable : undefined);
    this.world.onReceiverRestart(this.params.deviceId, keepState);
    return [];
  }
}

function dropCount(snapshot: Record<string, number>): number {
  return Object.entries(snapshot)
    .filter(([k]) => k.startsWith('keyroll.drop.'))
    .reduce((n, [, v]) => n + v, 0);
}

interface PairState {
  recovering: boolean;
  created: Set<string>; // every key fingerprint the sender made for this agent
  senderLatest: string | null; // fingerprint of the sender's N as of its last key event
  installedThisLife: Set<string>;
  receiverGeneration: number | null; // generation of the receiver's N in this life
  rotationsInSettle: number;
  installsInSettle: number;
}

export class World {
  readonly sim: Simulator<Uint8Array>;
  readonly controller: ControllerNode;
  readonly agents: AgentNode[] = [];
  readonly violations: string[] = [];
  private readonly pairs = new Map<string, PairState>();
  private readonly owner = new Map<string, string>(); // key fingerprint -> device
  private settling = false;
  checks = 0;

  constructor(readonly config: WorldConfig) {
    const sim = new Simulator<Uint8Array>({ seed: config.seed, defaultLink: config.link });
    this.sim = sim;
    const setup = Prng.fromSeed(config.seed).fork('setup');
    const channels: ChannelParams[] = [];
    const usedSpis = new Set<number>();
    for (let i = 0; i < config.agents; i++) {
      let initSpi = 0;
      do initSpi = setup.between(256, 0xffff_ffff);
      while (usedSpis.has(initSpi));
      usedSpis.add(initSpi);
      channels.push({
        deviceId: agentId(i),
        initKey: setup.bytes(32),
        initSpi,
        variant: config.variant === 'mixed' ? (i % 2 === 0 ? 'explicit' : 'spi') : config.variant,
        forwardSecrecy: config.forwardSecrecy === 'mixed' ? i % 3 !== 2 : config.forwardSecrecy,
      });
      this.pairs.set(agentId(i), {
        recovering: false,
        created: new Set(),
        senderLatest: null,
        installedThisLife: new Set(),
        receiverGeneration: null,
        rotationsInSettle: 0,
        installsInSettle: 0,
      });
    }
    const senderOptions = defaultSenderOptions({ ...SIM_SENDER, ...config.sender, random: prngSource(sim.fork(CONTROLLER)) });
    this.controller = new ControllerNode(this, senderOptions, channels);
    sim.addNode(CONTROLLER, this.controller);
    for (const p of channels) {
      const options = defaultReceiverOptions({ ...SIM_RECEIVER, ...config.receiver, random: prngSource(sim.fork(p.deviceId)) });
      const a = new AgentNode(this, p, options);
      this.agents.push(a);
      sim.addNode(p.deviceId, a);
    }
    for (const r of config.restarts) sim.scheduleRestart(r.node, r.atMs, { keepState: r.keepState, downMs: r.downMs });
    const cross = sim.fork('cross-talk');
    const adversary = sim.fork('replay');
    const recorded: { from: string; to: string; payload: Uint8Array }[] = [];
    sim.observe((e) => {
      if (e.type === 'send' && (config.replayRate ?? 0) > 0) {
        if (recorded.length < 400) recorded.push({ from: e.from, to: e.to, payload: e.payload });
        else recorded[adversary.int(400)] = { from: e.from, to: e.to, payload: e.payload };
        if (adversary.chance(config.replayRate ?? 0)) {
          const r = adversary.pick(recorded);
          sim.inject(r.from, r.to, r.payload, e.timeMs + adversary.int(30_000));
        }
      }
      if (e.type === 'send' && e.from === CONTROLLER && this.agents.length > 1 && cross.chance(config.crossTalkRate)) {
        const other = cross.pick(this.agents.filter((a) => a.params.deviceId !== e.to));
        const copy = Buffer.from(e.payload);
        other.foreign.add(copy);
        sim.inject(CONTROLLER, other.params.deviceId, copy, e.timeMs + 1);
      }
      if (e.type === 'deliver' || e.type === 'timer' || e.type === 'up') this.checkAll(e.timeMs);
    });
    // Settle phase: perfect links from chaosMs on.
    sim.at(config.chaosMs, () => {
      sim.setDefaultLink({ lossRate: 0, duplicateRate: 0, minDelayMs: 5, maxDelayMs: 20 });
    });
  }

  run(): void {
    // A livelock (a core asking for ticks without end) fails fast instead of hanging.
    const budget = 500_000 * Math.max(1, this.agents.length);
    this.sim.runUntil(this.config.chaosMs, budget);
    // The settle phase starts once the last restart is over.
    const lastUp = Math.max(this.config.chaosMs, ...this.config.restarts.map((r) => r.atMs + r.downMs));
    this.sim.runUntil(lastUp + 1, budget);
    this.settling = true;
    for (const p of this.pairs.values()) {
      p.rotationsInSettle = 0;
      p.installsInSettle = 0;
    }
    this.sim.runFor(this.config.settleMs, budget);
    this.checkConverged();
  }

  violation(device: string, nowMs: number, what: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${nowMs} ${device}: ${what}`);
  }

  private pair(device: string): PairState {
    return this.pairs.get(device)!;
  }

  senderView(device: string): SenderPeerView {
    return this.controller.sender.view(device, this.sim.now);
  }

  receiverView(i: number): ReceiverView {
    return this.agents[i]!.receiver.view();
  }

  // ------------------------------------------------------------------------ core events

  onSenderEvent(e: SenderEvent, nowMs: number): void {
    const p = this.pair(e.deviceId);
    if (e.name === 'initialised' || e.name === 'rotated') {
      const prev = this.owner.get(e.fingerprint);
      if (prev !== undefined) this.violation(e.deviceId, nowMs, `isolation: key ${e.fingerprint} already made for ${prev}`);
      this.owner.set(e.fingerprint, e.deviceId);
      p.created.add(e.fingerprint);
      p.senderLatest = e.fingerprint;
      if (e.name === 'rotated' && this.settling) p.rotationsInSettle += 1;
    } else if (e.name === 'resent') {
      if (e.fingerprint !== p.senderLatest) this.violation(e.deviceId, nowMs, `resend of ${e.fingerprint}, sender's N is ${p.senderLatest}`);
    }
  }

  onReceiverEvent(device: string, e: ReceiverEvent, nowMs: number): void {
    if (e.name !== 'installed') return;
    const p = this.pair(device);
    if (!p.created.has(e.fingerprint)) this.violation(device, nowMs, `installed ${e.fingerprint}, which the sender never made for it`);
    if (p.installedThisLife.has(e.fingerprint)) this.violation(device, nowMs, `double shift: ${e.fingerprint} installed twice`);
    p.installedThisLife.add(e.fingerprint);
    if (e.kind === 'rotation' && p.receiverGeneration !== null && e.generation !== p.receiverGeneration + 1) {
      this.violation(device, nowMs, `rotation to generation ${e.generation} from ${p.receiverGeneration}`);
    }
    p.receiverGeneration = e.generation;
    if (this.settling) p.installsInSettle += 1;
  }

  onSenderRestart(keepState: boolean): void {
    for (const [device, p] of this.pairs) {
      if (!keepState) p.recovering = true;
      p.senderLatest = this.controller.sender.view(device, this.sim.now).latest?.fingerprint ?? null;
    }
  }

  onReceiverRestart(device: string, keepState: boolean): void {
    const p = this.pair(device);
    if (!keepState) {
      p.recovering = true;
      p.installedThisLife.clear();
      p.receiverGeneration = null;
    }
  }

  // ------------------------------------------------------------------------- invariants

  private checkAll(nowMs: number): void {
    if (!this.sim.isUp(CONTROLLER)) return;
    for (let i = 0; i < this.agents.length; i++) {
      const device = agentId(i);
      if (!this.sim.isUp(device)) continue;
      this.checkPair(i, device, nowMs);
    }
  }

  private checkPair(i: number, device: string, nowMs: number): void {
    const p = this.pair(device);
    const s = this.senderView(device);
    const r = this.receiverView(i);
    if (p.recovering) {
      // Recovery ends when the agent holds the sender's current N again.
      if (!r.initPending && r.latest !== null && r.latest.fingerprint === s.latest?.fingerprint) p.recovering = false;
      else return;
    }
    this.checks += 1;
    const rRecv = new Set(r.receive.map((k) => k.fingerprint));
    const sRecv = new Set(s.receive.map((k) => k.fingerprint));
    if (!rRecv.has(s.send.fingerprint)) {
      this.violation(device, nowMs, `gap: sender sends with g${s.send.generation}, receiver accepts [${r.receive.map((k) => k.generation)}]`);
    }
    if (!sRecv.has(r.send.fingerprint) && !(r.send.role === 'init' && r.initPending)) {
      this.violation(device, nowMs, `gap: receiver sends with g${r.send.generation}, sender accepts [${s.receive.map((k) => k.generation)}]`);
    }
    if (!r.initPending && r.latest !== null) {
      const sl = s.latest;
      if (sl === null) this.violation(device, nowMs, 'receiver has keys, sender none (outside recovery)');
      else if (r.latest.fingerprint === sl.fingerprint) {
        // in step
      } else if (r.latest.fingerprint === s.previous?.fingerprint && s.previous.role === 'dynamic') {
        if (sl.generation !== r.latest.generation + 1) this.violation(device, nowMs, `sender g${sl.generation} vs receiver g${r.latest.generation}`);
        if (s.latestProven) this.violation(device, nowMs, 'sender holds proof of a key the receiver lacks');
      } else {
        this.violation(device, nowMs, `more than one undelivered generation: sender g${sl.generation}, receiver g${r.latest.generation}`);
      }
    }
  }

  private checkConverged(): void {
    const now = this.sim.now;
    for (let i = 0; i < this.agents.length; i++) {
      const device = agentId(i);
      const p = this.pair(device);
      const s = this.senderView(device);
      const r = this.receiverView(i);
      if (p.recovering) this.violation(device, now, 'liveness: still recovering after the settle phase');
      if (r.initPending || r.latest === null) this.violation(device, now, 'liveness: agent without a key after the settle phase');
      else if (r.latest.fingerprint !== s.latest?.fingerprint && r.latest.fingerprint !== s.previous?.fingerprint) {
        this.violation(device, now, 'liveness: not converged');
      }
      if (p.installsInSettle < 1) this.violation(device, now, 'liveness: no new key during the settle phase');
    }
  }
}
