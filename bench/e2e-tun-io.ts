// Measures how fast packets get from a TUN device into JavaScript, to choose the TUN read
// path (docs/dependencies.md "TUN device"):
//   thread  — the addon's reader thread, batches handed over by a thread-safe function;
//   fs.read — Node's fs.read on a blocking descriptor, one packet per call (libuv
//             threadpool), 1 and 4 reads in flight.
// A generator process blasts 1400-byte UDP datagrams (sendmmsg, 64 per call) at an address
// routed into the TUN device. Runs in its own network namespace (needs root).
//   node dist/bench/e2e-tun-io.js [seconds]
import { spawn, execFileSync } from 'node:child_process';
import { read } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openTun } from '../src/io/tun.js';
import { nativeAddon } from '../src/io/native.js';

const seconds = Number(process.argv[3] ?? process.argv[2] ?? 3) || 3;
const self = fileURLToPath(import.meta.url);

if (process.argv[2] === 'generate') {
  const addon = nativeAddon();
  const sock = addon.udpOpen('10.213.0.1', 0, 4 << 20, false);
  const dst = addon.sockaddr('10.213.0.2', 9);
  const payload = Buffer.alloc(1400 - 28, 0x5a);
  const packets = new Array(64).fill(payload);
  const addrs = new Array(64).fill(dst);
  let sent = 0;
  const end = Date.now() + seconds * 1000 + 500;
  while (Date.now() < end) sent += addon.udpSend(sock.fd, packets, addrs, false);
  process.stdout.write(`${sent}\n`);
  process.exit(0);
}

const ns = `kpbench${process.pid}`;
if (process.argv[2] !== 'inside') {
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    for (const mode of ['thread', 'fs1', 'fs4']) {
      execFileSync('ip', ['netns', 'exec', ns, process.execPath, self, 'inside', String(seconds), mode], { stdio: 'inherit' });
    }
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
  process.exit(0);
}

const mode = process.argv[4] ?? 'thread';
const tun = openTun({ name: 'kpb%d', mtu: 1500, offload: false });
execFileSync('ip', ['link', 'set', 'lo', 'up']);
execFileSync('ip', ['addr', 'add', '10.213.0.1/24', 'dev', tun.name]);
let packets = 0;
let bytes = 0;
let calls = 0;
let counting = false;
if (mode === 'thread') {
  tun.start((batch) => {
    calls++;
    if (!counting) return;
    packets += batch.length;
    for (const p of batch) bytes += p.length;
  });
} else {
  nativeAddon().setBlocking(tun.fd, true);
  const inflight = mode === 'fs4' ? 4 : 1;
  for (let i = 0; i < inflight; i++) {
    const buf = Buffer.alloc(65536);
    const loop = (): void =>
      read(tun.fd, buf, 0, buf.length, null, (err, n) => {
        if (err) return;
        calls++;
        if (counting) {
          packets++;
          bytes += n;
        }
        loop();
      });
    loop();
  }
}
const gen = spawn(process.execPath, [self, 'generate', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
let generated = '';
gen.stdout.on('data', (d: Buffer) => (generated += d.toString()));
await new Promise((r) => setTimeout(r, 300));
const t0 = performance.now();
const cpu0 = process.cpuUsage();
counting = true;
calls = 0;
await new Promise((r) => setTimeout(r, seconds * 1000));
const cpu = process.cpuUsage(cpu0);
counting = false;
const dt = (performance.now() - t0) / 1000;
await new Promise((r) => gen.once('exit', r));
const label = { thread: 'reader thread, batched', fs1: 'fs.read, 1 in flight', fs4: 'fs.read, 4 in flight' }[mode];
console.log(
  `${label!.padEnd(24)} ${(packets / dt / 1000).toFixed(0).padStart(6)} kpps  ${((bytes * 8) / dt / 1e6).toFixed(0).padStart(6)} Mbit/s  ` +
    `${(packets / Math.max(1, calls)).toFixed(1).padStart(5)} pkts/JS call  ${((cpu.user + cpu.system) / Math.max(1, packets)).toFixed(2)} µs CPU/pkt (generator sent ${(Number(generated) / dt / 1000).toFixed(0)} kpps)`,
);
process.exit(0);
