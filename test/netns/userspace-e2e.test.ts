// End to end through the userspace data plane (TUN + ESP in UDP/4500, RFC 3948) between
// two network namespaces, both ends keyplane with static SAs (manual keying). For each
// case: ping across the tunnel, an 8 MB TCP transfer whose SHA-256 must match on both
// ends, and a tshark capture on the veth in which every IP packet between the two ends
// is ESP in UDP (no inner packet in clear). Needs root; run one file at a time.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { canRunNetns, createNetnsPair, INNER, OUTER, type NetnsPair } from './netns-harness.js';
import {
  makeConfigs,
  startCapture,
  startDataPlane,
  tcpTransfer,
  tempDir,
  type CapturedFrame,
  type CaseOptions,
  type RunningDataPlane,
} from './e2e-setup.js';

const skip = canRunNetns();
const TRANSFER_BYTES = 8 * 1024 * 1024;

// UDP GSO (the default) hands the veth super-frames that are split only at the receiver,
// so a capture shows several ESP packets per frame. Cases with udpOffload: false let tshark
// see one ESP packet per frame; the others check that segmentation offload carries the
// data intact. TUN offload (the default) segments the sender's TSO packets in the addon and
// coalesces received segments; the first case turns it off at the receiver so that B's
// kernel checks every TCP checksum A's addon computed, the second turns it off on both.
const cases: readonly CaseOptions[] = [
  { suite: 'aes128gcm16', outer: 4, inner: 4, udpBackend: 'native', udpOffload: false, tunOffloadB: false },
  // The pure-JavaScript UDP path (node:dgram) and plain TUN I/O, with frequent NAT
  // keepalives so the capture also has to classify them.
  { suite: 'chacha20poly1305', outer: 4, inner: 4, udpBackend: 'dgram', tunOffload: false, natKeepaliveMs: 500 },
  { suite: 'aes256-sha256', outer: 4, inner: 4, udpBackend: 'native' },
  { suite: 'aes128gcm16', outer: 6, inner: 6, udpBackend: 'native', udpOffload: false, tunOffloadB: false },
  { suite: 'aes128gcm16', outer: 6, inner: 6, udpBackend: 'native' },
];

