// Child process of test/native/stress.test.ts (not a test file itself): drives the native
// addon through src/io's TUN and UDP wrappers and through its raw functions, hard, and
// prints one JSON summary line. The parent runs it in a fresh network namespace, once
// with the production build and once with a build under AddressSanitizer + UBSan, and
// fails on a crash, a hang, a sanitizer report or a wrong count in the summary.
//
//   node --expose-gc stress-child.js <addon.node> <peer netns> [stress|exit]
//
// <addon.node> is loaded in place of build/Release/keyplane_native.node, so src/io's
// wrappers run on the sanitizer build. <peer netns> is a second namespace into which a
// TUN device is moved for the TCP relay. Mode "exit" starts readers with traffic and
// calls process.exit(42) while they run.

import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { IoError } from '../../src/io/errors.js';
import { KIND_TUN, KIND_UDP, nativeAddon, type NativeAddon } from '../../src/io/native.js';
import { openTun, type TunDevice } from '../../src/io/tun.js';
import { openUdp, type DatagramBatch } from '../../src/io/udp.js';
import { onesComplementSum, pseudoHeaderSum, finishChecksum, verifyInternetChecksum, verifyTransportChecksum } from '../../src/wire/checksum.js';

// ---- setup ------------------------------------------------------------------------------

// Makes src/io/native.ts load `path` instead of the production build: its require() of
// build/Release/keyplane_native.node then finds this module in the require cache.
function useAddon(path: string): void {
  const require = createRequire(import.meta.url);
  const production = new URL('../../../build/Release/keyplane_native.node', import.meta.url).pathname;
  const wanted = realpathSync(path);
  let real: string;
  try {
    real = realpathSync(production);
  } catch {
    real = production;
  }
  if (wanted === real) return;
  require(wanted);
  require.cache[production] = require.cache[wanted];
}

