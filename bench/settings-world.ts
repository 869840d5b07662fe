// The world of the first-packet benchmark (settings-first-packet.ts), in one process: a
// real controller and agent pairs, joined as in production except for the data plane.
//
//   controller: SQLite store in a temp folder (WAL, synchronous=FULL, on this machine's
//               disk), SettingsService + KeyrollServer on UDP 127.0.0.1 (as
//               `keyplane controller run` wires them, src/cli/commands/controller.ts)
//   agents:     KeyrollClient (UDP to the controller, state file) + SettingsClient on a
//               MemoryDataPlane; all data planes on one MemoryWire (as `keyplane agent
//               run` wires them, src/cli/commands/agent-run.ts, with the memory data
//               plane instead of the userspace one)
//   store:      `devices` enrolled devices with one address each: 2 x pairs running
//               agents, the rest enrolled only (never started); one exact policy per
//               running pair and a wildcard default for everything else
//
// Each agent pair has one extended SPD entry per flow (UDP to port 10000+j, A the
// client, B the server; seed 000 "optional protocol/port selectors"). Every flow is asked
// for once, so every sample is a real first packet: a new management entry, new keys,
// new SAs at both ends. The channels are keyed (and warm) before the first sample.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openSqliteStore, type SqliteControllerStore } from '../src/store/sqlite.js';
import type { ControllerStore, DeviceRecord } from '../src/store/types.js';
import { KeyrollServer } from '../src/controller/keyroll-server.js';
import { SettingsService } from '../src/controller/settings-service.js';
import { KeyrollClient } from '../src/agent/keyroll-client.js';
import { SettingsClient } from '../src/agent/settings-client.js';
import { MemoryWire, createMemoryDataPlane, type MemoryDataPlane } from '../src/ipsec/memory-dataplane.js';
import { anchoredClock } from '../src/io/clock.js';
import { ENCR } from '../src/crypto/types.js';
import type { EventLog } from '../src/controller/log-line.js';
import type { AgentSpdEntry } from '../src/settings/types.js';
import type { AppliedPolicy } from '../src/wire/control-settings.js';
import { udpPacket } from '../test/ipsec/helpers.js';
import { sleep } from './settings-stats.js';

export const FLOW_PORT_BASE = 10_000;
const CLIENT_PORT = 40_000;

export const BENCH_POLICY: AppliedPolicy = {
  protocol: 'esp',
  mode: 'tunnel',
  encryption: { id: ENCR.AES_GCM_16, keyBits: 128 },
  integrity: null,
  esn: false,
  lifetimeSeconds: 3600,
};

// Keeps nothing but the time of the agent events the benchmark splits a sample by
// (`settings event=<name> policyId=<id>` lines of SettingsClient), and warnings/errors.
export class MarkLog implements EventLog {
  readonly marks = new Map<string, number>();
  readonly problems: string[] = [];
  info(m: string): void {
    const hit = /^settings event=(request-sent|installed) policyId=(\S+)/.exec(m);
    if (hit !== null) this.marks.set(`${hit[1]}/${hit[2]}`, performance.now());
  }
  warn(m: string): void {
    this.problem(`warn ${m}`);
  }
  error(m: string): void {
    this.problem(`error ${m}`);
  }
  private problem(m: string): void {
    if (this.problems.length < 20) this.problems.push(m);
  }
}

export interface Agent {
  readonly record: DeviceRecord;
  readonly outer: string; // IPsec address (the device's address in the store)
  readonly innerHost: string; // a host on its protected subnet
  readonly dp: MemoryDataPlane;
  readonly settings: SettingsClient;
  readonly channel: KeyrollClient;
  readonly log: MarkLog;
}

export interface Pair {
  readonly a: Agent; // client side: sends the first packet
  readonly b: Agent; // server side
  nextFlow: number;
}

export interface Sample {
  readonly totalMs: number | null; // sendInner of the held packet -> delivered at B; null = lost
  // Points on the way, ms after sendInner (NaN when the mark is missing):
  readonly requestB: number; // B sent its request (after the controller's activation)
  readonly installedB: number; // B installed its SAs
  readonly installedA: number; // A installed its SAs (then released the held packet)
}

// Wall time of the controller's store writes (each one fsync'd transaction), in ms.
export interface CommitTimes {
  readonly saveEntry: number[];
  readonly saveChannelState: number[];
}

