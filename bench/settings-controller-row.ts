// One row of the seed-000 controller benchmark (settings-controller.ts), run in a fresh
// child process with --expose-gc: `devices` enrolled devices, then
//   1. core only: the sans-I/O SettingsServer (src/settings/server.ts) with the
//      production random source, an address index and a wildcard policy in memory;
//      `pairsCore` pairs, each two requests (A: placeholder + activation; B: entry
//      complete, keys drawn, distributions to both). Outputs are not carried out.
//   2. with persistence: the real SettingsService (src/controller/settings-service.ts)
//      on the SQLite store (WAL, synchronous=FULL, temp folder on this machine's disk)
//      behind a real KeyrollServer (UDP 127.0.0.1, no agents), requests handed in as
//      control-channel items (decode, core, write-ahead saves, encode, push); pushes go
//      to a counter instead of the network. `pairsDurable` pairs in windows of `window`
//      pairs: a window's requests arrive together, the next window when all of its
//      distributions are out.
//   3. memory: V8 heap used + external after GC (twice), per device and per pair.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cryptoRandomSource } from '../src/keyroll/index.js';
import { defaultServerOptions, SettingsServer } from '../src/settings/server.js';
import { PolicyTable } from '../src/settings/server-policies.js';
import type { DistributionPolicy, SettingsRequest } from '../src/settings/types.js';
import { encodeSettingsItem, readSettingsItems } from '../src/wire/control-settings.js';
import type { ControlItem } from '../src/wire/control-message.js';
import { openSqliteStore, type SqliteControllerStore } from '../src/store/sqlite.js';
import type { DeviceRecord } from '../src/store/types.js';
import { SettingsService } from '../src/controller/settings-service.js';
import { KeyrollServer } from '../src/controller/keyroll-server.js';
import type { EventLog } from '../src/controller/log-line.js';
import { tempDir } from '../test/netns/e2e-setup.js';
import { BENCH_POLICY } from './settings-world.js';
import { sleep } from './settings-stats.js';

export interface ControllerRowConfig {
  readonly devices: number;
  readonly pairsCore: number;
  readonly pairsDurable: number;
  readonly window: number;
}

export interface Rate {
  readonly pairs: number; // completed distributions (entries, both ends sent)
  readonly wallSeconds: number;
  readonly cpuSeconds: number; // process.cpuUsage (user + system), all threads
}

export interface ControllerRowResult {
  readonly config: ControllerRowConfig;
  readonly core: Rate;
  readonly durable: Rate;
  readonly windowMs: { readonly median: number; readonly p99: number }; // per window: its requests in -> its last distribution out
  readonly indexBytesPerDevice: number; // settings core: address index only
  readonly controllerBytesPerDevice: number; // KeyrollServer + SettingsService, N enrolled devices
  readonly coreBytesPerPair: number; // complete management entry in the core
  readonly serviceBytesPerPair: number; // the same, measured on the running service
  readonly enrollSeconds: number;
  readonly counters: Record<string, number>;
  readonly problems: string[];
}

class QuietLog implements EventLog {
  readonly problems: string[] = [];
  info(): void {}
  warn(m: string): void {
    if (this.problems.length < 10) this.problems.push(`warn ${m}`);
  }
  error(m: string): void {
    if (this.problems.length < 10) this.problems.push(`error ${m}`);
  }
}

function heapBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

