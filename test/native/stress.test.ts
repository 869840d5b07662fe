// The native addon under load, through src/io's TUN and UDP wrappers and its raw API, in
// fresh network namespaces: run once with the production build and once with a build
// under AddressSanitizer + UBSan (preloading the ASan runtime into node). The child
// (stress-child.ts) opens and closes UDP sockets and TUN devices while traffic flows,
// closes with batches in flight and from inside batch callbacks, relays a TCP transfer
// between two TUN devices (the kernel's TSO super-packets are cut by the reader thread,
// the relayed segments coalesced on write), deletes a TUN interface under a running
// reader, passes bad arguments and JavaScript accessors that throw or free buffers
// mid-call, and ends Workers with readers running. The process must stay up, report no
// sanitizer error, deliver no batch after close(), and leak no file descriptor.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SANITIZER_REPORT, asanRuntime, buildSanitizedAddon, productionAddon } from './build.js';

const skip =
  process.platform !== 'linux'
    ? 'Linux only'
    : process.getuid?.() !== 0
      ? 'needs root (network namespaces, TUN devices)'
      : !existsSync('/dev/net/tun')
        ? 'no /dev/net/tun'
        : false;

const child = new URL('./stress-child.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kp-native-stress-'));
const sanitized = join(dir, 'keyplane_native.node');
let serial = 0;

before(() => {
  if (!skip) buildSanitizedAddon(sanitized);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// Runs the child in namespace A with namespace B as its relay peer; both are deleted after.
async function runChild(addon: string, mode: 'stress' | 'exit', asan: boolean): Promise<Outcome> {
  const id = `${process.pid % 100000}n${serial++}`;
  const [a, b] = [`kpnA${id}`, `kpnB${id}`];
  execFileSync('ip', ['netns', 'add', a]);
  execFileSync('ip', ['netns', 'add', b]);
  try {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (asan) {
      env.LD_PRELOAD = asanRuntime();
      // Node's own allocations are not freed at exit by design: leak reports would be noise.
      env.ASAN_OPTIONS = 'detect_leaks=0:halt_on_error=1:abort_on_error=0';
      env.UBSAN_OPTIONS = 'halt_on_error=1:print_stacktrace=1';
    }
    const p = spawn('ip', ['netns', 'exec', a, process.execPath, '--expose-gc', child, addon, b, mode], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hang (e.g. a join that never returns) is a failure too.
    const timer = setTimeout(() => p.kill('SIGKILL'), 45_000);
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      p.on('close', (code, sig) => resolve([code, sig])),
    );
    clearTimeout(timer);
    return { status, signal, stdout, stderr };
  } finally {
    for (const ns of [a, b]) {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  }
}

interface Summary {
  udp: { batches: number; packets: number; late: number };
  tun: { batches: number; packets: number; late: number; errors: string[] };
  relay: {
    bytes: number;
    hashOk: boolean;
    maxReadLength: number;
    badChecksums: number;
    midFlightClosed: boolean;
    kernelTxToA: number;
    readFromA: number;
    writtenToB: number;
    kernelRxFromB: number;
  };
  fatal: number;
  badArgs: number;
  uncaught: number;
  workers: { terminated: number; slowestMs: number };
  fds: { before: number; after: number; leaked: string[] };
  failures: string[];
}

function checkStress(o: Outcome): void {
  assert.doesNotMatch(o.stderr, SANITIZER_REPORT, o.stderr);
  assert.equal(o.signal, null, `killed by ${o.signal}:\n${o.stderr}`);
  assert.equal(o.status, 0, o.stderr);
  const line = o.stdout.trim().split('\n').pop() ?? '';
  const s = JSON.parse(line) as Summary;
  assert.deepEqual(s.failures, []);
  // Traffic really flowed, and no batch reached JavaScript after close() returned.
  assert.ok(s.udp.packets > 1000 && s.tun.packets > 100, line);
  assert.equal(s.udp.late, 0);
  assert.equal(s.tun.late, 0);
  assert.deepEqual(s.tun.errors, []);
  // The TCP relay: intact data; the reader cut the kernel's TSO packets into MTU-sized
  // ones with valid checksums; tunWrite handed the kernel fewer (coalesced) packets.
  assert.equal(s.relay.hashOk, true, line);
  assert.equal(s.relay.bytes, 6 * 1024 * 1024);
  assert.equal(s.relay.badChecksums, 0);
  assert.ok(s.relay.maxReadLength <= 1500, line);
  assert.ok(s.relay.readFromA > s.relay.kernelTxToA, `no TSO packet was segmented: ${line}`);
  assert.ok(s.relay.kernelRxFromB < s.relay.writtenToB, `nothing was coalesced: ${line}`);
  assert.equal(s.relay.midFlightClosed, true);
  // Interface deleted under two readers + a reader on a closed descriptor, all reported;
  // every bad argument threw; throwing callbacks became uncaught exceptions.
  assert.equal(s.fatal, 3);
  assert.ok(s.badArgs >= 40, line);
  assert.ok(s.uncaught >= 1, line);
  // Workers ended with readers running, none hung.
  assert.equal(s.workers.terminated, 6, line);
  assert.deepEqual(s.fds.leaked, []);
  assert.equal(s.fds.after, s.fds.before);
}

test('production build: churn, in-flight closes, TCP relay, fatal errors, bad arguments, workers', { skip, timeout: 60_000 }, async () => {
  checkStress(await runChild(productionAddon, 'stress', false));
});

test('AddressSanitizer + UBSan build: the same, with no sanitizer report', { skip, timeout: 60_000 }, async () => {
  checkStress(await runChild(sanitized, 'stress', true));
});

test('process.exit() while readers run with batches queued ends the process cleanly', { skip, timeout: 60_000 }, async () => {
  for (const [addon, asan] of [
    [productionAddon, false],
    [sanitized, true],
  ] as const) {
    const o = await runChild(addon, 'exit', asan);
    assert.doesNotMatch(o.stderr, SANITIZER_REPORT, o.stderr);
    assert.equal(o.signal, null, `killed by ${o.signal}:\n${o.stderr}`);
    assert.equal(o.status, 42, o.stderr);
  }
});
