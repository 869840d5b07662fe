// Building blocks for the userspace data plane's end-to-end tests: static SA/policy
// descriptions for both ends, data-plane processes in namespaces, TCP transfers with
// SHA-256 checks, and tshark captures on the veth.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Policy } from '../../src/ipsec/types.js';
import { formatIp, parsePrefix } from '../../src/wire/address.js';
import type { UdpBackend } from '../../src/io/udp.js';
import type { DpNodeJson } from './dp-node.js';
import { INNER, OUTER, run, waitForLine, type NetnsPair } from './netns-harness.js';

export type Suite = 'aes128gcm16' | 'chacha20poly1305' | 'aes256-sha256';

// IANA IKEv2 transform IDs (RFC 7296 §3.3.2; ENCR 20 = AES-GCM-16 RFC 4106, 28 =
// ChaCha20-Poly1305 RFC 7634, 12 = AES-CBC RFC 3602; INTEG 12 = HMAC-SHA2-256-128 RFC 4868).
// Key material = cipher key + 4-byte salt for the AEADs (RFC 4106 §8.1, RFC 7634 §4).
function keysFor(suite: Suite): Pick<DpNodeJson['sas'][number], 'encryption' | 'integrity'> {
  switch (suite) {
    case 'aes128gcm16':
      return { encryption: { id: 20, keyBits: 128, keyMaterial: randomBytes(20).toString('hex') } };
    case 'chacha20poly1305':
      return { encryption: { id: 28, keyBits: 256, keyMaterial: randomBytes(36).toString('hex') } };
    case 'aes256-sha256':
      return {
        encryption: { id: 12, keyBits: 256, keyMaterial: randomBytes(32).toString('hex') },
        integrity: { id: 12, key: randomBytes(32).toString('hex') },
      };
  }
}

function range(net: string): { start: string; end: string } {
  const p = parsePrefix(net);
  return { start: formatIp(p.start), end: formatIp(p.end) };
}

export interface CaseOptions {
  readonly suite: Suite;
  readonly outer: 4 | 6;
  readonly inner: 4 | 6;
  readonly udpBackend: UdpBackend;
  readonly natKeepaliveMs?: number;
  readonly udpOffload?: boolean;
  readonly tunOffload?: boolean;
  // Side B's tunOffload when it differs from side A's (so that B's kernel verifies the TCP
  // checksums of the segments A's reader thread cut from TSO packets).
  readonly tunOffloadB?: boolean;
}

// Both ends' descriptions: A's outbound SA is B's inbound SA and vice versa.
export function makeConfigs(c: CaseOptions): { a: DpNodeJson; b: DpNodeJson } {
  const spiAB = 0x1000 + Math.floor(Math.random() * 0xfffff);
  const spiBA = 0x2000000 + Math.floor(Math.random() * 0xfffff);
  const keysAB = keysFor(c.suite);
  const keysBA = keysFor(c.suite);
  const outerKey = c.outer === 4 ? 'v4' : 'v6';
  const netKey = c.inner === 4 ? 'v4Net' : 'v6Net';
  const side = (me: 'a' | 'b'): DpNodeJson => {
    const peer = me === 'a' ? 'b' : 'a';
    const local = OUTER[me][outerKey];
    const remote = OUTER[peer][outerKey];
    const selector = { local: range(INNER[me][netKey]), remote: range(INNER[peer][netKey]) };
    const policy: Policy = {
      id: `${me}-to-${peer}`,
      priority: 100,
      selector,
      action: 'protect',
      protect: { mode: 'tunnel', localTunnel: local, remoteTunnel: remote },
    };
    const common = {
      mode: 'tunnel' as const,
      localAddress: local,
      remoteAddress: remote,
      encap: { localPort: 4500, remotePort: 4500 },
      esn: true,
      replayWindow: 128,
      lifetime: { soft: {}, hard: {} },
      selector,
    };
    return {
      dataplane: {
        tunName: `kp${me}0`,
        localAddress: local,
        port: 4500,
        udpBackend: c.udpBackend,
        natKeepaliveMs: c.natKeepaliveMs ?? 20_000,
        ...(c.udpOffload !== undefined ? { udpOffload: c.udpOffload } : {}),
        ...((me === 'b' ? (c.tunOffloadB ?? c.tunOffload) : c.tunOffload) !== undefined
          ? { tunOffload: me === 'b' ? (c.tunOffloadB ?? c.tunOffload) : c.tunOffload }
          : {}),
      },
      policies: [policy],
      sas: [
        { ...common, spi: me === 'a' ? spiAB : spiBA, direction: 'out', policyId: policy.id, ...(me === 'a' ? keysAB : keysBA) },
        { ...common, spi: me === 'a' ? spiBA : spiAB, direction: 'in', ...(me === 'a' ? keysBA : keysAB) },
      ],
    };
  };
  return { a: side('a'), b: side('b') };
}

