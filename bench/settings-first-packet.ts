// Seed-000 first-packet benchmark (issue 5): the time from the first packet of a flow,
// held by the agent for want of an SA, to that packet delivered decrypted at the peer,
// next to the IKEv2 setup time of two strongSwan instances measured in the same run.
//
// keyplane (bench/settings-world.ts): a real controller (KeyrollServer + SettingsService
// on a temp SQLite store, UDP on 127.0.0.1) and agent pairs (KeyrollClient +
// SettingsClient on MemoryDataPlanes joined by one MemoryWire), one such world per device
// count, each in its own child process, with that many enrolled devices in its store (the
// agents' and the rest, enrolled with addresses but not running). Per sample: sendInner() of a packet on a flow never used
// before -> acquire, held -> request on the control channel -> controller: placeholder
// entry saved, activation pushed to B -> B's request -> entry completed and saved,
// distributions pushed to both -> SAs installed -> held packet released -> ESP on the
// memory wire -> decrypted at B. All worlds stay up while samples alternate between them
// (one at a time, in turn; within a world over `--pairs` pairs), so the drift of this
// shared machine falls on every device count alike; each sample starts after a random
// pause of up to `--gap-ms` (so samples land at every phase of the controller's timers:
// store refresh every 2 s, event flush every 200 ms).
//
// strongSwan (bench/settings-strongswan.ts): charon-systemd + kernel-libipsec in two
// network namespaces (root), PSK, aes128-sha256-x25519 / aes128gcm16-x25519, encap; one
// setup = initiate the CHILD_SA until established (vici, and `swanctl --initiate` wall
// time), terminate between setups. Half the setups before the keyplane rows, half after.
//
// Run: node dist/bench/settings-first-packet.js [--counts 10,10000] [--samples 200]
//        [--pairs 5] [--warmup 2] [--gap-ms 30] [--timeout-ms 3000] [--setups 30]
//        [--settle-commits 600] [--only keyplane|strongswan]
// `--samples` first packets per device count, after `--warmup` untimed ones per pair.
// Times are wall clock (performance.now()).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { canRunNetns } from '../test/netns/netns-harness.js';
import { tempDir } from '../test/netns/e2e-setup.js';
import { SettingsBenchWorld, type CommitTimes, type Sample } from './settings-world.js';
import { measureStrongswanSetup, type StrongswanSetupResult } from './settings-strongswan.js';
import { arg, fixed, int, machineLine, median, percentile, sleep, table } from './settings-stats.js';

interface RowConfig {
  readonly devices: number;
  readonly pairs: number;
  readonly flowsPerPair: number;
  readonly warmup: number; // untimed first packets per pair before the samples
  readonly gapMs: number;
  readonly timeoutMs: number;
  readonly settleCommits: number;
}

interface RowResult {
  readonly config: RowConfig;
  readonly samples: Sample[];
  readonly cpuMs: number[]; // CPU time of the world's process during each sample
  readonly enrollSeconds: number;
  readonly startSeconds: number;
  readonly rssMiB: number;
  readonly counters: Record<string, number>;
  readonly problems: string[];
  readonly commits: CommitTimes; // during the samples
}

type ToChild = { readonly type: 'sample' } | { readonly type: 'finish' };
type FromChild =
  | { readonly type: 'ready'; readonly enrollSeconds: number; readonly startSeconds: number }
  | { readonly type: 'sample'; readonly sample: Sample; readonly cpuMs: number }
  | { readonly type: 'done'; readonly rssMiB: number; readonly counters: Record<string, number>; readonly problems: string[]; readonly commits: CommitTimes };

// ------------------------------------------------- child: one world, samples on demand

