// Keyroll benchmark (issue 4): the controller as the seed-004 key sender for 1,000,
// 10,000 and 100,000 simulated agents, with forward secrecy on and off. One KeySender
// with the production random source; the agents are KeyReceivers in the same process,
// packets are passed in memory and time is virtual (bench/keyroll-fleet.ts).
//
// Run: node --expose-gc dist/bench/keyroll-sender.js
//        [--counts 1000,10000,100000] [--full-passes 1] [--sample 10000] [--min-rotations 20000]
//        [--variant spi|explicit] [--fs both|on|off]
//
// Each row runs in a fresh child process (node --expose-gc, bench/keyroll-step.ts); this
// process only measures the X25519 reference and prints the tables (Markdown).
//
// Figures (rates per CPU-second, process.cpuUsage, so that other processes on the shared
// machine do not count; wall-clock rates are in the second table):
// - controller rotations/s: rotations per second of time spent inside sender.handle for
//   the rotation exchanges (open the agent's registration, make the key, seal the answer).
// - end-to-end rotations/s: the same exchanges including the agents' work (build and seal
//   the registration, open the answer, install the key), all on this one thread.
// - controller memory per receiver: heap used + external after GC with only the
//   controller alive, minus the row's baseline, divided by the number of agents.
// - ×1k: the figure divided by the 1,000-agent row's (1.00 = per-agent cost independent
//   of the count, i.e. rates constant and memory linear).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import os from 'node:os';
import { newEphemeral } from '../src/keyroll/ephemeral.js';
import { cryptoRandomSource } from '../src/keyroll/random.js';
import { runStep, type StepConfig, type StepResult } from './keyroll-step.js';
import { aeadInUse, calibrateNativeContext } from './keyroll-native.js';
import type { KeyrollVariant } from '../src/keyroll/types.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

// ----------------------------------------------------------------------- child: one row

async function runAsChild(): Promise<void> {
  const result = process.argv.includes('--calibrate') ? await calibrateNativeContext(200_000) : await runStep(JSON.parse(arg('step', '{}')) as StepConfig);
  process.send!(result, () => process.exit(0));
}

// ------------------------------------------------------------------- X25519 reference

interface OpCost {
  readonly usPerOp: number;
  readonly perSec: number;
}

// Runs `op` for about `seconds` after a warm-up; returns its cost.
function cost(op: () => void, seconds: number): OpCost {
  for (let i = 0; i < 300; i++) op();
  const limitNs = BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < 100; i++) op();
    n += 100;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limitNs);
  const us = Number(elapsed) / 1e3 / n;
  return { usPerOp: us, perSec: 1e6 / us };
}

interface Reference {
  readonly keygenDh: OpCost; // node:crypto: generateKeyPairSync('x25519') + diffieHellman
  readonly keyrollEphemeral: OpCost; // what a forward-secret rotation does, per side
}

function x25519Reference(seconds: number): Reference {
  const peer = generateKeyPairSync('x25519');
  const peerRaw = Buffer.from(createPublicKey(peer.privateKey).export({ format: 'jwk' }).x ?? '', 'base64url');
  const keygenDh = cost(() => {
    const { privateKey } = generateKeyPairSync('x25519');
    diffieHellman({ privateKey, publicKey: peer.publicKey });
  }, seconds);
  // src/keyroll/ephemeral.ts: a random scalar imported as JWK, its public value exported
  // raw, the peer's raw public value imported, DH.
  const keyrollEphemeral = cost(() => {
    newEphemeral(cryptoRandomSource).computeSecret(peerRaw);
  }, seconds);
  return { keygenDh, keyrollEphemeral };
}

// ------------------------------------------------------------------------------- rows

function runChild<T>(args: string[], what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), args, {
      execArgv: ['--expose-gc', '--max-old-space-size=16384'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: { value: T } | null = null;
    child.on('message', (m) => {
      result = { value: m as T };
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result !== null) resolve(result.value);
      else reject(new Error(`${what}: child exited with ${code ?? signal}`));
    });
  });
}

// ---------------------------------------------------------------------------- output

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const fixed = (x: number, digits: number): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (x: number, base: number | undefined): string => (base === undefined ? '–' : fixed(x / base, 2));
const fsName = (on: boolean): string => (on ? 'on' : 'off');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? '---' : '--:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