export interface RunningDataPlane {
  readonly child: ChildProcess;
  readonly tunName: string;
  readonly routes: string[];
  counters(): Promise<Record<string, number>>;
  close(): Promise<Record<string, number>>;
}

const dpNode = new URL('./dp-node.js', import.meta.url).pathname;
const tcpXfer = new URL('./tcp-xfer.js', import.meta.url).pathname;

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'kp-e2e-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function startDataPlane(pair: NetnsPair, ns: string, json: DpNodeJson, dir: string): Promise<RunningDataPlane> {
  const file = join(dir, `${ns}.json`);
  writeFileSync(file, JSON.stringify(json), { mode: 0o600 });
  // Extra node flags for profiling, e.g. KP_DP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env['KP_DP_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child = pair.spawn(ns, process.execPath, [...extra, dpNode, '--json', file]);
  const ready = await waitForLine(child, (l) => l.startsWith('READY '));
  const info = JSON.parse(ready.slice('READY '.length)) as { tunName: string; routes: string[] };
  const ask = (cmd: string): Promise<Record<string, number>> => {
    const answer = waitForLine(child, (l) => l.startsWith('COUNTERS '));
    child.stdin?.write(`${cmd}\n`);
    return answer.then((l) => JSON.parse(l.slice('COUNTERS '.length)) as Record<string, number>);
  };
  const close = async (): Promise<Record<string, number>> => {
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const t = setTimeout(resolve, 10_000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    const counters = await ask('close');
    await exited;
    return counters;
  };
  return { child, tunName: info.tunName, routes: info.routes, counters: () => ask('counters'), close };
}

export interface TransferResult {
  readonly sent: { bytes: number; sha256: string };
  readonly received: { bytes: number; sha256: string };
}

// A TCP transfer of `bytes` random bytes from namespace `from` to `toAddress` in `to`.
export async function tcpTransfer(
  pair: NetnsPair,
  from: string,
  to: string,
  toAddress: string,
  bytes: number,
): Promise<TransferResult> {
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const server = pair.spawn(to, process.execPath, [tcpXfer, 'server', toAddress, port]);
  await waitForLine(server, (l) => l === 'LISTENING');
  const serverResult = waitForLine(server, (l) => l.startsWith('RESULT '), 120_000);
  const client = pair.spawn(from, process.execPath, [tcpXfer, 'client', toAddress, port, String(bytes)]);
  const clientResult = waitForLine(client, (l) => l.startsWith('RESULT '), 120_000);
  const [s, r] = await Promise.all([clientResult, serverResult]);
  return { sent: JSON.parse(s.slice(7)), received: JSON.parse(r.slice(7)) };
}

export interface CapturedFrame {
  readonly protocols: string; // tshark frame.protocols, e.g. "eth:ethertype:ip:udp:udpencap:esp"
  readonly udpPayload: string; // hex, "" when not UDP
  readonly icmpv6Type: number | undefined;
  readonly length: number; // frame.len
}

export interface Capture {
  // Stops tshark and returns what it dissected in each captured frame.
  stop(): Promise<CapturedFrame[]>;
}

// tshark on `dev` in `ns`, writing a pcap file; resolves once tshark is capturing.
export async function startCapture(pair: NetnsPair, ns: string, dev: string, file: string): Promise<Capture> {
  const child = pair.spawn(ns, 'tshark', ['-i', dev, '-w', file]);
  await waitForLine(child, (l) => l.includes('Capturing on'), 15_000, 'stderr');
  return {
    async stop() {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      });
      const { stdout } = await run('tshark', [
        '-r', file, '-T', 'fields', '-e', 'frame.protocols', '-e', 'udp.payload', '-e', 'icmpv6.type', '-e', 'frame.len',
      ]);
      return stdout
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => {
          const [protocols = '', udpPayload = '', icmpv6Type = '', length = '0'] = l.split('\t');
          return {
            protocols,
            udpPayload,
            icmpv6Type: icmpv6Type === '' ? undefined : Number(icmpv6Type),
            length: Number(length),
          };
        });
    },
  };
}