async function serveWorld(c: RowConfig): Promise<void> {
  const send = (m: FromChild): Promise<void> => new Promise((resolve) => process.send!(m, () => resolve()));
  const dir = tempDir();
  let world: SettingsBenchWorld | null = null;
  // The parent gone (it failed): do not linger with the world's timers running.
  process.once('disconnect', () => {
    void (async () => {
      await world?.close().catch(() => undefined);
      dir.remove();
      process.exit(1);
    })();
  });
  try {
    world = await SettingsBenchWorld.create({ devices: c.devices, pairs: c.pairs, flowsPerPair: c.flowsPerPair, dir: dir.path, settleCommits: c.settleCommits });
    const w = world;
    for (let k = 0; k < c.warmup; k++) {
      for (const p of w.pairs) {
        const s = await w.firstPacket(p, 30_000);
        if (s.totalMs === null) console.error(`warm-up first packet lost (pair ${w.pairs.indexOf(p)})`);
      }
    }
    w.commits.saveEntry.length = 0;
    w.commits.saveChannelState.length = 0;
    let next = 0;
    const finished = new Promise<void>((resolve) => {
      process.on('message', (m: ToChild) => {
        if (m.type === 'finish') return resolve();
        void (async () => {
          await sleep(Math.random() * c.gapMs);
          const cpu0 = process.cpuUsage();
          const sample = await w.firstPacket(w.pairs[next++ % c.pairs]!, c.timeoutMs);
          const cpu = process.cpuUsage(cpu0);
          await send({ type: 'sample', sample, cpuMs: (cpu.user + cpu.system) / 1000 });
        })();
      });
    });
    await send({ type: 'ready', enrollSeconds: w.enrollSeconds, startSeconds: w.startSeconds });
    await finished;
    await sleep(300); // the last saves and the event flush, before the counters are read
    const counters = Object.fromEntries(Object.entries(await w.counters()).filter(([, v]) => v > 0));
    await send({ type: 'done', rssMiB: process.memoryUsage().rss / 2 ** 20, counters, problems: w.problems(), commits: w.commits });
  } finally {
    await world?.close();
    dir.remove();
  }
  process.exit(0);
}

// The parent's handle on one world process: one request at a time.
class WorldProcess {
  private readonly child;
  private waiting: { resolve: (m: FromChild) => void; reject: (e: Error) => void } | null = null;
  private readonly samples: Sample[] = [];
  private readonly cpuMs: number[] = [];
  private ready: Extract<FromChild, { type: 'ready' }> | null = null;

  constructor(readonly config: RowConfig) {
    this.child = fork(fileURLToPath(import.meta.url), ['--world', JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromChild) => {
      const w = this.waiting;
      this.waiting = null;
      w?.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      const w = this.waiting;
      this.waiting = null;
      w?.reject(new Error(`world of ${config.devices} devices: child exited with ${code ?? signal}`));
    });
  }

  private next(request?: ToChild): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      if (request !== undefined) this.child.send(request);
    });
  }

  async start(): Promise<void> {
    const m = await this.next();
    if (m.type !== 'ready') throw new Error(`expected ready, got ${m.type}`);
    this.ready = m;
  }

  async sample(): Promise<Sample> {
    const m = await this.next({ type: 'sample' });
    if (m.type !== 'sample') throw new Error(`expected a sample, got ${m.type}`);
    this.samples.push(m.sample);
    this.cpuMs.push(m.cpuMs);
    return m.sample;
  }

  async finish(): Promise<RowResult> {
    const m = await this.next({ type: 'finish' });
    if (m.type !== 'done' || this.ready === null) throw new Error(`expected done, got ${m.type}`);
    return {
      config: this.config,
      samples: this.samples,
      cpuMs: this.cpuMs,
      enrollSeconds: this.ready.enrollSeconds,
      startSeconds: this.ready.startSeconds,
      rssMiB: m.rssMiB,
      counters: m.counters,
      problems: m.problems,
      commits: m.commits,
    };
  }
}

// Medians of the samples in `parts` consecutive slices of the run (drift over time).
function sliceMedians(samples: readonly Sample[], parts: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < parts; k++) {
    const slice = samples.slice(Math.floor((k * samples.length) / parts), Math.floor(((k + 1) * samples.length) / parts));
    out.push(median(slice.flatMap((s) => (s.totalMs === null ? [] : [s.totalMs]))));
  }
  return out;
}

// ------------------------------------------------------------------------- report

