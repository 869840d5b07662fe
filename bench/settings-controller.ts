// Seed-000 controller benchmark (issue 5): distributions per second with 1,000 and
// 10,000 enrolled devices, the settings core alone and the real settings service with
// its SQLite store (write-ahead, as in production), and the controller's memory per
// device and per pair. What a row does: bench/settings-controller-row.ts.
//
// Run: node dist/bench/settings-controller.js [--counts 1000,10000] [--rounds 3]
//        [--pairs-core 20000] [--pairs-durable 3000] [--window 100]
// Each row runs in a fresh child process (node --expose-gc), so it starts from a clean
// heap; rounds alternate the device counts (the disk's fsync time drifts on a shared machine).
//
// Figures:
// - distribution: one management entry completed, i.e. both requests of a pair handled
//   (placeholder + activation, then keys drawn and the distribution for both ends).
// - core /s: pairs per CPU-second inside SettingsServer.handle (process.cpuUsage, so
//   other processes on the shared machine do not count); µs = CPU per distribution.
// - with persistence /s: pairs per wall-clock second through SettingsService, from the
//   requests handed in to the last distribution pushed (includes the two synchronous,
//   fsync'd SQLite commits per pair, the event log, decoding and encoding the items);
//   CPU µs = CPU per distribution in that run.
// - memory: V8 heap used + external after GC, differences divided by the count:
//   controller per device = KeyrollServer + SettingsService after loading N enrolled
//   devices (channel peers, served records, address index); index per device = the
//   settings address index alone; per pair = complete management entries (core alone,
//   and measured again on the running service).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { runControllerRow, type ControllerRowConfig, type ControllerRowResult } from './settings-controller-row.js';
import { arg, fixed, int, machineLine, median, table } from './settings-stats.js';

function runChild(c: ControllerRowConfig): Promise<ControllerRowResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--row', JSON.stringify(c)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ControllerRowResult | null = null;
    child.on('message', (m) => {
      result = m as ControllerRowResult;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (result !== null ? resolve(result) : reject(new Error(`row ${c.devices}: child exited with ${code ?? signal}`))));
  });
}

// "run k" of the row's device count.
function rounds(rows: readonly ControllerRowResult[], i: number): string {
  const n = rows[i]!.config.devices;
  return `run ${rows.slice(0, i + 1).filter((r) => r.config.devices === n).length}`;
}