// Device i's address: 10.0.0.1, 10.0.0.2, ... (distinct, never .0).
function addressOf(i: number): string {
  const n = i + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function randomSpi(): number {
  return 256 + (randomBytes(4).readUInt32BE(0) % (0xffff_ffff - 256));
}

// `count` distinct unordered pairs of device indexes, at random.
function randomPairs(devices: number, count: number): [number, number][] {
  const seen = new Set<number>();
  const out: [number, number][] = [];
  while (out.length < count) {
    const a = Math.floor(Math.random() * devices);
    const b = Math.floor(Math.random() * devices);
    if (a === b) continue;
    const key = Math.min(a, b) * devices + Math.max(a, b);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push([a, b]);
  }
  return out;
}

interface PairRequests {
  readonly a: number;
  readonly b: number;
  readonly reqA: SettingsRequest;
  readonly reqB: SettingsRequest;
}

function requestsFor(devices: number, count: number): PairRequests[] {
  return randomPairs(devices, count).map(([a, b], k) => ({
    a,
    b,
    reqA: { requestId: k + 1, requester: addressOf(a), peer: addressOf(b), spi: randomSpi(), flow: null },
    reqB: { requestId: k + 1, requester: addressOf(b), peer: addressOf(a), spi: randomSpi(), flow: null },
  }));
}

const WILDCARD_POLICY: DistributionPolicy = { id: 'p-default', name: 'default', a: '*', b: '*', flow: null, applied: BENCH_POLICY, createdAtMs: 0 };

function coreOnly(c: ControllerRowConfig): { rate: Rate; indexBytesPerDevice: number; coreBytesPerPair: number } {
  const ids = Array.from({ length: c.devices }, (_, i) => `dev${i.toString(16).padStart(12, '0')}`);
  const policies = new PolicyTable([WILDCARD_POLICY]);
  // The address index (address -> device id, as SettingsService.onDevices builds it),
  // alone between two GCs; then the core, whose own fixed size counts with the pairs.
  const h0 = heapBytes();
  const owner = new Map<string, string>();
  for (let i = 0; i < c.devices; i++) owner.set(addressOf(i), ids[i]!);
  const h1 = heapBytes();
  const core = new SettingsServer(
    defaultServerOptions({
      random: cryptoRandomSource,
      deviceOfAddress: (address) => owner.get(address),
      ownsAddress: (deviceId, address) => owner.get(address) === deviceId,
      lookupPolicy: (requester, peer, flow) => policies.lookup(requester, peer, flow),
    }),
  );
  let work: PairRequests[] | null = requestsFor(c.devices, c.pairsCore);
  const nowMs = Date.now();
  let completed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const p of work) {
    core.handle({ type: 'request', deviceId: ids[p.a]!, request: p.reqA }, nowMs);
    const out = core.handle({ type: 'request', deviceId: ids[p.b]!, request: p.reqB }, nowMs);
    for (const o of out) if (o.type === 'event' && o.event.name === 'distributed') completed++;
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  if (completed !== c.pairsCore) throw new Error(`core: ${completed} of ${c.pairsCore} pairs completed`);
  work = null;
  const h2 = heapBytes();
  if (core.entries().length !== c.pairsCore) throw new Error('core: entries missing');
  return {
    rate: { pairs: completed, wallSeconds, cpuSeconds: cpu },
    indexBytesPerDevice: (h1 - h0) / c.devices,
    coreBytesPerPair: (h2 - h1) / c.pairsCore,
  };
}

async function withPersistence(c: ControllerRowConfig): Promise<Omit<ControllerRowResult, 'config' | 'core' | 'indexBytesPerDevice' | 'coreBytesPerPair'>> {
  const dir = tempDir();
  const log = new QuietLog();
  let store: SqliteControllerStore | null = null;
  let server: KeyrollServer | null = null;
  let service: SettingsService | null = null;
  try {
    store = openSqliteStore({ path: join(dir.path, 'controller.db'), masterKeyFile: join(dir.path, 'master.key'), create: true });
    const te = performance.now();
    const records: DeviceRecord[] = [];
    for (let i = 0; i < c.devices; i++) {
      records.push(await store.addDevice({ name: `dev-${i}`, variant: 'spi', forwardSecrecy: true, addresses: [addressOf(i)] }, randomBytes(32), Date.now()));
    }
    await store.addPolicy({ name: 'default', a: '*', b: '*', flow: null, applied: BENCH_POLICY }, Date.now());
    const enrollSeconds = (performance.now() - te) / 1000;
    const ids = records.map((r) => r.id);
    records.length = 0;

    const h0 = heapBytes();
    let pushed = 0;
    let wake: (() => void) | null = null;
    let target = 0;
    service = new SettingsService({ store, log, now: () => Date.now() });
    await service.start();
    server = await KeyrollServer.start({ store, listen: { address: '127.0.0.1', port: 0 }, log, service });
    // No agents: pushes are counted here instead of going out (distributions only).
    service.setPusher({
      push: (_deviceId: string, items: readonly ControlItem[]) => {
        for (const m of readSettingsItems(items)) if (m.kind === 'distribution') pushed++;
        if (pushed >= target && wake !== null) {
          const w = wake;
          wake = null;
          w();
        }
        return true;
      },
    });
    await sleep(100);
    const h1 = heapBytes();
    if (service.status().addresses !== c.devices) throw new Error(`service indexed ${service.status().addresses} of ${c.devices} addresses`);

    // Requests as they arrive on the channel: encoded items (decoded by the service).
    const work = requestsFor(c.devices, c.pairsDurable).map((p) => ({
      idA: ids[p.a]!,
      idB: ids[p.b]!,
      itemA: [encodeSettingsItem({ kind: 'request', request: p.reqA })],
      itemB: [encodeSettingsItem({ kind: 'request', request: p.reqB })],
    }));
    const windows: number[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const svc = service;
    for (let start = 0; start < work.length; start += c.window) {
      const batch = work.slice(start, start + c.window);
      const tw = performance.now();
      target = 2 * (start + batch.length);
      const done = new Promise<void>((resolve) => (wake = resolve));
      for (const p of batch) svc.onRegistration(p.idA, p.itemA, Date.now());
      for (const p of batch) svc.onRegistration(p.idB, p.itemB, Date.now());
      if (pushed < target) await done;
      else wake = null;
      windows.push(performance.now() - tw);
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(cpu0);
    const completed = pushed / 2;
    if (completed !== c.pairsDurable) throw new Error(`service: ${completed} of ${c.pairsDurable} pairs completed`);
    work.length = 0;
    await sleep(400); // the event flush (every 200 ms) and the last saves
    const h2 = heapBytes();
    const sorted = [...windows].sort((x, y) => x - y);
    const counters = Object.fromEntries(Object.entries(service.status().counters).filter(([, v]) => v > 0));
    return {
      durable: { pairs: completed, wallSeconds, cpuSeconds: cpu },
      windowMs: { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, p99: sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)] ?? NaN },
      controllerBytesPerDevice: (h1 - h0) / c.devices,
      serviceBytesPerPair: (h2 - h1) / c.pairsDurable,
      enrollSeconds,
      counters,
      problems: log.problems,
    };
  } finally {
    await server?.stop();
    await service?.stop();
    await store?.close();
    dir.remove();
  }
}

export async function runControllerRow(c: ControllerRowConfig): Promise<ControllerRowResult> {
  const core = coreOnly(c);
  const durable = await withPersistence(c);
  return { config: c, core: core.rate, indexBytesPerDevice: core.indexBytesPerDevice, coreBytesPerPair: core.coreBytesPerPair, ...durable };
}
