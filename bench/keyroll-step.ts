// One row of the keyroll sender benchmark, run in a fresh process (bench/keyroll-sender.ts
// forks one per row) so that each row's memory baseline is clean and no row inherits
// another's heap. Needs --expose-gc.
//
// Sequence: warm the JIT on a small fleet and throw it away; baseline; enroll `count`
// agents; initialise all of them (one full pass); rotate all of them `fullPasses` times
// (full passes; with node:crypto AEAD contexts the controller's memory per agent reaches
// its steady state only from the second rotation on, about 10% above the first, because
// small long-lived Buffers pin 8 KiB pool slabs; with the native addon the first is
// within 1%); then, while fewer than `minRotations` rotations were measured, more
// rounds over an evenly spread sample of at most `sampleCap` agents (after a heartbeat pass
// over all agents, and followed by one over the sample, so that every agent ends one
// registration after its last rotation); memory with and without the agents.
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Fleet, REGISTRATION_MS, ROTATION_MS, spread, type RoundTiming } from './keyroll-fleet.js';
import { aeadInUse } from './keyroll-native.js';
import type { KeyrollVariant } from '../src/keyroll/types.js';

export interface StepConfig {
  readonly count: number;
  readonly forwardSecrecy: boolean;
  readonly variant: KeyrollVariant;
  readonly fullPasses: number; // rotation rounds over every agent (at least 1)
  readonly sampleCap: number; // at most this many agents per further round
  readonly minRotations: number; // further rounds until at least this many rotations
}

// Exchanges per second of CPU time (the figure that does not depend on what else runs on
// the machine) and of wall-clock time.
export interface Rates {
  readonly exchanges: number;
  readonly senderPerCpuSec: number; // inside sender.handle
  readonly endToEndPerCpuSec: number; // including the agents' work
  readonly senderPerWallSec: number;
  readonly endToEndPerWallSec: number;
}

export interface MemorySnapshot {
  readonly heapUsed: number;
  readonly external: number; // Buffers and other off-heap memory V8 knows about
  readonly rss: number;
  readonly nativeContexts: number; // live native AEAD contexts (malloc'd, not in the above)
}

export interface StepResult {
  readonly config: StepConfig;
  readonly sample: number; // agents per further round
  readonly sampleRounds: number;
  readonly setupSeconds: number; // enrolling the agents (KeySender.addReceiver + KeyReceiver)
  readonly init: Rates; // full pass
  readonly rotation: Rates; // every rotation round: full passes and sample rounds
  readonly fullPassRotation: Rates;
  readonly sampleRotation: Rates | null;
  // Share of the controller's wall time in the rotation rounds spent in GC pauses on the
  // main thread (concurrent marking on helper threads is in the CPU time but not here).
  readonly senderGcShare: number;
  readonly heartbeat: Rates; // full pass, registrations answered without a key
  readonly aead: 'native addon' | 'node:crypto';
  // V8-accounted memory (heapUsed + external) per agent, and native AEAD contexts per agent.
  readonly senderBytesPerReceiver: number;
  readonly receiverBytesPerReceiver: number;
  readonly senderContextsPerReceiver: number;
  readonly receiverContextsPerReceiver: number;
  readonly rssBytesPerReceiver: number; // whole process growth (controller + agents), incl. native memory
  readonly leftoverBytes: number; // after dropping everything, vs the baseline (should be ~0)
  readonly wallSeconds: number;
}

type Gc = () => void;

function gcOrThrow(): Gc {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  return gc;
}

// Memory after full collections, each after a turn of the event loop: native memory
// (KeyObjects, Buffer backing stores) is released by callbacks that run as tasks, and a
// collection inside the frame that dropped the last reference can still find it in a
// stale interpreter register.
export async function settledMemory(): Promise<MemorySnapshot> {
  const gc = gcOrThrow();
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
  }
  const m = process.memoryUsage();
  const aead = await aeadInUse();
  return { heapUsed: m.heapUsed, external: m.external, rss: m.rss, nativeContexts: aead.liveContexts() };
}

function tracked(m: MemorySnapshot): number {
  return m.heapUsed + m.external;
}

function rates(timings: readonly RoundTiming[]): Rates {
  let exchanges = 0;
  let senderNs = 0;
  let totalNs = 0;
  let senderCpuUs = 0;
  let totalCpuUs = 0;
  for (const t of timings) {
    exchanges += t.exchanges;
    senderNs += t.senderNs;
    totalNs += t.totalNs;
    senderCpuUs += t.senderCpuUs;
    totalCpuUs += t.totalCpuUs;
  }
  return {
    exchanges,
    senderPerCpuSec: (exchanges * 1e6) / senderCpuUs,
    endToEndPerCpuSec: (exchanges * 1e6) / totalCpuUs,
    senderPerWallSec: (exchanges * 1e9) / senderNs,
    endToEndPerWallSec: (exchanges * 1e9) / totalNs,
  };
}