function report(rows: readonly ControllerRowResult[], started: Date, loadBefore: number[], wallSeconds: number): string {
  const base = rows[0];
  const ratio = (x: number, b: number | undefined): string => (b === undefined ? '–' : fixed(x / b, 2));
  const corePerCpu = (r: ControllerRowResult): number => r.core.pairs / r.core.cpuSeconds;
  const durablePerWall = (r: ControllerRowResult): number => r.durable.pairs / r.durable.wallSeconds;
  const rates = rows.map((r, i) => [
    `${int(r.config.devices)} (${rounds(rows, i)})`,
    int(r.core.pairs),
    int(corePerCpu(r)),
    ratio(corePerCpu(r), base === undefined ? undefined : corePerCpu(base)),
    fixed((1e6 * r.core.cpuSeconds) / r.core.pairs, 1),
    int(r.core.pairs / r.core.wallSeconds),
    int(r.durable.pairs),
    int(durablePerWall(r)),
    ratio(durablePerWall(r), base === undefined ? undefined : durablePerWall(base)),
    fixed((1e6 * r.durable.cpuSeconds) / r.durable.pairs, 1),
    `${fixed(r.windowMs.median, 1)} / ${fixed(r.windowMs.p99, 1)}`,
  ]);
  const memory = rows.map((r, i) => [
    `${int(r.config.devices)} (${rounds(rows, i)})`,
    int(r.controllerBytesPerDevice),
    int(r.indexBytesPerDevice),
    int(r.coreBytesPerPair),
    int(r.serviceBytesPerPair),
    fixed(r.enrollSeconds, 1),
  ]);
  const notes: string[] = [];
  const [lo, hi] = [rows[0], rows[rows.length - 1]];
  if (lo !== undefined && hi !== undefined && hi.config.devices > lo.config.devices) {
    const slope = (hi.controllerBytesPerDevice * hi.config.devices - lo.controllerBytesPerDevice * lo.config.devices) / (hi.config.devices - lo.config.devices);
    notes.push(`controller memory per added device between ${int(lo.config.devices)} and ${int(hi.config.devices)} devices (slope, no fixed costs): ${int(slope)} B`);
  }
  const seen = new Set<string>();
  for (const r of rows) {
    const bad = Object.entries(r.counters).filter(([k]) => /drop|fail|error|not-durable/.test(k));
    const line = `${int(r.config.devices)} devices, service counters: ${Object.entries(r.counters)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}${bad.length > 0 ? ' (DROPS/FAILURES ABOVE)' : ''}`;
    if (!seen.has(line)) notes.push(line);
    seen.add(line);
    if (r.problems.length > 0) notes.push(`${int(r.config.devices)} devices, log warnings/errors: ${r.problems.join(' | ')}`);
  }
  return [
    machineLine('seed-000 controller benchmark', started, loadBefore, wallSeconds),
    `policy: one wildcard default (aes128gcm16, tunnel, 3600 s); pairs drawn at random among the enrolled devices, each pair once; ` +
      `with persistence: windows of ${base?.config.window ?? '?'} pairs, store on ${os.tmpdir()} (WAL, synchronous=FULL).`,
    '',
    table(
      ['devices (run)', 'core pairs', 'core distributions / CPU-s', '×1st', 'core CPU µs each', 'core / wall-s', 'persisted pairs', 'with persistence / wall-s', '×1st', 'CPU µs each', 'window ms median / p99'],
      rates,
    ),
    '',
    table(['devices (run)', 'controller bytes / device', 'settings index bytes / device', 'core bytes / pair', 'service bytes / pair', 'enroll s'], memory),
    '',
    'Medians over the runs:',
    '',
    table(
      ['devices', 'core distributions / CPU-s', 'with persistence / wall-s', 'controller bytes / device', 'core bytes / pair', 'service bytes / pair'],
      [...new Set(rows.map((r) => r.config.devices))].map((n) => {
        const of = rows.filter((r) => r.config.devices === n);
        return [
          int(n),
          int(median(of.map(corePerCpu))),
          int(median(of.map(durablePerWall))),
          int(median(of.map((r) => r.controllerBytesPerDevice))),
          int(median(of.map((r) => r.coreBytesPerPair))),
          int(median(of.map((r) => r.serviceBytesPerPair))),
        ];
      }),
    ),
    '',
    ...notes,
  ].join('\n');
}

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const loadBefore = os.loadavg();
  const counts = arg('counts', '1000,10000').split(',').map(Number);
  const pairsCore = Number(arg('pairs-core', '20000'));
  const pairsDurable = Number(arg('pairs-durable', '3000'));
  const window = Number(arg('window', '100'));
  if (counts.some((n) => !Number.isInteger(n) || n < 2) || !(pairsCore >= 1) || !(pairsDurable >= 1) || !(window >= 1)) throw new Error('bad arguments');
  const rounds = Number(arg('rounds', '3'));
  if (!(rounds >= 1)) throw new Error('bad arguments');
  const rows: ControllerRowResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const devices of counts) {
      const maxPairs = (devices * (devices - 1)) / 2;
      const c: ControllerRowConfig = { devices, pairsCore: Math.min(pairsCore, maxPairs), pairsDurable: Math.min(pairsDurable, maxPairs), window };
      process.stderr.write(`settings controller round ${round + 1}/${rounds}: ${devices} devices ... `);
      const t = performance.now();
      rows.push(await runChild(c));
      process.stderr.write(`${fixed((performance.now() - t) / 1000, 1)} s\n`);
    }
  }
  console.log(report(rows, started, loadBefore, (performance.now() - t0) / 1000));
}

if (process.argv.includes('--row')) {
  const result = await runControllerRow(JSON.parse(arg('row', '{}')) as ControllerRowConfig);
  process.send!(result, () => process.exit(0));
} else {
  await main();
}
