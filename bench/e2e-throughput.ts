// End-to-end TCP throughput through a userspace ESP data plane between two network
// namespaces, keyplane next to strongSwan (charon-systemd + kernel-libipsec, openssl early
// in `load =`, see ../shared/interop.md), measured in the same run with iperf3 and
// aes128gcm16, ESP in UDP/4500 on both. Prints a table with Mbit/s and the CPU time the
// data-plane processes used. Needs root.
//   node dist/bench/e2e-throughput.js [seconds=10] [--only keyplane|strongswan] [--udp native|dgram] [--no-offload | --no-udp-offload | --no-tun-offload]
//        [--rounds N]   alternate keyplane and strongSwan N times; the ratio uses the medians
import { readFileSync } from 'node:fs';
import { canRunNetns, createNetnsPair, INNER, run, type NetnsPair } from '../test/netns/netns-harness.js';
import { makeConfigs, startDataPlane, tempDir } from '../test/netns/e2e-setup.js';
import type { UdpBackend } from '../src/io/udp.js';
import { startStrongswanPair } from './strongswan-netns.js';

const args = process.argv.slice(2);
const seconds = Number(args.find((a) => /^\d+$/.test(a)) ?? 10);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const rounds = args.includes('--rounds') ? Math.max(1, Number(args[args.indexOf('--rounds') + 1]) || 1) : 1;
const udpBackend = (args.includes('--udp') ? args[args.indexOf('--udp') + 1] : 'native') as UdpBackend;
const udpOffload = !args.includes('--no-offload') && !args.includes('--no-udp-offload');
const tunOffload = !args.includes('--no-offload') && !args.includes('--no-tun-offload');
const CLK_TCK = 100; // USER_HZ on Linux

// utime + stime of a process, in seconds (proc(5) fields 14 and 15).
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

interface Result {
  readonly name: string;
  readonly mbps: number;
  readonly retransmits: number;
  readonly cpuPercent: number[]; // per data-plane process, % of one core
}

async function iperf(pair: NetnsPair, pids: number[]): Promise<Omit<Result, 'name'>> {
  const server = pair.spawn(pair.b, 'iperf3', ['-s', '-1', '-B', INNER.b.v4]);
  await new Promise((r) => setTimeout(r, 500));
  // Warm-up second so both ends have the route, ARP and SA state in place.
  await pair.exec(pair.a, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', INNER.b.v4]);
  const cpu0 = pids.map(cpuSeconds);
  const t0 = performance.now();
  const { stdout } = await pair.exec(
    pair.a,
    'iperf3',
    ['-c', INNER.b.v4, '-B', INNER.a.v4, '-t', String(seconds), '-J'],
    (seconds + 30) * 1000,
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = pids.map((p, i) => ((cpuSeconds(p) - cpu0[i]!) / wall) * 100);
  server.kill();
  const json = JSON.parse(stdout) as {
    end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } };
  };
  return {
    mbps: json.end.sum_received.bits_per_second / 1e6,
    retransmits: json.end.sum_sent.retransmits ?? 0,
    cpuPercent: cpu,
  };
}

async function keyplane(): Promise<Result> {
  const pair = await createNetnsPair();
  const dir = tempDir();
  try {
    const cfg = makeConfigs({ suite: 'aes128gcm16', outer: 4, inner: 4, udpBackend, udpOffload, tunOffload });
    const a = await startDataPlane(pair, pair.a, cfg.a, dir.path);
    const b = await startDataPlane(pair, pair.b, cfg.b, dir.path);
    const r = await iperf(pair, [a.child.pid!, b.child.pid!]);
    const counters = await a.counters();
    const drops = Object.entries(counters).filter(([k, v]) => k.startsWith('drop.') && v > 0);
    if (drops.length > 0) console.error(`keyplane A drops: ${JSON.stringify(Object.fromEntries(drops))}`);
    // A clean exit (so that e.g. NODE_OPTIONS=--cpu-prof profiles get written).
    await Promise.all([a.close(), b.close()]);
    const notes = [
      `UDP ${udpBackend}`,
      ...(udpBackend === 'native' && !udpOffload ? ['no GSO'] : []),
      ...(!tunOffload ? ['no TUN GRO'] : []),
    ];
    return { name: `keyplane userspace (${notes.join(', ')})`, ...r };
  } finally {
    await pair.destroy();
    dir.remove();
  }
}

// strongSwan kernel-libipsec (bench/strongswan-netns.ts), the CHILD_SA up before iperf3.
async function strongswan(): Promise<Result> {
  const ss = await startStrongswanPair({ logLevel: 1 });
  try {
    await ss.swanctl('a', ['--initiate', '--child', 'net', '--timeout', '20']);
    const r = await iperf(
      ss.pair,
      ss.daemons.map((d) => d.pid!),
    );
    return { name: 'strongSwan kernel-libipsec', ...r };
  } finally {
    await ss.stop();
  }
}

const why = canRunNetns();
if (why) {
  console.error(`e2e-throughput: ${why}`);
  process.exit(1);
}
await run('iperf3', ['--version']).catch(() => {
  console.error('e2e-throughput: iperf3 is not installed');
  process.exit(1);
});

const results: Result[] = [];
for (let round = 0; round < rounds; round++) {
  if (only !== 'strongswan') results.push(await keyplane());
  if (only !== 'keyplane') results.push(await strongswan());
}

console.log(`\nTCP through a userspace ESP data plane, aes128gcm16, ESP in UDP/4500, iperf3 ${seconds} s, 2 namespaces`);
console.log(`${'data plane'.padEnd(48)} ${'Mbit/s'.padStart(8)} ${'retrans'.padStart(8)}  CPU % of one core (A, B)`);
for (const r of results) {
  console.log(
    `${r.name.padEnd(48)} ${r.mbps.toFixed(0).padStart(8)} ${String(r.retransmits).padStart(8)}  ${r.cpuPercent.map((c) => c.toFixed(0)).join(', ')}`,
  );
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const kp = results.filter((r) => r.name.startsWith('keyplane')).map((r) => r.mbps);
const ss = results.filter((r) => r.name.startsWith('strongSwan')).map((r) => r.mbps);
if (kp.length > 0 && ss.length > 0) {
  const what = rounds > 1 ? `medians of ${rounds} rounds: ${median(kp).toFixed(0)} / ${median(ss).toFixed(0)} Mbit/s, ` : '';
  console.log(`ratio keyplane / strongSwan: ${what}${(median(kp) / median(ss)).toFixed(2)}`);
}