function warmUp(c: StepConfig): void {
  const f = new Fleet(500, c.forwardSecrecy, c.variant);
  const all = spread(500, 500);
  f.round(all, 'initialised');
  for (let r = 0; r < 4; r++) {
    f.advance(ROTATION_MS);
    f.round(all, 'rotated');
  }
  f.advance(REGISTRATION_MS);
  f.round(all, 'ack');
}

// Milliseconds of GC pause inside the given windows.
function gcInside(entries: readonly PerformanceEntry[], windows: readonly (readonly [number, number])[]): number {
  let ms = 0;
  for (const e of entries) {
    for (const [a, b] of windows) ms += Math.max(0, Math.min(b, e.startTime + e.duration) - Math.max(a, e.startTime));
  }
  return ms;
}

export async function runStep(c: StepConfig): Promise<StepResult> {
  const started = process.hrtime.bigint();
  const gcEntries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcEntries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  warmUp(c);
  // Index lists exist before the baseline: they are the harness's, not the controller's.
  const all = spread(c.count, c.count);
  const sample = spread(c.count, Math.min(c.count, c.sampleCap));
  const fullPasses = Math.max(1, c.fullPasses);
  const sampleRounds = Math.max(0, Math.ceil((c.minRotations - fullPasses * c.count) / sample.length));
  const m0 = await settledMemory();

  const t0 = process.hrtime.bigint();
  let fleet: Fleet | null = new Fleet(c.count, c.forwardSecrecy, c.variant);
  const setupSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const init = rates([fleet.round(all, 'initialised')]);
  const full: RoundTiming[] = [];
  for (let r = 0; r < fullPasses; r++) {
    fleet.advance(ROTATION_MS);
    full.push(fleet.round(all, 'rotated'));
  }
  // Every agent registers once more without a rotation due: the heartbeat rate, and the
  // steady state between two rotations (the controller has seen the agent use N, so N's
  // inbound context exists).
  fleet.advance(REGISTRATION_MS);
  const heartbeat = rates([fleet.round(all, 'ack')]);
  const sampled: RoundTiming[] = [];
  for (let r = 0; r < sampleRounds; r++) {
    fleet.advance(ROTATION_MS);
    sampled.push(fleet.round(sample, 'rotated'));
  }
  if (sampleRounds > 0) {
    // The same steady state for the agents rotated again.
    fleet.advance(REGISTRATION_MS);
    fleet.round(sample, 'ack');
  }
  const waiting = fleet.outstanding(sample);
  if (waiting !== 0) throw new Error(`${waiting} agents still wait for an answer`);

  const m1 = await settledMemory(); // controller + agents (the gc entries arrive meanwhile)
  observer.disconnect();
  const rotationRounds = [...full, ...sampled];
  const senderWallMs = rotationRounds.reduce((sum, t) => sum + t.senderNs / 1e6, 0);
  const senderGcShare = gcInside(
    gcEntries,
    rotationRounds.map((t) => t.senderWindowMs),
  ) / senderWallMs;
  fleet.receivers = null;
  const m2 = await settledMemory(); // controller only
  if (!fleet.sender.hasReceiver('agent-000000')) throw new Error('controller lost its receivers');
  fleet = null;
  const m3 = await settledMemory(); // nothing

  return {
    config: { ...c, fullPasses },
    sample: sample.length,
    sampleRounds,
    setupSeconds,
    init,
    rotation: rates(rotationRounds),
    fullPassRotation: rates(full),
    sampleRotation: sampled.length === 0 ? null : rates(sampled),
    senderGcShare,
    heartbeat,
    aead: (await aeadInUse()).implementation,
    senderBytesPerReceiver: (tracked(m2) - tracked(m0)) / c.count,
    receiverBytesPerReceiver: (tracked(m1) - tracked(m2)) / c.count,
    senderContextsPerReceiver: (m2.nativeContexts - m0.nativeContexts) / c.count,
    receiverContextsPerReceiver: (m1.nativeContexts - m2.nativeContexts) / c.count,
    rssBytesPerReceiver: (m1.rss - m0.rss) / c.count,
    leftoverBytes: tracked(m3) - tracked(m0),
    wallSeconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}
