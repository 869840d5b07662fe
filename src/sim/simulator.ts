// A deterministic in-memory network with virtual time. One seed fixes everything: link
// losses, duplicates, delays (and so reordering), and whatever the nodes draw from their
// forked streams. The agenda is ordered by (time, sequence), so two runs with the same
// seed produce the same trace, event for event.
//
// Scale: one heap entry per datagram in flight plus at most one live timer per node;
// stale timers (the node's due time moved) are skipped by a version number, so thousands
// of nodes cost O(log n) per event.
import { KeyplaneError } from '../util/errors.js';
import { EventQueue } from './event-queue.js';
import { Prng } from './prng.js';
import { PERFECT_LINK, type LinkParams, type SimEvent, type SimNode, type SimSend, type SimStats } from './types.js';

export class SimError extends KeyplaneError {}

type Agenda<P> =
  | { readonly kind: 'deliver'; readonly from: string; readonly to: string; readonly payload: P }
  | { readonly kind: 'timer'; readonly node: string; readonly version: number }
  | { readonly kind: 'down'; readonly node: string; readonly keepState: boolean; readonly downMs: number }
  | { readonly kind: 'up'; readonly node: string; readonly keepState: boolean }
  | { readonly kind: 'call'; readonly fn: (nowMs: number) => void };

interface NodeSlot<P> {
  readonly node: SimNode<P>;
  up: boolean;
  timerVersion: number;
  scheduledDueMs: number;
}

export interface SimulatorOptions {
  readonly seed: number | bigint;
  readonly startMs?: number;
  readonly defaultLink?: LinkParams;
}

// Decides, per datagram, whether a test wants it dropped (e.g. "lose the next key
// distribution"). Runs before the link's own randomness.
export type Interceptor<P> = (from: string, to: string, payload: P, nowMs: number) => 'pass' | 'drop';

function checkLink(l: LinkParams): LinkParams {
  const p = (v: number): boolean => Number.isFinite(v) && v >= 0 && v <= 1;
  if (!p(l.lossRate) || !p(l.duplicateRate)) throw new SimError('sim.bad-link', 'loss and duplicate rates must be in [0, 1]');
  if (!(l.minDelayMs >= 0) || !(l.maxDelayMs >= l.minDelayMs) || !Number.isFinite(l.maxDelayMs)) {
    throw new SimError('sim.bad-link', 'delays must satisfy 0 <= minDelayMs <= maxDelayMs < Infinity');
  }
  return l;
}