// Commands run without the sanitizer runtime this process may have been started with.
const cleanEnv = { ...process.env };
delete cleanEnv.LD_PRELOAD;
function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: cleanEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// Keeps the JS thread busy so the reader threads fill their queues (MAX_INFLIGHT batches)
// and the next close() finds batches in flight.
function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}
function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
function fds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd}->?`;
    }
  });
}

let seed = 0x9e3779b9;
function rand(n: number): number {
  // xorshift32: deterministic sizes and timings for a given run
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

// A complete IPv4/TCP segment with valid checksums (RFC 791 §3.1, RFC 9293 §3.1).
function tcpSegment(
  src: number[],
  dst: number[],
  sport: number,
  dport: number,
  seq: number,
  flags: number,
  payload: Uint8Array,
): Buffer {
  const p = Buffer.alloc(40 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(rand(65536), 4);
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 6;
  p.set(src, 12);
  p.set(dst, 16);
  p.writeUInt16BE(finishChecksum(onesComplementSum(p, 0, 20)), 10);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt32BE(seq >>> 0, 24);
  p.writeUInt32BE(1, 28);
  p[32] = 0x50;
  p[33] = flags;
  p.writeUInt16BE(65535, 34);
  p.set(payload, 40);
  const sum = pseudoHeaderSum(p.subarray(12, 16), p.subarray(16, 20), 6, p.length - 20);
  p.writeUInt16BE(finishChecksum(onesComplementSum(p, 20, p.length, sum)), 36);
  return p;
}

// ---- UDP: open, flood, close mid-flow ---------------------------------------------------

interface Tally {
  batches: number;
  packets: number;
  late: number; // callbacks after close() returned: must stay 0
}

const DATAGRAM_SIZES = [...Array<number>(64).fill(1400), 700, ...Array<number>(40).fill(100), 0, 1, 65507, 70000, 9000];

async function udpCycle(c: number, tally: Tally): Promise<void> {
  const host = c % 3 === 2 ? '::1' : '127.0.0.1';
  const offload = c % 2 === 0;
  const a = await openUdp({ address: host, port: 0, offload, maxBatch: 1 + ((c * 37) % 256) });
  const b = await openUdp({ address: host, port: 0, offload, maxBatch: 256, bufferBytes: 1 << 20 });
  let closed = false;
  const closeInCallback = c % 4 === 1;
  const closeBoth = (): void => {
    closed = true;
    void a.close();
    void b.close();
  };
  const onBatch = (batch: DatagramBatch): void => {
    if (closed) tally.late++;
    tally.batches++;
    tally.packets += batch.count;
    for (let i = 0; i < batch.count; i += 7) {
      batch.data(i).readUInt8(0);
      batch.from(i);
    }
    if (closeInCallback && tally.batches % 3 === 0 && !closed) closeBoth(); // close from inside a batch
  };
  a.start(onBatch);
  b.start(onBatch);
  const toB = a.peer(host, b.port);
  const toA = b.peer(host, a.port);
  const packets = DATAGRAM_SIZES.map((n) => randomBytes(n));
  const end = Date.now() + 5 + rand(25);
  while (!closed && Date.now() < end) {
    a.send(packets, packets.map(() => toB));
    b.send(packets.slice(0, 70), packets.slice(0, 70).map(() => toA));
    if (rand(3) === 0) spin(5 + rand(10));
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!closed) {
    a.send(packets, packets.map(() => toB)); // in flight while we close
    spin(rand(10));
    closeBoth();
  }
  // A batch that was queued before close() must never be delivered after it.
  await sleep(2);
}

// ---- TUN: open, traffic both ways, close mid-flow ----------------------------------------

async function tunCycle(c: number, tally: Tally, errors: IoError[]): Promise<void> {
  const offload = c % 2 === 0;
  const tun = openTun({ name: `kps${c}`, mtu: 1280 + rand(200), offload, maxBatch: 1 + rand(256) });
  let closed = false;
  tun.start(
    (packets) => {
      if (closed) tally.late++;
      tally.batches++;
      tally.packets += packets.length;
      if (c % 5 === 3 && tally.batches % 4 === 0 && !closed) {
        closed = true;
        tun.close(); // from inside a batch
      }
    },
    (e) => errors.push(e),
  );
  const net3 = `10.77.${c % 250}`;
  sh('ip', ['addr', 'add', `${net3}.1/24`, 'dev', tun.name]);
  const local = [10, 77, c % 250, 1];
  const remote = [10, 77, c % 250, 2];
  const s = dgram.createSocket('udp4');
  s.on('error', () => {}); // unreachable once the device is gone: not this test's business
  await new Promise<void>((resolve) => s.bind(0, `${net3}.1`, () => resolve()));
  const payload = randomBytes(3000);
  const end = Date.now() + 5 + rand(25);
  let seq = rand(1 << 30);
  while (!closed && Date.now() < end) {
    // Routed into the device: UDP of several sizes (the larger ones fragment).
    for (let i = 0; i < 20; i++) s.send(payload.subarray(0, rand(2000)), 9, `${net3}.2`);
    // Written to the device: runs of TCP segments that continue each other (coalesced),
    // segments to a closed local port (the kernel answers with RSTs, read back), and
    // malformed packets the kernel must drop.
    const burst: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const len = i % 10 === 9 ? rand(1000) : 1000;
      burst.push(tcpSegment(remote, local, 40000, 9, seq, i % 10 === 9 ? 0x18 : 0x10, payload.subarray(0, len)));
      seq += len;
    }
    burst.push(randomBytes(rand(100)), Buffer.from([0x45, 0, 0, 20]), Buffer.alloc(0), randomBytes(1500));
    const bad = tcpSegment(remote, local, 40000, 9, seq, 0x10, payload.subarray(0, 1000));
    bad[100] = bad[100]! ^ 0xff; // checksum no longer verifies: never coalesced
    burst.push(bad);
    if (!closed) tun.write(burst);
    if (rand(3) === 0) spin(5 + rand(10));
    await new Promise((resolve) => setImmediate(resolve));
  }
  s.close();
  if (!closed) {
    closed = true;
    tun.close();
  }
  await sleep(2);
}

// ---- TCP through two TUN devices: the kernel's TSO and the addon's coalescing ------------

const SINK = `
const net = require('net'), crypto = require('crypto');
const server = net.createServer((s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ n, hash: h.digest('hex') })); s.end(); });
  s.on('error', () => {});
});
server.listen(5001, '10.91.2.1', () => console.log('listening'));
`;

interface RelayResult {
  bytes: number;
  hashOk: boolean;
  readPackets: number;
  maxReadLength: number;
  badChecksums: number;
  midFlightClosed: boolean;
  // Kernel interface counters after the intact transfer, next to ours: the kernel counts
  // one packet per skb, so fewer kernel packets than packets read means the reader thread
  // cut TSO super-packets; fewer than packets written means tunWrite coalesced.
  kernelTxToA: number;
  readFromA: number;
  writtenToB: number;
  kernelRxFromB: number;
  written: number; // running count
}

async function tcpRelay(peerNs: string): Promise<RelayResult> {
  const mtu = 1500;
  const a = openTun({ name: 'kpra', mtu, offload: true });
  const b = openTun({ name: 'kprb', mtu, offload: true });
  sh('ip', ['link', 'set', 'kprb', 'netns', peerNs]);
  sh('ip', ['-n', peerNs, 'addr', 'add', '10.91.2.1/24', 'dev', 'kprb']);
  sh('ip', ['-n', peerNs, 'link', 'set', 'kprb', 'up']);
  sh('ip', ['-n', peerNs, 'route', 'add', '10.91.1.0/24', 'dev', 'kprb']);
  sh('ip', ['addr', 'add', '10.91.1.1/24', 'dev', 'kpra']);
  sh('ip', ['route', 'add', '10.91.2.0/24', 'dev', 'kpra']);
  const result: RelayResult = {
    bytes: 0,
    hashOk: false,
    readPackets: 0,
    maxReadLength: 0,
    badChecksums: 0,
    midFlightClosed: false,
    kernelTxToA: 0,
    readFromA: 0,
    writtenToB: 0,
    kernelRxFromB: 0,
    written: 0,
  };
  // Everything the reader of `a` hands over was cut from the kernel's TSO super-packets
  // by the reader thread: each must fit the MTU and carry complete, valid checksums.
  a.start((packets) => {
    for (const p of packets) {
      result.readPackets++;
      result.maxReadLength = Math.max(result.maxReadLength, p.length);
      if (p.length >= 40 && p[0] === 0x45 && p[9] === 6) {
        const ok =
          verifyInternetChecksum(p, 0, 20) && verifyTransportChecksum(p.subarray(12, 16), p.subarray(16, 20), 6, p, 20, p.length);
        if (!ok) result.badChecksums++;
      }
    }
    result.written += packets.length;
    b.write(packets);
  });
  b.start((packets) => a.write(packets));
  const sink = spawn('ip', ['netns', 'exec', peerNs, process.execPath, '-e', SINK], {
    env: cleanEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffered = '';
  sink.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  const waitLine = async (pred: (l: string) => boolean, ms: number): Promise<string | undefined> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const l = lines.find(pred);
      if (l !== undefined) return l;
      await sleep(10);
    }
    return undefined;
  };
  try {
    if ((await waitLine((l) => l === 'listening', 10_000)) === undefined) throw new Error('sink did not start');
    // 1: a transfer that must arrive intact.
    const data = randomBytes(6 * 1024 * 1024);
    const want = createHash('sha256').update(data).digest('hex');
    await new Promise<void>((resolve, reject) => {
      const c = net.connect({ host: '10.91.2.1', port: 5001 }, () => c.end(data));
      c.on('error', reject);
      c.on('close', () => resolve());
      c.resume();
    });
    const done = await waitLine((l) => l.startsWith('{'), 20_000);
    if (done !== undefined) {
      const got = JSON.parse(done) as { n: number; hash: string };
      result.bytes = got.n;
      result.hashOk = got.n === data.length && got.hash === want;
    }
    result.readFromA = result.readPackets;
    result.writtenToB = result.written;
    result.kernelTxToA = Number(sh('cat', ['/sys/class/net/kpra/statistics/tx_packets']).trim());
    const stats = JSON.parse(sh('ip', ['-n', peerNs, '-j', '-s', 'link', 'show', 'kprb'])) as {
      stats64: { rx: { packets: number } };
    }[];
    result.kernelRxFromB = stats[0]?.stats64.rx.packets ?? -1;
    // 2: close both devices while a large transfer is in full flight.
    const c2 = net.connect({ host: '10.91.2.1', port: 5001 });
    c2.on('error', () => {});
    await new Promise<void>((resolve) => c2.on('connect', () => resolve()));
    const chunk = randomBytes(1 << 20);
    const pump = setInterval(() => {
      while (c2.writable && c2.write(chunk));
    }, 1);
    await sleep(150);
    spin(5);
    a.close();
    b.close();
    result.midFlightClosed = true;
    clearInterval(pump);
    c2.destroy();
  } finally {
    a.close();
    b.close();
    sink.kill('SIGKILL');
    await new Promise<void>((resolve) => (sink.exitCode !== null || sink.signalCode !== null ? resolve() : sink.on('exit', () => resolve())));
    sink.stdout.destroy();
  }
  return result;
}

// ---- fatal read errors, bad arguments, throwing callbacks -----------------------------

function expectThrow(f: () => unknown, what: string, failures: string[]): void {
  try {
    f();
  } catch {
    return;
  }
  failures.push(`did not throw: ${what}`);
}

async function fatalErrors(addon: NativeAddon, failures: string[]): Promise<number> {
  let seen = 0;
  // The interface is deleted under a running reader: the reader reports and ends by
  // itself; close() afterwards must not touch what it freed (it used to).
  for (const offload of [true, false]) {
    const tun = openTun({ name: `kpfat${offload ? 1 : 0}`, offload });
    const errors: IoError[] = [];
    tun.start(() => {}, (e) => errors.push(e));
    sh('ip', ['link', 'del', tun.name]);
    const end = Date.now() + 3000;
    while (errors.length === 0 && Date.now() < end) await sleep(5);
    if (errors.length === 1 && errors[0]?.code === 'tun-read') seen++;
    else failures.push(`no tun-read error after the interface was deleted (offload ${offload})`);
    await sleep(20); // let the reader's thread-safe function finalize first
    for (let i = 0; i < 200; i++) Buffer.allocUnsafeSlow(200); // reuse freed heap
    tun.close();
    tun.close();
  }
  // A reader on a descriptor number that is not open: poll reports POLLNVAL.
  let errno = 0;
  const h = addon.startReader(999_999, KIND_UDP, 8, (buf, count, e) => {
    if (count === 0 && buf === null) errno = e;
  });
  const end = Date.now() + 3000;
  while (errno === 0 && Date.now() < end) await sleep(5);
  if (errno !== 9) failures.push(`reader on a closed descriptor: errno ${errno}, expected EBADF (9)`);
  else seen++;
  await sleep(20);
  addon.stopReader(h);
  addon.stopReader(h);
  return seen;
}

async function badArguments(addon: NativeAddon, failures: string[]): Promise<number> {
  const raw = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
  const call = (name: string, ...args: unknown[]) => raw[name]!(...args);
  const sink = await openUdp({ address: '127.0.0.1', port: 0 });
  const tun = openTun({ name: 'kpbad', offload: true });
  sh('ip', ['addr', 'add', '10.78.0.1/24', 'dev', tun.name]);
  const to = addon.sockaddr('127.0.0.1', sink.port);
  const udpFd = addon.udpOpen('127.0.0.1', 0, 0, true).fd;
  let checks = 0;
  const throwing = (): unknown[] => {
    const arr: unknown[] = [Buffer.alloc(10)];
    Object.defineProperty(arr, 1, {
      get() {
        throw new Error('accessor');
      },
    });
    return arr;
  };
  // Accessors that run JavaScript in the middle of the call: one throws (the call must
  // throw it, not crash on an unset value), one transfers the buffer of an element
  // already fetched and collects it (the call must not read freed memory).
  const transferring = (): unknown[] => {
    const first = new Uint8Array(new ArrayBuffer(1400));
    first.set(tcpSegment([10, 78, 0, 2], [10, 78, 0, 1], 1, 9, 1, 0x10, new Uint8Array(1360)));
    const arr: unknown[] = [first];
    Object.defineProperty(arr, 1, {
      get() {
        structuredClone(first.buffer, { transfer: [first.buffer] });
        gc();
        return tcpSegment([10, 78, 0, 2], [10, 78, 0, 1], 1, 9, 1361, 0x10, new Uint8Array(1360));
      },
    });
    return arr;
  };
  for (const mode of [0, 1, 2]) {
    expectThrow(() => call('tunWrite', tun.fd, throwing(), mode), `tunWrite mode ${mode} with a throwing accessor`, failures);
    call('tunWrite', tun.fd, transferring(), mode);
    expectThrow(() => call('tunWrite', tun.fd, [1, 'x'], mode), 'tunWrite of non-buffers', failures);
    expectThrow(() => call('tunWrite', tun.fd, [new Uint16Array(30)], mode), 'tunWrite of a Uint16Array', failures);
    // eslint-disable-next-line no-sparse-arrays
    expectThrow(() => call('tunWrite', tun.fd, [Buffer.alloc(40), , Buffer.alloc(40)], mode), 'tunWrite of a sparse array', failures);
    // Sizes the kernel refuses or that are not packets at all: counted, not fatal.
    call('tunWrite', tun.fd, [Buffer.alloc(0), Buffer.alloc(70_000), randomBytes(65_535), Buffer.alloc(19)], mode);
    checks += 6;
  }
  expectThrow(() => call('udpSend', udpFd, throwing(), [to, to], true), 'udpSend with a throwing accessor', failures);
  const viaAccessor = transferring();
  const sent = call('udpSend', udpFd, viaAccessor, [to, to], true);
  if (typeof sent !== 'number') failures.push('udpSend with a transferring accessor returned no number');
  expectThrow(() => call('udpSend', udpFd, [Buffer.alloc(1)], [], false), 'udpSend with fewer addresses', failures);
  expectThrow(() => call('udpSend', udpFd, [Buffer.alloc(1)], [42], false), 'udpSend with a bad address', failures);
  call('udpSend', udpFd, [Buffer.alloc(1)], [Buffer.alloc(3)], false); // too short a sockaddr: kernel EINVAL
  call('udpSend', udpFd, [Buffer.alloc(1)], [Buffer.alloc(4096)], true); // too long: kernel EINVAL
  call('udpSend', udpFd, Array<Buffer>(100).fill(Buffer.alloc(0)), Array<Buffer>(100).fill(to), true);
  expectThrow(() => call('udpSend', udpFd, 'x', [], false), 'udpSend without arrays', failures);
  checks += 7;
  // Handles: only what startReader returned is accepted; stopping twice is fine.
  for (const [i, bogus] of [{}, null, 42, 'x', Object.create(null), [], Buffer.alloc(8)].entries()) {
    expectThrow(() => call('stopReader', bogus), `stopReader(bogus handle ${i})`, failures);
    checks++;
  }
  const h = addon.startReader(udpFd, KIND_UDP, 4, () => {});
  expectThrow(() => call('stopReader', Object.create(h as object)), 'stopReader(a handle-derived object)', failures);
  addon.stopReader(h);
  addon.stopReader(h);
  expectThrow(() => call('startReader', udpFd, 7, 4, () => {}), 'startReader with a bad kind', failures);
  expectThrow(() => call('startReader', udpFd, KIND_TUN, 4, 'not a function'), 'startReader without a callback', failures);
  expectThrow(() => call('startReader'), 'startReader()', failures);
  expectThrow(() => call('closeFd', -1), 'closeFd(-1)', failures);
  expectThrow(() => call('closeFd', 'x'), 'closeFd("x")', failures);
  expectThrow(() => call('sockaddr', 'not an address', 1), 'sockaddr of a name', failures);
  expectThrow(() => call('sockaddr', '1.2.3.4', 70_000), 'sockaddr port 70000', failures);
  expectThrow(() => call('sockaddr', `${'1'.repeat(5000)}`, 1), 'sockaddr of a long string', failures);
  expectThrow(() => call('sockaddr', 'fe80::1%' + 'x'.repeat(100), 1), 'sockaddr with a long scope', failures);
  expectThrow(() => call('openTun', 'x'.repeat(1000), 0, true), 'openTun with a long name', failures);
  expectThrow(() => call('openTun', 'kpx', 'mtu', true), 'openTun with a bad MTU', failures);
  expectThrow(() => call('udpOpen', '127.0.0.1', 1e10, 0), 'udpOpen port 1e10', failures);
  expectThrow(() => call('tunWrite'), 'tunWrite()', failures);
  expectThrow(() => call('udpSend'), 'udpSend()', failures);
  checks += 15;
  addon.closeFd(udpFd);
  tun.close();
  await sink.close();
  return checks;
}

// A callback that throws becomes an uncaught exception; the reader keeps running.
async function throwingCallback(): Promise<number> {
  let caught = 0;
  const onUncaught = (e: Error): void => {
    if (e.message === 'callback threw') caught++;
  };
  process.on('uncaughtException', onUncaught);
  const a = await openUdp({ address: '127.0.0.1', port: 0 });
  const b = await openUdp({ address: '127.0.0.1', port: 0 });
  let calls = 0;
  b.start(() => {
    calls++;
    throw new Error('callback threw');
  });
  const to = a.peer('127.0.0.1', b.port);
  for (let i = 0; i < 5 && calls < 3; i++) {
    a.send([Buffer.alloc(100)], [to]);
    await sleep(20);
  }
  await a.close();
  await b.close();
  process.off('uncaughtException', onUncaught);
  return Math.min(caught, calls);
}

// ---- Workers: readers running when the environment goes away ----------------------------

type WorkerEnd = 'terminate' | 'exit' | 'exit-in-callback';
interface WorkerInput {
  addon: string;
  tun?: string;
  end: WorkerEnd;
}

async function workerBody(data: WorkerInput): Promise<void> {
  useAddon(data.addon);
  const a = await openUdp({ address: '127.0.0.1', port: 0, maxBatch: 4 });
  const inCallback = data.end === 'exit-in-callback';
  const b = await openUdp({ address: '127.0.0.1', port: 0, maxBatch: inCallback ? 1 : 4, offload: false });
  // A slow callback: while it runs, the reader queues more batches, so the teardown finds
  // some in the queue (Node then hands them back with env == NULL, after the finalizer).
  // (Slow enough for that only when it ends the worker: Node runs queued callbacks
  // back to back, so a callback this slow would otherwise starve the worker's timers.)
  let calls = 0;
  b.start(() => {
    spin(inCallback ? 20 : 2);
    // Ends the worker from inside a batch: the batches queued meanwhile meet an environment
    // that can no longer run JavaScript (the addon once wrote through an unset pointer here).
    if (inCallback && ++calls === 2) process.exit(0);
  });
  a.start(() => {});
  let tun: TunDevice | undefined;
  if (data.tun !== undefined) {
    tun = openTun({ name: data.tun, offload: true });
    tun.start(() => spin(2));
  }
  const to = a.peer('127.0.0.1', b.port);
  const packets = Array.from({ length: 64 }, () => Buffer.alloc(1200));
  setInterval(() => a.send(packets, packets.map(() => to)), 1);
  await sleep(30);
  parentPort?.postMessage('ready');
  if (data.end === 'exit') {
    await sleep(20);
    process.exit(0); // ends this worker only, with its readers running
  } else if (data.end === 'terminate') {
    // Busy when terminate() comes: the readers fill their queues meanwhile, and the
    // environment is torn down with those batches never dispatched (Node hands them to
    // the addon with env == NULL, after the reader's finalizer has run).
    a.send(packets, packets.map(() => to));
    spin(3000);
  }
}

async function workers(addonPath: string, rounds: number): Promise<{ terminated: number; slowestMs: number }> {
  let terminated = 0;
  let slowestMs = 0;
  const ends: WorkerEnd[] = ['terminate', 'exit', 'exit-in-callback'];
  for (let r = 0; r < rounds; r++) {
    const end = ends[r % ends.length]!;
    const input: WorkerInput = { addon: addonPath, end, ...(r % 2 === 0 ? { tun: `kpw${r}` } : {}) };
    const w = new Worker(new URL(import.meta.url), { workerData: input });
    const exited = new Promise<void>((resolve) => w.on('exit', () => resolve()));
    w.on('error', () => {});
    await new Promise<void>((resolve) => {
      w.on('message', () => resolve());
      w.on('exit', () => resolve());
    });
    await sleep(10 + rand(30));
    const t0 = Date.now();
    // worker.terminate() used to wait forever for a reader blocked in poll(2).
    const timeout = sleep(5000).then(() => 'timeout' as const);
    const ended = end === 'terminate' ? w.terminate().then(() => exited) : exited;
    const outcome = await Promise.race([ended.then(() => 'done' as const), timeout]);
    if (outcome === 'done') terminated++;
    slowestMs = Math.max(slowestMs, Date.now() - t0);
  }
  return { terminated, slowestMs };
}

// ---- modes ------------------------------------------------------------------------------

async function exitMode(): Promise<void> {
  const a = await openUdp({ address: '127.0.0.1', port: 0 });
  const b = await openUdp({ address: '127.0.0.1', port: 0, maxBatch: 4 });
  b.start(() => spin(2));
  const tun = openTun({ name: 'kpexit', offload: true });
  tun.start(() => spin(2));
  sh('ip', ['addr', 'add', '10.79.0.1/24', 'dev', tun.name]);
  const s = dgram.createSocket('udp4');
  s.on('error', () => {});
  const to = a.peer('127.0.0.1', b.port);
  const packets = Array.from({ length: 64 }, () => Buffer.alloc(1000));
  setInterval(() => {
    a.send(packets, packets.map(() => to));
    for (let i = 0; i < 10; i++) s.send(Buffer.alloc(500), 9, '10.79.0.2');
  }, 1);
  await sleep(150);
  process.exit(42); // readers still running, batches queued
}

const UDP_CYCLES = 30;
const TUN_CYCLES = 20;

async function stressMode(addonPath: string, peerNs: string): Promise<void> {
  const addon = nativeAddon();
  const failures: string[] = [];
  const udpTally: Tally = { batches: 0, packets: 0, late: 0 };
  const tunTally: Tally = { batches: 0, packets: 0, late: 0 };
  const tunErrors: IoError[] = [];
  // Warm up once (lazy allocations of libuv, worker and crypto internals), then take the
  // descriptor baseline.
  await udpCycle(0, { batches: 0, packets: 0, late: 0 });
  await tunCycle(1000, { batches: 0, packets: 0, late: 0 }, []);
  // (libuv keeps a /dev/null descriptor open after the first spawn with ignored stdio)
  await new Promise((resolve) => spawn('true', [], { env: cleanEnv, stdio: ['ignore', 'pipe', 'inherit'] }).on('exit', resolve));
  gc();
  await sleep(50);
  const before = fds();

  const t0 = Date.now();
  for (let c = 0; c < UDP_CYCLES; c++) await udpCycle(c, udpTally);
  const udpMs = Date.now() - t0;
  for (let c = 0; c < TUN_CYCLES; c++) await tunCycle(c, tunTally, tunErrors);
  const tunMs = Date.now() - t0 - udpMs;
  const phase: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string): void => {
    phase[name] = Date.now() - mark;
    mark = Date.now();
  };
  const relay = await tcpRelay(peerNs);
  lap('relay');
  const fatal = await fatalErrors(addon, failures);
  lap('fatal');
  const badArgs = await badArguments(addon, failures);
  lap('badArgs');
  const uncaught = await throwingCallback();
  lap('uncaught');

  gc();
  await sleep(100);
  gc();
  await sleep(50);
  const after = fds();
  const leaked = after.filter((f) => !before.includes(f));
  // Last, and outside the descriptor count: a Worker that ends without closing its
  // devices leaves their descriptors open (JavaScript owns them; see docs/architecture.md).
  lap('fdCheck');
  const w = await workers(addonPath, 6);
  lap('workers');
  const summary = {
    udp: { cycles: UDP_CYCLES, ...udpTally, ms: udpMs },
    tun: { cycles: TUN_CYCLES, ...tunTally, errors: tunErrors.map((e) => e.message), ms: tunMs },
    relay,
    fatal,
    badArgs,
    uncaught,
    workers: w,
    fds: { before: before.length, after: after.length, leaked },
    phaseMs: phase,
    failures,
  };
  console.log(JSON.stringify(summary));
  process.exit(0);
}

if (!isMainThread) {
  void workerBody(workerData as WorkerInput);
} else {
  const [addonPath, peerNs, mode = 'stress'] = process.argv.slice(2);
  if (addonPath === undefined || peerNs === undefined) {
    console.error('usage: stress-child.js <addon.node> <peer netns> [stress|exit]');
    process.exit(2);
  }
  useAddon(addonPath);
  sh('ip', ['link', 'set', 'lo', 'up']);
  if (mode === 'exit') void exitMode();
  else void stressMode(addonPath, peerNs);
}