function report(rows: readonly RowResult[], ss: StrongswanSetupResult | null, ssNote: string, started: Date, loadBefore: number[], wallSeconds: number): string {
  const ssVici = ss === null ? NaN : median(ss.viciMs);
  const ssSwanctl = ss === null ? NaN : median(ss.swanctlMs);
  const base = rows[0];
  const baseMedian = base === undefined ? NaN : median(base.samples.flatMap((s) => (s.totalMs === null ? [] : [s.totalMs])));
  const main: string[][] = [];
  for (const r of rows) {
    const ms = r.samples.flatMap((s) => (s.totalMs === null ? [] : [s.totalMs]));
    const m = median(ms);
    main.push([
      'keyplane: first packet held -> delivered at the peer',
      int(r.config.devices),
      `${int(ms.length)} (${r.config.pairs} pairs)`,
      fixed(m, 2),
      fixed(percentile(ms, 99), 2),
      fixed(Math.min(...ms), 2),
      fixed(Math.max(...ms), 2),
      int(r.samples.length - ms.length),
      fixed(m / baseMedian, 2),
      fixed(m / ssVici, 2),
      fixed(m / ssSwanctl, 2),
    ]);
  }
  if (ss !== null) {
    for (const [what, xs, ref] of [
      ['strongSwan: vici initiate -> CHILD_SA established', ss.viciMs, ssVici],
      ['strongSwan: `swanctl --initiate` process, start -> exit', ss.swanctlMs, ssSwanctl],
    ] as const) {
      main.push([what, '2', int(xs.length), fixed(median(xs), 2), fixed(percentile(xs, 99), 2), fixed(Math.min(...xs), 2), fixed(Math.max(...xs), 2), '–', '–', fixed(median(xs) / ssVici, 2), fixed(median(xs) / ref, 2)]);
    }
  }
  const split = rows.map((r) => {
    const ok = r.samples.filter((s) => s.totalMs !== null);
    const med = (pick: (s: Sample) => number): string => fixed(median(ok.map(pick).filter(Number.isFinite)), 2);
    return [
      int(r.config.devices),
      med((s) => s.requestB),
      med((s) => s.installedB),
      med((s) => s.installedA),
      med((s) => s.totalMs!),
      fixed(median(r.cpuMs), 2),
      sliceMedians(r.samples, 4)
        .map((x) => fixed(x, 2))
        .join(', '),
      `${fixed(median(r.commits.saveEntry), 2)} / ${fixed(percentile(r.commits.saveEntry, 99), 2)} (${int(r.commits.saveEntry.length)})`,
      r.commits.saveChannelState.length === 0 ? '0' : `${fixed(median(r.commits.saveChannelState), 2)} (${int(r.commits.saveChannelState.length)})`,
      fixed(r.enrollSeconds, 1),
      fixed(r.startSeconds, 1),
      int(r.rssMiB),
    ];
  });
  const notes: string[] = [];
  for (const r of rows) {
    const c = Object.entries(r.counters)
      .filter(([k]) => /drop|fail|error|retransmit|overflow|mismatch|superseded|not-durable/.test(k))
      .map(([k, v]) => `${k}=${v}`);
    const expected = r.samples.length + r.config.warmup * r.config.pairs;
    notes.push(
      `${int(r.config.devices)} devices: controller distributed ${int(r.counters['settings.distributed'] ?? 0)} entries (expected ${int(expected)}), ` +
        `${int(r.counters['settings.push'] ?? 0)} settings pushes; counters of drops/failures/retransmissions: ${c.length === 0 ? 'none' : c.join(', ')}`,
    );
    if (r.problems.length > 0) notes.push(`${int(r.config.devices)} devices: log warnings/errors (first ${r.problems.length}): ${r.problems.slice(0, 5).join(' | ')}`);
  }
  return [
    machineLine('seed-000 first-packet benchmark', started, loadBefore, wallSeconds),
    ss === null ? `strongSwan: ${ssNote}` : `strongSwan: ${ss.version}, ${ssNote}; setup failures: ${ss.failures}`,
    '',
    table(
      ['what', 'registered devices', 'samples', 'median ms', 'p99 ms', 'min ms', 'max ms', 'lost', `× ${int(base?.config.devices ?? NaN)}-device median`, '× strongSwan vici median', '× strongSwan swanctl median'],
      main,
    ),
    '',
    'Where a keyplane sample goes (medians, ms after sendInner of the held packet): B sent its request (the controller saved the placeholder entry and pushed the activation), B installed its SAs, A installed its SAs (then released the packet), delivered at B. ' +
      'CPU ms: CPU time (user + system, all threads) of the process holding the controller and the agents, during a sample (median). ' +
      "Entry saves: the controller's write-ahead SQLite commits (two per sample: placeholder, then the complete entry), wall time each; channel-state saves: keyroll state commits during the samples.",
    '',
    table(
      ['registered devices', 'B request sent', 'B installed', 'A installed', 'delivered', 'CPU ms', 'delivered: median of each quarter of the run', 'entry save ms median / p99 (count)', 'channel-state saves ms (count)', 'enroll s', 'start s', 'RSS MiB'],
      split,
    ),
    '',
    ...notes,
    'p99 is nearest-rank: the ceil(0.99 n)-th smallest of n samples.',
  ].join('\n');
}