export class Simulator<P> {
  readonly random: Prng; // the network's own stream (links)
  readonly stats: SimStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, droppedDown: 0, timers: 0, events: 0 };
  private readonly queue = new EventQueue<Agenda<P>>();
  private readonly nodes = new Map<string, NodeSlot<P>>();
  private readonly links = new Map<string, LinkParams>();
  private defaultLink: LinkParams;
  private readonly observers: ((e: SimEvent<P>) => void)[] = [];
  private interceptor: Interceptor<P> | null = null;
  private nowMs: number;
  private readonly rootRandom: Prng;

  constructor(options: SimulatorOptions) {
    this.rootRandom = Prng.fromSeed(options.seed);
    this.random = this.rootRandom.fork('network');
    this.nowMs = options.startMs ?? 0;
    this.defaultLink = checkLink(options.defaultLink ?? PERFECT_LINK);
  }

  get now(): number {
    return this.nowMs;
  }

  // An independent stream for a node or a test, fixed by the seed and the label.
  fork(label: string): Prng {
    return this.rootRandom.fork(`node:${label}`);
  }

  addNode(id: string, node: SimNode<P>): void {
    if (this.nodes.has(id)) throw new SimError('sim.duplicate-node', `node ${id} exists`);
    this.nodes.set(id, { node, up: true, timerVersion: 0, scheduledDueMs: Infinity });
    this.reschedule(id);
  }

  nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  isUp(id: string): boolean {
    return this.nodes.get(id)?.up ?? false;
  }

  setDefaultLink(link: LinkParams): void {
    this.defaultLink = checkLink(link);
  }

  setLink(from: string, to: string, link: LinkParams): void {
    this.links.set(`${from}\u0000${to}`, checkLink(link));
  }

  link(from: string, to: string): LinkParams {
    return this.links.get(`${from}\u0000${to}`) ?? this.defaultLink;
  }

  setInterceptor(interceptor: Interceptor<P> | null): void {
    this.interceptor = interceptor;
  }

  observe(listener: (e: SimEvent<P>) => void): void {
    this.observers.push(listener);
  }

  private emit(e: SimEvent<P>): void {
    for (const o of this.observers) o(e);
  }

  // A datagram from `from` to `to` through the link, as if `from` sent it now.
  send(from: string, to: string, payload: P): void {
    this.stats.sent += 1;
    this.emit({ type: 'send', timeMs: this.nowMs, from, to, payload });
    if (this.interceptor !== null && this.interceptor(from, to, payload, this.nowMs) === 'drop') {
      this.stats.lost += 1;
      this.emit({ type: 'lost', timeMs: this.nowMs, from, to, payload, reason: 'intercepted' });
      return;
    }
    const l = this.link(from, to);
    const rnd = this.random;
    if (rnd.chance(l.lossRate)) {
      this.stats.lost += 1;
      this.emit({ type: 'lost', timeMs: this.nowMs, from, to, payload, reason: 'loss' });
      return;
    }
    this.queue.push(this.nowMs + this.delay(l), { kind: 'deliver', from, to, payload });
    if (rnd.chance(l.duplicateRate)) {
      this.stats.duplicated += 1;
      this.queue.push(this.nowMs + this.delay(l), { kind: 'deliver', from, to, payload });
    }
  }

  // A datagram that appears at `to` at `atMs` without crossing a link (a forged,
  // replayed or misrouted packet injected by a test).
  inject(from: string, to: string, payload: P, atMs: number = this.nowMs): void {
    this.queue.push(Math.max(atMs, this.nowMs), { kind: 'deliver', from, to, payload });
  }

  private delay(l: LinkParams): number {
    if (l.maxDelayMs === l.minDelayMs) return l.minDelayMs;
    return l.minDelayMs + this.random.float() * (l.maxDelayMs - l.minDelayMs);
  }

  // The node goes down at `atMs` for `downMs` (datagrams to it are lost, its timers do
  // not fire), then comes back through its restart().
  scheduleRestart(id: string, atMs: number, options: { keepState: boolean; downMs: number }): void {
    this.slot(id);
    this.queue.push(Math.max(atMs, this.nowMs), { kind: 'down', node: id, keepState: options.keepState, downMs: options.downMs });
  }

  // Runs `fn` at `atMs` (e.g. change a link mid-run).
  at(atMs: number, fn: (nowMs: number) => void): void {
    this.queue.push(Math.max(atMs, this.nowMs), { kind: 'call', fn });
  }

  private slot(id: string): NodeSlot<P> {
    const s = this.nodes.get(id);
    if (s === undefined) throw new SimError('sim.unknown-node', `no node ${id}`);
    return s;
  }

  private reschedule(id: string): void {
    const s = this.slot(id);
    const due = s.up ? s.node.nextDueMs() : Infinity;
    if (!(due < Infinity)) {
      if (s.scheduledDueMs !== Infinity) {
        s.timerVersion += 1;
        s.scheduledDueMs = Infinity;
      }
      return;
    }
    const t = Math.max(due, this.nowMs);
    if (t === s.scheduledDueMs) return;
    s.timerVersion += 1;
    s.scheduledDueMs = t;
    this.queue.push(t, { kind: 'timer', node: id, version: s.timerVersion });
  }

  private route(from: string, outputs: readonly SimSend<P>[]): void {
    for (const o of outputs) this.send(from, o.to, o.payload);
  }

  // Runs one event; false when the agenda is empty.
  step(): boolean {
    const item = this.queue.pop();
    if (item === undefined) return false;
    if (item.timeMs < this.nowMs) throw new SimError('sim.time-reversal', `event at ${item.timeMs} < now ${this.nowMs}`);
    this.nowMs = item.timeMs;
    this.stats.events += 1;
    const e = item.event;
    switch (e.kind) {
      case 'deliver': {
        const s = this.nodes.get(e.to);
        if (s === undefined || !s.up) {
          this.stats.lost += 1;
          if (s !== undefined) this.stats.droppedDown += 1;
          this.emit({ type: 'lost', timeMs: this.nowMs, from: e.from, to: e.to, payload: e.payload, reason: s === undefined ? 'no-node' : 'down' });
          break;
        }
        this.stats.delivered += 1;
        const out = s.node.handle({ type: 'message', from: e.from, payload: e.payload }, this.nowMs);
        this.route(e.to, out);
        this.reschedule(e.to);
        this.emit({ type: 'deliver', timeMs: this.nowMs, from: e.from, to: e.to, payload: e.payload });
        break;
      }
      case 'timer': {
        const s = this.slot(e.node);
        if (!s.up || e.version !== s.timerVersion) break; // superseded
        s.scheduledDueMs = Infinity;
        this.stats.timers += 1;
        const out = s.node.handle({ type: 'timer' }, this.nowMs);
        this.route(e.node, out);
        this.reschedule(e.node);
        this.emit({ type: 'timer', timeMs: this.nowMs, node: e.node });
        break;
      }
      case 'down': {
        const s = this.slot(e.node);
        s.up = false;
        s.timerVersion += 1;
        s.scheduledDueMs = Infinity;
        this.emit({ type: 'down', timeMs: this.nowMs, node: e.node });
        this.queue.push(this.nowMs + e.downMs, { kind: 'up', node: e.node, keepState: e.keepState });
        break;
      }
      case 'up': {
        const s = this.slot(e.node);
        s.up = true;
        const out = s.node.restart?.(e.keepState, this.nowMs) ?? [];
        this.route(e.node, out);
        this.reschedule(e.node);
        this.emit({ type: 'up', timeMs: this.nowMs, node: e.node, keepState: e.keepState });
        break;
      }
      case 'call':
        e.fn(this.nowMs);
        break;
    }
    return true;
  }

  // Runs every event up to and including `untilMs`, then sets the clock to `untilMs`.
  // `maxEvents` guards against a node that keeps asking for a tick at the same instant.
  runUntil(untilMs: number, maxEvents = 10_000_000): void {
    let n = 0;
    while (this.queue.peekTime() <= untilMs) {
      if (++n > maxEvents) throw new SimError('sim.event-budget', `more than ${maxEvents} events before ${untilMs} ms (now ${this.nowMs})`);
      this.step();
    }
    if (untilMs > this.nowMs) this.nowMs = untilMs;
  }

  runFor(durationMs: number, maxEvents?: number): void {
    this.runUntil(this.nowMs + durationMs, maxEvents);
  }
}