function measuredLabel(r: StepResult): string {
  const n = int(r.rotation.exchanges);
  if (r.sampleRounds === 0) return `${n} (all × ${r.config.fullPasses})`;
  if (r.sample >= r.config.count) return `${n} (all × ${r.config.fullPasses + r.sampleRounds})`;
  return `${n} (all × ${r.config.fullPasses} + sample of ${int(r.sample)} × ${r.sampleRounds})`;
}

interface Aead {
  readonly aead: string;
  readonly nativeContextBytes: number; // per native AEAD context, beyond V8's accounting
}

function report(results: readonly StepResult[], ref: readonly Reference[], aead: Aead, started: Date, loadBefore: number[], wallSeconds: number): string {
  // Controller / agent memory per agent: V8's (heap used + external) plus native contexts.
  const senderBytes = (r: StepResult): number => r.senderBytesPerReceiver + r.senderContextsPerReceiver * aead.nativeContextBytes;
  const receiverBytes = (r: StepResult): number => r.receiverBytesPerReceiver + r.receiverContextsPerReceiver * aead.nativeContextBytes;
  const base = (fs: boolean): StepResult | undefined => results.find((r) => r.config.forwardSecrecy === fs && r.config.count === 1000);
  const main = results.map((r) => {
    const b = base(r.config.forwardSecrecy);
    return [
      fsName(r.config.forwardSecrecy),
      int(r.config.count),
      measuredLabel(r),
      int(r.rotation.senderPerCpuSec),
      ratio(r.rotation.senderPerCpuSec, b?.rotation.senderPerCpuSec),
      fixed(1e6 / r.rotation.senderPerCpuSec, 1),
      int(r.rotation.endToEndPerCpuSec),
      ratio(r.rotation.endToEndPerCpuSec, b?.rotation.endToEndPerCpuSec),
      int(senderBytes(r)),
      ratio(senderBytes(r), b === undefined ? undefined : senderBytes(b)),
    ];
  });
  const detail = results.map((r) => [
    fsName(r.config.forwardSecrecy),
    int(r.config.count),
    `${int(r.rotation.senderPerWallSec)} / ${int(r.rotation.endToEndPerWallSec)}`,
    `${fixed(100 * r.senderGcShare, 0)}%`,
    `${int(r.init.senderPerCpuSec)} / ${int(r.init.endToEndPerCpuSec)}`,
    `${int(r.fullPassRotation.senderPerCpuSec)} / ${int(r.fullPassRotation.endToEndPerCpuSec)}`,
    r.sampleRotation === null || r.sample >= r.config.count ? '–' : `${int(r.sampleRotation.senderPerCpuSec)} / ${int(r.sampleRotation.endToEndPerCpuSec)}`,
    int(r.heartbeat.senderPerCpuSec),
    `${int(r.senderBytesPerReceiver)} + ${fixed(r.senderContextsPerReceiver, 2)} ctx`,
    int(receiverBytes(r)),
    int(r.rssBytesPerReceiver),
    int(r.leftoverBytes / 1024),
    fixed(r.setupSeconds, 1),
    fixed(r.wallSeconds, 1),
  ]);
  const premium = results
    .filter((r) => r.config.forwardSecrecy)
    .map((on) => {
      const off = results.find((r) => !r.config.forwardSecrecy && r.config.count === on.config.count);
      if (off === undefined) return null;
      const us = 1e6 / on.rotation.senderPerCpuSec - 1e6 / off.rotation.senderPerCpuSec;
      const bytes = senderBytes(on) - senderBytes(off);
      return `${int(on.config.count)}: ${us >= 0 ? '+' : ''}${fixed(us, 1)} µs/rotation, ${bytes >= 0 ? '+' : ''}${int(bytes)} B/receiver`;
    })
    .filter((s): s is string => s !== null);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const variant = results[0]?.config.variant ?? 'spi';
  const refLine = (label: string, pick: (r: Reference) => OpCost): string =>
    `${label}: ${ref.map((r) => `${fixed(pick(r).usPerOp, 1)} µs (${int(pick(r).perSec)}/s)`).join(' at the start, ')} at the end`;
  const sampled = results.filter((r) => r.sample < r.config.count && r.sampleRounds > 0);
  return [
    `keyroll sender benchmark, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${os.cpus().length} cores (${cpu}), ${fixed(os.totalmem() / 2 ** 30, 1)} GiB, ` +
      `node ${process.version}, OpenSSL ${process.versions.openssl}; load average ${loadBefore.map((x) => fixed(x, 2)).join(' ')} at start, ` +
      `${os.loadavg().map((x) => fixed(x, 2)).join(' ')} at end; ${fixed(wallSeconds, 0)} s in all`,
    `variant ${variant}, AES-256-GCM ESP with ${aead.aead} AEAD contexts` +
      (aead.nativeContextBytes > 0 ? ` (${int(aead.nativeContextBytes)} B of native memory each, RSS calibration over 200,000, added to the memory figures)` : '') +
      `, controller random source cryptoRandomSource. One rotation: the agent registers under N, the controller ` +
      `rotates and answers under N-1 with the distribution, the agent installs N+1. Rates are per CPU-second (process.cpuUsage); ` +
      `"controller" = time inside sender.handle only, "end-to-end" = controller + agents on one thread.`,
    '',
    table(
      ['FS', 'receivers', 'rotations measured', 'controller rot/s', '×1k', 'controller µs/rot', 'end-to-end rot/s', '×1k', 'controller bytes/receiver', '×1k'],
      main,
    ),
    '',
    'Details: rates per CPU-second unless marked wall; full passes cover every agent; memory per agent; "ctx" = native AEAD contexts.',
    '',
    table(
      [
        'FS',
        'receivers',
        'rot/s wall: controller / e2e',
        'GC pauses in controller wall time',
        'init pass /s: controller / e2e',
        'full rotation passes /s: controller / e2e',
        'sample rounds /s: controller / e2e',
        'heartbeat pass /s (controller)',
        'controller V8 bytes + native AEAD contexts /receiver',
        'agent bytes/receiver',
        'RSS bytes/receiver (all)',
        'leftover KiB',
        'enroll s',
        'row s',
      ],
      detail,
    ),
    '',
    refLine('X25519 reference, node:crypto generateKeyPairSync + diffieHellman', (r) => r.keygenDh),
    refLine('X25519 as keyroll does it (ephemeral.ts: JWK import of a random scalar, raw public export, peer import, DH)', (r) => r.keyrollEphemeral),
    premium.length === 0 ? 'forward secrecy at the controller: run with --fs both to compare' : `forward secrecy at the controller (on − off): ${premium.join('; ')}`,
    sampled.length === 0
      ? `sampling: none; every round rotated every agent (--full-passes ${results[0]?.config.fullPasses ?? 0}, more rounds for rows below --min-rotations).`
      : `sampling: after its full passes, the ${[...new Set(sampled.map((r) => int(r.config.count)))].join(', ')}-agent rows rotate an evenly spread ` +
        `sample of ${int(sampled[0]!.sample)} agents per round (--sample); the headline rates aggregate full passes and sample rounds.`,
  ].join('\n');
}

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const started = new Date();
  const t0 = process.hrtime.bigint();
  const loadBefore = os.loadavg();
  const counts = arg('counts', '1000,10000,100000').split(',').map(Number);
  const fullPasses = Number(arg('full-passes', '1'));
  const sampleCap = Number(arg('sample', '10000'));
  const minRotations = Number(arg('min-rotations', '20000'));
  const variant = arg('variant', 'spi') as KeyrollVariant;
  const fsArg = arg('fs', 'both');
  const fsValues = fsArg === 'both' ? [true, false] : [fsArg === 'on'];
  if (counts.some((n) => !Number.isInteger(n) || n < 1) || !(fullPasses >= 1) || !(sampleCap >= 1) || !(minRotations >= 1) || (variant !== 'spi' && variant !== 'explicit')) {
    throw new Error('bad arguments');
  }
  const aead = (await aeadInUse()).implementation;
  const nativeContextBytes = aead === 'native addon' ? await runChild<number>(['--step', '--calibrate'], 'calibration') : 0;
  const ref: Reference[] = [x25519Reference(1)];
  const results: StepResult[] = [];
  for (const forwardSecrecy of fsValues) {
    for (const count of counts) {
      process.stderr.write(`keyroll bench: ${count} agents, forward secrecy ${fsName(forwardSecrecy)} ... `);
      const r = await runChild<StepResult>(['--step', JSON.stringify({ count, forwardSecrecy, variant, fullPasses, sampleCap, minRotations })], `row ${count}`);
      process.stderr.write(`${fixed(r.wallSeconds, 1)} s\n`);
      results.push(r);
    }
  }
  ref.push(x25519Reference(1));
  console.log(report(results, ref, { aead, nativeContextBytes }, started, loadBefore, Number(process.hrtime.bigint() - t0) / 1e9));
}

if (process.argv.includes('--step')) await runAsChild();
else await main();
