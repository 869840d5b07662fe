// One step of the keyroll sender benchmark (bench/keyroll-sender.ts): one KeySender (the
// controller) and `count` KeyReceivers (the agents), all in this process. Packets are
// handed over in memory and time is virtual: a round advances the clock past the
// controller's rotation period, so every registration in it is answered by a rotation
// (seed flow 9 in the SPI variant, flow 6 in the explicit one).
//
// The simulator (src/sim) is not used on purpose: a round runs in three batched phases
// (agents register, the controller answers, agents install), so the controller's share
// can be timed around sender.handle alone, without an event queue in the measurement.
import { performance } from 'node:perf_hooks';
import { KeySender } from '../src/keyroll/sender.js';
import { KeyReceiver } from '../src/keyroll/receiver.js';
import { cryptoRandomSource } from '../src/keyroll/random.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../src/keyroll/params.js';
import type { ChannelParams, KeyrollVariant, ReceiverOptions, SenderOptions, SenderOutput } from '../src/keyroll/types.js';

// Virtual time. The controller rotates a channel at most once per ROTATION_MS, and the
// agent registers every REGISTRATION_MS: a round that advances ROTATION_MS finds every
// agent due to register and every channel due to rotate; one that advances only
// REGISTRATION_MS finds them due to register but not to rotate (a plain heartbeat).
export const ROTATION_MS = 60_000;
export const REGISTRATION_MS = 30_000;
const FIRST_INIT_SPI = 0x1000; // init SPIs are fixed at enrollment, unique per controller

export type Expect = 'initialised' | 'rotated' | 'ack';

// Wall-clock and CPU time (process.cpuUsage: this thread plus V8's GC helper threads,
// not the other processes sharing the machine) of one round.
export interface RoundTiming {
  readonly exchanges: number;
  readonly senderNs: number; // wall, inside sender.handle only
  readonly senderCpuUs: number; // CPU, inside sender.handle only
  readonly totalNs: number; // wall, agents register + controller answers + agents install
  readonly totalCpuUs: number;
  // performance.now() at the start and end of the controller's phase, to attribute GC
  // pauses (PerformanceObserver 'gc' entries, delivered later) to it.
  readonly senderWindowMs: readonly [number, number];
}

function cpuUs(since?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return u.user + u.system;
}

export class Fleet {
  readonly sender: KeySender;
  receivers: KeyReceiver[] | null;
  private readonly senderOptions: SenderOptions;
  nowMs = 0;

  constructor(
    readonly count: number,
    readonly forwardSecrecy: boolean,
    readonly variant: KeyrollVariant,
  ) {
    // The production random source for the controller: its cost is part of a rotation.
    this.senderOptions = defaultSenderOptions({
      random: cryptoRandomSource,
      rotationPeriodMs: ROTATION_MS,
      minRotationIntervalMs: ROTATION_MS,
    });
    const receiverOptions: ReceiverOptions = defaultReceiverOptions({
      random: cryptoRandomSource,
      registrationIntervalMs: REGISTRATION_MS,
      rotationPeriodMs: null, // rotations come from the controller's timer
    });
    this.sender = new KeySender(this.senderOptions);
    const receivers: KeyReceiver[] = new Array<KeyReceiver>(count);
    for (let i = 0; i < count; i++) {
      const params: ChannelParams = {
        deviceId: `agent-${String(i).padStart(6, '0')}`,
        initKey: cryptoRandomSource(32),
        initSpi: FIRST_INIT_SPI + i,
        variant,
        forwardSecrecy,
      };
      this.sender.addReceiver(params, this.nowMs);
      receivers[i] = new KeyReceiver(params, receiverOptions, this.nowMs);
    }
    this.receivers = receivers;
  }

  private receiver(i: number): KeyReceiver {
    const r = this.receivers?.[i];
    if (r === undefined) throw new Error(`receiver ${i} is gone`);
    return r;
  }

  // Every agent in `indices` registers once (its timer fires at the current virtual
  // time), the controller answers, the agent takes the answer. Throws unless every
  // exchange ended as `expect` says and nothing was dropped, so a misconfigured run can
  // never report a rate of failures.
  round(indices: readonly number[], expect: Expect): RoundTiming {
    const k = indices.length;
    const packets: Uint8Array[] = new Array<Uint8Array>(k);
    const answers: SenderOutput[][] = new Array<SenderOutput[]>(k);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < k; j++) {
      const outs = this.receiver(indices[j]!).handle({ type: 'tick' }, this.nowMs);
      let sent = 0;
      for (const o of outs) {
        if (o.type === 'send') {
          packets[j] = o.bytes;
          sent++;
        }
      }
      if (sent !== 1) throw new Error(`agent ${indices[j]} sent ${sent} packets on its timer, expected 1`);
    }
    const sender = this.sender;
    const now = this.nowMs;
    const c1 = process.cpuUsage();
    const w1 = performance.now();
    const t1 = process.hrtime.bigint();
    for (let j = 0; j < k; j++) answers[j] = sender.handle({ type: 'packet', bytes: packets[j]! }, now);
    const t2 = process.hrtime.bigint();
    const w2 = performance.now();
    const senderCpuUs = cpuUs(c1);
    let senderKeys = 0;
    let installed = 0;
    for (let j = 0; j < k; j++) {
      const r = this.receiver(indices[j]!);
      let sends = 0;
      for (const o of answers[j]!) {
        if (o.type === 'event') {
          if (o.event.name === expect) senderKeys++;
          continue;
        }
        if (o.type !== 'send') continue; // 'persist': storing is the store's cost, not measured here
        sends++;
        for (const ro of r.handle({ type: 'packet', bytes: o.bytes }, now)) {
          if (ro.type === 'event' && ro.event.name === 'installed') installed++;
        }
      }
      if (sends !== 1) throw new Error(`controller answered agent ${indices[j]} with ${sends} packets, expected 1`);
    }
    const t3 = process.hrtime.bigint();
    const totalCpuUs = cpuUs(c0);
    const wantKeys = expect === 'ack' ? 0 : k;
    if (senderKeys !== wantKeys || installed !== wantKeys) {
      throw new Error(`round expected ${wantKeys} × ${expect}: controller made ${senderKeys}, agents installed ${installed}`);
    }
    this.checkNoDrops();
    return { exchanges: k, senderNs: Number(t2 - t1), senderCpuUs, totalNs: Number(t3 - t0), totalCpuUs, senderWindowMs: [w1, w2] };
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  // Agents that still wait for an answer after a round (there must be none).
  outstanding(indices: readonly number[]): number {
    let n = 0;
    for (const i of indices) if (this.receiver(i).view().outstanding !== null) n++;
    return n;
  }

  private checkNoDrops(): void {
    const bad = Object.entries(this.sender.counters.snapshot()).filter(([name]) => name.startsWith('keyroll.drop') || name.includes('rate-limited'));
    if (bad.length > 0) throw new Error(`controller dropped packets: ${JSON.stringify(Object.fromEntries(bad))}`);
  }
}

// `k` indices spread evenly over 0..count-1 (all of them when k >= count), so a sample
// touches the whole of the controller's tables, not a cache-warm corner.
export function spread(count: number, k: number): number[] {
  if (k >= count) return Array.from({ length: count }, (_, i) => i);
  return Array.from({ length: k }, (_, j) => Math.floor((j * count) / k));
}