// --------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const loadBefore = os.loadavg();
  const counts = arg('counts', '10,10000').split(',').map(Number);
  const samples = Number(arg('samples', '200'));
  const pairs = Number(arg('pairs', '5'));
  const warmup = Number(arg('warmup', '2'));
  const gapMs = Number(arg('gap-ms', '30'));
  const timeoutMs = Number(arg('timeout-ms', '3000'));
  const setups = Number(arg('setups', '30'));
  const only = arg('only', 'both');
  const settleCommits = Number(arg('settle-commits', '600'));
  if (counts.some((n) => !Number.isInteger(n) || n < 2 * pairs) || !(samples >= 1) || !(pairs >= 1 && pairs <= 100) || !(setups >= 2) || !(settleCommits >= 0)) throw new Error('bad arguments');

  const why = canRunNetns();
  const doSs = only !== 'keyplane' && why === undefined;
  const ssNote = only === 'keyplane' ? 'not run (--only keyplane)' : why !== undefined ? `not run (${why})` : `${setups} setups of each kind, half before and half after the keyplane rows, after 3 untimed`;
  const ssParts: StrongswanSetupResult[] = [];
  if (doSs) {
    process.stderr.write('strongSwan setups (first half) ... ');
    ssParts.push(await measureStrongswanSetup(Math.floor(setups / 2)));
    process.stderr.write('done\n');
  }
  // One world per device count, all alive at once; samples alternate between them (in
  // turn, never two at a time), so the drift of the shared machine (other processes, the
  // disk's fsync time) falls on every count alike.
  const rows: RowResult[] = [];
  if (only !== 'strongswan') {
    const worlds: WorldProcess[] = [];
    for (const devices of counts) {
      process.stderr.write(`keyplane: starting a world with ${devices} enrolled devices ... `);
      const w = new WorldProcess({ devices, pairs, flowsPerPair: warmup + Math.ceil(samples / pairs), warmup, gapMs, timeoutMs, settleCommits });
      await w.start();
      worlds.push(w);
      process.stderr.write('ready\n');
    }
    process.stderr.write(`keyplane: ${samples} first packets per world ... `);
    const ts = performance.now();
    for (let i = 0; i < samples; i++) for (const w of i % 2 === 0 ? worlds : [...worlds].reverse()) await w.sample();
    process.stderr.write(`${fixed((performance.now() - ts) / 1000, 1)} s\n`);
    for (const w of worlds) rows.push(await w.finish());
  }
  if (doSs) {
    process.stderr.write('strongSwan setups (second half) ... ');
    ssParts.push(await measureStrongswanSetup(setups - Math.floor(setups / 2)));
    process.stderr.write('done\n');
  }
  const ss: StrongswanSetupResult | null =
    ssParts.length === 0
      ? null
      : {
          viciMs: ssParts.flatMap((p) => p.viciMs),
          swanctlMs: ssParts.flatMap((p) => p.swanctlMs),
          failures: ssParts.reduce((n, p) => n + p.failures, 0),
          version: ssParts[0]!.version,
        };
  console.log(report(rows, ss, ssNote, started, loadBefore, (performance.now() - t0) / 1000));
}

if (process.argv.includes('--world')) {
  await serveWorld(JSON.parse(arg('world', '{}')) as RowConfig);
} else {
  await main();
}