for (const c of cases) {
  const offload = c.udpBackend === 'native' && c.udpOffload !== false;
  const tunA = c.tunOffload !== false;
  const tunB = (c.tunOffloadB ?? c.tunOffload) !== false;
  const tun = tunA && tunB ? 'TUN offload' : tunA ? 'TUN offload at A only' : 'plain TUN';
  const name = `${c.suite}, outer IPv${c.outer}, inner IPv${c.inner}, UDP ${c.udpBackend}${offload ? ' with GSO/GRO' : ''}, ${tun}`;
  describe(name, { skip }, () => {
    let pair: NetnsPair;
    let dir: ReturnType<typeof tempDir>;
    let dpA: RunningDataPlane;
    let dpB: RunningDataPlane;
    let frames: CapturedFrame[] = [];
    const inner = c.inner === 4 ? { a: INNER.a.v4, b: INNER.b.v4 } : { a: INNER.a.v6, b: INNER.b.v6 };
    const outerKey = c.outer === 4 ? 'v4' : 'v6';

    before(async () => {
      pair = await createNetnsPair();
      dir = tempDir();
      const cfg = makeConfigs(c);
      dpA = await startDataPlane(pair, pair.a, cfg.a, dir.path);
      dpB = await startDataPlane(pair, pair.b, cfg.b, dir.path);
    });

    after(async () => {
      await pair?.destroy();
      dir?.remove();
    });

    test('routes for the remote selector go through the TUN device with a matching source', () => {
      const net = c.inner === 4 ? INNER.b.v4Net : INNER.b.v6Net;
      assert.deepEqual(dpA.routes, [`${net} dev ${dpA.tunName} src ${inner.a}`]);
    });

    test('ping and an 8 MB TCP transfer cross the tunnel; tshark sees only ESP in UDP', async () => {
      const capture = await startCapture(pair, pair.a, pair.vethA, join(dir.path, 'veth.pcap'));
      const ping = await pair.exec(pair.a, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', inner.b]);
      assert.match(ping.stdout, / 3 received/);

      const result = await tcpTransfer(pair, pair.a, pair.b, inner.b, TRANSFER_BYTES);
      assert.equal(result.received.bytes, TRANSFER_BYTES);
      assert.equal(result.received.sha256, result.sent.sha256);
      const keepaliveMs = c.natKeepaliveMs;
      if (keepaliveMs !== undefined) await new Promise((r) => setTimeout(r, 2 * keepaliveMs));
      frames = await capture.stop();

      const ipFrames = frames.filter((f) => /:(ip|ipv6):/.test(f.protocols));
      // ESP inside UDP (RFC 3948 §2.1); tshark dissects port 4500 as "udpencap".
      const esp = ipFrames.filter((f) => /:udp:(udpencap:)?esp$/.test(f.protocols));
      // RFC 3948 §2.3 NAT keepalive: a single 0xFF byte in UDP.
      const keepalives = ipFrames.filter((f) => /:udp(:udpencap)?$/.test(f.protocols) && f.udpPayload === 'ff');
      // The only other traffic on the link: the kernel's own neighbour discovery and MLD
      // (ICMPv6 types 130-143), never an echo request or reply (128/129).
      const ndp = ipFrames.filter(
        (f) => f.protocols.endsWith(':icmpv6') && f.icmpv6Type !== undefined && f.icmpv6Type >= 130 && f.icmpv6Type <= 143,
      );
      const other = ipFrames.filter((f) => !esp.includes(f) && !keepalives.includes(f) && !ndp.includes(f));
      assert.deepEqual(
        other.map((f) => f.protocols),
        [],
        'frames that are neither ESP-in-UDP, NAT keepalives nor neighbour discovery',
      );
      const espBytes = esp.reduce((sum, f) => sum + f.length, 0);
      assert.ok(espBytes > TRANSFER_BYTES, `only ${espBytes} bytes of ESP for ${TRANSFER_BYTES} bytes of TCP`);
      // Without offload every ESP packet is its own frame of at most the veth MTU.
      if (!offload) assert.ok(esp.length > TRANSFER_BYTES / 1400 && esp.every((f) => f.length <= 1514));
      if (c.natKeepaliveMs !== undefined) assert.ok(keepalives.length > 0, 'no NAT keepalive seen');
    });

    test('counters on both ends account for the traffic and show no drops', async () => {
      const a = await dpA.counters();
      const b = await dpB.counters();
      for (const counters of [a, b]) {
        assert.ok((counters['tun.rx'] ?? 0) > 0 && (counters['udp.tx'] ?? 0) > 0, JSON.stringify(counters));
        assert.ok((counters['udp.rx'] ?? 0) > 0 && (counters['tun.tx'] ?? 0) > 0, JSON.stringify(counters));
        const drops = Object.entries(counters).filter(([k, v]) => k.startsWith('drop.') && v > 0 && k !== 'drop.no-policy');
        assert.deepEqual(drops, []);
      }
      if (c.natKeepaliveMs !== undefined) assert.ok((b['udp.keepalive.rx'] ?? 0) > 0);
    });

    test('close removes the routes and the TUN device', async () => {
      await dpA.close();
      const links = await pair.exec(pair.a, 'ip', ['-o', 'link', 'show']);
      assert.doesNotMatch(links.stdout, new RegExp(`: ${dpA.tunName}[:@]`));
      const routes = await pair.exec(pair.a, 'ip', [`-${c.inner}`, 'route', 'show']);
      assert.doesNotMatch(routes.stdout, new RegExp(dpA.tunName));
      // The outer path is untouched.
      await pair.exec(pair.a, 'ping', [`-${c.outer}`, '-c', '1', '-W', '2', OUTER.b[outerKey]]);
    });
  });
}