// The store as the controller sees it, with its writes timed.
function timedStore(store: SqliteControllerStore, times: CommitTimes): ControllerStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'saveEntry' || prop === 'saveChannelState') {
        const name = prop;
        return async (...args: unknown[]): Promise<void> => {
          const t = performance.now();
          try {
            await (target[name] as (...a: unknown[]) => Promise<void>).apply(target, args);
          } finally {
            times[name].push(performance.now() - t);
          }
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export interface WorldConfig {
  readonly devices: number;
  readonly pairs: number;
  readonly flowsPerPair: number;
  readonly dir: string;
  // Single-row commits written before the controller starts (event-log rows of kind
  // 'bench'), so that SQLite's WAL has wrapped at least once (auto-checkpoint at 1,000
  // pages) whatever the number of enrolled devices: a controller that has run for a while
  // rewrites WAL blocks that already exist, while the first few hundred commits of a new
  // store extend the file, and each of those fsyncs also commits the file system's metadata.
  readonly settleCommits: number;
}

export class SettingsBenchWorld {
  readonly pairs: Pair[] = [];
  enrollSeconds = 0;
  startSeconds = 0;

  private constructor(
    readonly store: SqliteControllerStore,
    readonly service: SettingsService,
    readonly server: KeyrollServer,
    private readonly wire: MemoryWire,
    readonly controllerLog: MarkLog,
    readonly commits: CommitTimes,
  ) {}

  static async create(c: WorldConfig): Promise<SettingsBenchWorld> {
    if (c.pairs < 1 || c.pairs > 100 || c.devices < 2 * c.pairs) throw new Error('need 1..100 pairs and devices >= 2 x pairs');
    const clock = anchoredClock();
    const t0 = performance.now();
    const store = openSqliteStore({ path: join(c.dir, 'controller.db'), masterKeyFile: join(c.dir, 'master.key'), create: true });
    const enroll = (name: string, address: string): Promise<DeviceRecord> =>
      store.addDevice({ name, variant: 'spi', forwardSecrecy: true, addresses: [address] }, randomBytes(32), clock());
    const running: DeviceRecord[] = [];
    for (let i = 0; i < c.pairs; i++) {
      running.push(await enroll(`bench-a${i}`, `198.18.${i}.1`), await enroll(`bench-b${i}`, `198.18.${i}.2`));
      await store.addPolicy({ name: `bench-pair-${i}`, a: `198.18.${i}.1`, b: `198.18.${i}.2`, flow: null, applied: BENCH_POLICY }, clock());
    }
    for (let i = 0; i < c.devices - 2 * c.pairs; i++) await enroll(`enrolled-${i}`, `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    await store.addPolicy({ name: 'default', a: '*', b: '*', flow: null, applied: BENCH_POLICY }, clock());
    for (let i = 0; i < c.settleCommits; i++) await store.appendEvents([{ atMs: clock(), kind: 'bench', deviceId: null, detail: { settle: i } }]);
    const t1 = performance.now();

    const controllerLog = new MarkLog();
    const commits: CommitTimes = { saveEntry: [], saveChannelState: [] };
    const timed = timedStore(store, commits);
    const service = new SettingsService({ store: timed, log: controllerLog, now: clock });
    await service.start();
    const server = await KeyrollServer.start({ store: timed, listen: { address: '127.0.0.1', port: 0 }, log: controllerLog, now: clock, service });
    service.setPusher(server);
    const w = new SettingsBenchWorld(store, service, server, new MemoryWire(), controllerLog, commits);
    w.enrollSeconds = (t1 - t0) / 1000;

    for (let i = 0; i < c.pairs; i++) {
      const a = await w.startAgent(running[2 * i]!, `198.18.${i}.1`, `10.${i}.1`, `10.${i}.2`, c, 'client', clock);
      const b = await w.startAgent(running[2 * i + 1]!, `198.18.${i}.2`, `10.${i}.2`, `10.${i}.1`, c, 'server', clock);
      w.pairs.push({ a, b, nextFlow: 0 });
    }
    // Every channel keyed (init exchange done) before anything is measured.
    const agents = w.pairs.flatMap((p) => [p.a, p.b]);
    const deadline = Date.now() + 30_000;
    while (agents.some((x) => x.channel.status().generation < 1)) {
      if (Date.now() > deadline) throw new Error('agents did not key their control channels within 30 s');
      await sleep(20);
    }
    await sleep(200); // the registration right after the init, so the controller has each address
    w.startSeconds = (performance.now() - t1) / 1000;
    return w;
  }

  private async startAgent(
    record: DeviceRecord,
    outer: string,
    localNet: string,
    remoteNet: string,
    c: WorldConfig,
    role: 'client' | 'server',
    clock: () => number,
  ): Promise<Agent> {
    const entries: AgentSpdEntry[] = [];
    for (let j = 0; j < c.flowsPerPair; j++) {
      const port = { start: FLOW_PORT_BASE + j, end: FLOW_PORT_BASE + j };
      entries.push({
        id: `f${j}`,
        priority: 10 + j,
        selector: {
          local: { start: `${localNet}.0`, end: `${localNet}.255` },
          remote: { start: `${remoteNet}.0`, end: `${remoteNet}.255` },
          protocol: 17,
          ...(role === 'client' ? { remotePorts: port } : { localPorts: port }),
        },
        localAddress: outer,
        requestPeer: role === 'client' ? outer.replace(/\.1$/, '.2') : outer.replace(/\.2$/, '.1'),
        flow: { protocol: 17, port: FLOW_PORT_BASE + j },
      });
    }
    const log = new MarkLog();
    const dp = createMemoryDataPlane({ wire: this.wire, addresses: [outer], nowMs: clock });
    const link: { channel?: KeyrollClient } = {}; // the settings client sends through the channel started next
    const settings = new SettingsClient({ entries, dataPlane: dp, send: (items) => link.channel?.attach(items), log, now: clock });
    const channel = await KeyrollClient.start({
      params: { deviceId: record.id, initKey: await this.store.initKey(record.id), initSpi: record.initSpi, variant: record.variant, forwardSecrecy: record.forwardSecrecy },
      controller: this.server.local,
      bind: { address: '127.0.0.1', port: 0 },
      statePath: join(c.dir, `${record.name}.state.json`),
      log,
      now: clock,
      service: { knownItemType: settings.knownItemType, onDeliver: settings.onDeliver },
    });
    link.channel = channel;
    await settings.start();
    return { record, outer, innerHost: `${localNet}.1`, dp, settings, channel, log };
  }

  // One first packet on the next unused flow of `pair`: sent into A's data plane (no SA:
  // held, request sent), timed until it comes out of B's data plane decrypted.
  async firstPacket(pair: Pair, timeoutMs: number): Promise<Sample> {
    const j = pair.nextFlow++;
    const marker = randomBytes(16);
    const packet = udpPacket(pair.a.innerHost, pair.b.innerHost, CLIENT_PORT, FLOW_PORT_BASE + j, marker);
    let t0 = 0;
    const delivered = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(null);
      }, timeoutMs);
      const off = pair.b.dp.onInner((p, via) => {
        if (via.spi === null || p.length < marker.length || !p.subarray(p.length - marker.length).equals(marker)) return;
        const t = performance.now();
        clearTimeout(timer);
        off();
        resolve(t);
      });
    });
    t0 = performance.now();
    const first = pair.a.dp.sendInner(packet);
    if (first.kind !== 'acquire') throw new Error(`flow f${j}: expected the first packet to be held, got ${first.kind}`);
    const t = await delivered;
    const mark = (agent: Agent, what: string): number => {
      const at = agent.log.marks.get(`${what}/f${j}`);
      return at === undefined ? NaN : at - t0;
    };
    return {
      totalMs: t === null ? null : t - t0,
      requestB: mark(pair.b, 'request-sent'),
      installedB: mark(pair.b, 'installed'),
      installedA: mark(pair.a, 'installed'),
    };
  }

  async counters(): Promise<Record<string, number>> {
    const out: Record<string, number> = { ...this.server.counters.snapshot(), ...this.service.status().counters };
    for (const p of this.pairs) {
      for (const [side, x] of [
        ['a', p.a],
        ['b', p.b],
      ] as const) {
        for (const [k, v] of Object.entries({ ...(await x.dp.counters()), ...x.settings.status().counters })) {
          if (/drop|fail|error|retransmit|overflow|mismatch/.test(k)) out[`${side}.${k}`] = (out[`${side}.${k}`] ?? 0) + v;
        }
      }
    }
    return out;
  }

  problems(): string[] {
    return [...this.controllerLog.problems, ...this.pairs.flatMap((p) => [...p.a.log.problems, ...p.b.log.problems])];
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      for (const x of [p.a, p.b]) {
        await x.settings.stop();
        await x.channel.stop();
        await x.dp.close();
      }
    }
    await this.server.stop();
    await this.service.stop();
    await this.store.close();
  }
}
