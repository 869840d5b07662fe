// The `userspace` data-plane backend (DESIGN.md "Data plane"): a TUN device and a
// UDP/4500 socket joined to the sans-I/O ESP engine (src/ipsec/engine.ts).
//
//   TUN read  -> engine.protectOutbound -> ESP in UDP to the SA's peer (RFC 3948 §2.1)
//   UDP read  -> RFC 3948 §2.2 classification:
//                  NAT keepalive (one 0xFF byte)  -> counted, ignored
//                  non-ESP marker (4 zero bytes)  -> IKE, handed to options.onIke
//                  anything else                  -> ESP -> engine.processInbound -> TUN write
//   every 1 s -> engine.tick -> soft/hard-expire events
//   every 20 s (RFC 3948 §4) -> a NAT keepalive to each peer that has an SA
//
// Both directions work on batches: one JavaScript call handles every packet the reader
// thread collected, and the results leave in one batched write.

import type { DataPlane, DataPlaneEvent } from '../ipsec/dataplane.js';
import { createIpsecEngine, type IpsecEngine } from '../ipsec/engine.js';
import { DataPlaneError } from '../ipsec/errors.js';
import { UnknownSpiReports } from '../ipsec/unknown-spi.js';
import type { Policy, SaConfig } from '../ipsec/types.js';
import { openTun, type TunDevice } from '../io/tun.js';
import { openUdp, type DatagramBatch, type UdpBackend, type UdpEndpoint, type UdpPeer, type UdpSocket } from '../io/udp.js';
import { Counters } from '../util/counters.js';
import { DecodeError } from '../wire/errors.js';
import { NON_ESP_MARKER_BYTES, buildMarkedIke, buildNatKeepalive, classifyUdpEncap, type UdpEncapKind } from '../wire/udp-encap.js';
import { createRouteTable, type RouteTable, type RunIp } from './routes.js';

export const DEFAULT_ENCAP_PORT = 4500; // RFC 3948 §2
export const DEFAULT_NAT_KEEPALIVE_MS = 20_000; // RFC 3948 §4: "default 20 seconds"
export const DEFAULT_TUN_MTU = 1400; // leaves room for outer IPv6 + UDP + ESP in 1500 bytes
const TICK_MS = 1000;
const NAT_KEEPALIVE = buildNatKeepalive(); // RFC 3948 §2.3: one 0xFF byte

export interface UserspaceDataPlaneOptions {
  readonly tunName?: string; // omitted: kernel-chosen (tun0, ...)
  readonly mtu?: number; // TUN MTU, default 1400
  readonly localAddress: string; // outer address to bind (IPv4 or IPv6)
  readonly port?: number; // default 4500; 0 = any free port (tests)
  readonly udpBackend?: UdpBackend; // default 'native'; 'dgram' = pure JavaScript
  // native backend: UDP GSO/GRO (see src/io/udp.ts). Default true. A capture on the
  // sending host may then show several ESP packets in one (not yet segmented) frame.
  readonly udpOffload?: boolean;
  // Coalesce decrypted TCP segments into one GSO packet per run on TUN write (see
  // src/io/tun.ts). Default true.
  readonly tunOffload?: boolean;
  readonly nowMs?: () => number; // clock for the engine (default Date.now)
  // IKE messages that arrived on the encapsulation port, without the non-ESP marker.
  readonly onIke?: (message: Buffer, from: UdpEndpoint) => void;
  readonly natKeepaliveMs?: number; // 0 disables; default 20000
  readonly replayWindow?: number; // engine default for SAs that say nothing
  readonly manageRoutes?: boolean; // default true
  readonly runIp?: RunIp; // how `ip` is run (default: execFile)
  readonly maxBatch?: number; // packets per read batch (default 64)
}

export interface UserspaceDataPlane extends DataPlane {
  readonly tunName: string;
  readonly localAddress: string;
  readonly port: number; // the bound UDP port
  // Sends an IKE message from the encapsulation port (the non-ESP marker is added here).
  sendIke(message: Uint8Array, to: UdpEndpoint): void;
  // Routes this data plane has installed (ip route syntax), for status output and tests.
  routes(): string[];
}

export async function createUserspaceDataPlane(options: UserspaceDataPlaneOptions): Promise<UserspaceDataPlane> {
  const nowMs = options.nowMs ?? Date.now;
  const shell = new Counters();
  const tun: TunDevice = openTun({
    ...(options.tunName !== undefined ? { name: options.tunName } : {}),
    mtu: options.mtu ?? DEFAULT_TUN_MTU,
    offload: options.tunOffload ?? true,
    ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
  });
  let udp: UdpSocket;
  try {
    udp = await openUdp({
      address: options.localAddress,
      port: options.port ?? DEFAULT_ENCAP_PORT,
      backend: options.udpBackend ?? 'native',
      offload: options.udpOffload ?? true,
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
    });
  } catch (e) {
    tun.close();
    throw e;
  }
  const engine: IpsecEngine = createIpsecEngine(
    options.replayWindow !== undefined ? { defaultReplayWindow: options.replayWindow } : {},
  );
  const routes: RouteTable | undefined =
    options.manageRoutes === false ? undefined : createRouteTable(tun.name, options.runIp);
  const listeners = new Set<(event: DataPlaneEvent) => void>();
  const emit = (event: DataPlaneEvent): void => {
    for (const l of listeners) {
      try {
        l(event);
      } catch {
        shell.add('drop.listener-error');
      }
    }
  };

  // Peers by address, then port, resolved once (the native backend pre-builds the
  // sockaddr). The last hit is kept aside: a burst nearly always goes to one peer.
  const peers = new Map<string, Map<number, UdpPeer>>();
  let last: UdpPeer | undefined;
  const peerFor = (address: string, port: number): UdpPeer | undefined => {
    if (last !== undefined && last.port === port && last.address === address) return last;
    let byPort = peers.get(address);
    if (!byPort) {
      // A cache, not a registry: IKE replies to many sources must not grow it for ever.
      if (peers.size >= 4096) peers.clear();
      peers.set(address, (byPort = new Map()));
    }
    let p = byPort.get(port);
    if (!p) {
      try {
        p = udp.peer(address, port);
      } catch {
        return undefined;
      }
      byPort.set(port, p);
    }
    last = p;
    return p;
  };
  // SAs with UDP encapsulation, for NAT keepalives: "dir:spi" -> peer.
  const encapSas = new Map<string, UdpPeer>();
  const trackSa = (sa: SaConfig): void => {
    const peer = sa.encap ? peerFor(sa.remoteAddress, sa.encap.remotePort) : undefined;
    if (peer) encapSas.set(`${sa.direction}:${sa.spi}`, peer);
    else encapSas.delete(`${sa.direction}:${sa.spi}`);
  };

  // --- outbound: TUN -> ESP -> UDP -------------------------------------------------------
  const onTunPackets = (packets: Buffer[], source: 'tun.rx' | 'resubmit' = 'tun.rx'): void => {
    const now = nowMs();
    shell.add(source, packets.length);
    const out: Uint8Array[] = [];
    const to: UdpPeer[] = [];
    for (const packet of packets) {
      const r = engine.protectOutbound(packet, now);
      switch (r.kind) {
        case 'send': {
          // Without encapsulation this would be raw ESP (IP protocol 50), which needs the
          // kernel; this backend only speaks RFC 3948.
          const peer = r.encap ? peerFor(r.remoteAddress, r.encap.remotePort) : undefined;
          if (!peer) {
            shell.add(r.encap ? 'drop.bad-peer' : 'drop.no-encap');
            break;
          }
          out.push(r.esp);
          to.push(peer);
          break;
        }
        case 'bypass':
          // The route sent it into the tunnel device but the SPD says "in clear": there is
          // no clear path out of a TUN device, so it cannot be delivered.
          shell.add('drop.bypass-on-tun');
          break;
        case 'acquire':
          // The engine limits acquires to one per policy per second (except for seed-000
          // entries, whose key plane holds every packet). A copy: the batch buffer is reused.
          emit({ type: 'acquire', policyId: r.policyId, packet: Uint8Array.from(packet), atMs: now });
          break;
        case 'drop':
          break; // the engine counted it under drop.<reason>
      }
    }
    if (out.length > 0) {
      const sent = udp.send(out, to);
      shell.add('udp.tx', sent);
      if (sent < out.length) shell.add('drop.udp-send', out.length - sent);
    }
  };

  // ESP for an SPI we do not have: tell the key plane (rate-limited, unknown-spi.ts).
  const unknownSpis = new UnknownSpiReports();
  const unknownSpi = (esp: Uint8Array, remoteAddress: string, now: number): void => {
    const event = unknownSpis.report(esp, remoteAddress, now);
    if (event !== null) emit(event);
  };

  // --- inbound: UDP -> classify -> ESP -> TUN --------------------------------------------
  const onUdpBatch = (batch: DatagramBatch): void => {
    const now = nowMs();
    shell.add('udp.rx', batch.count);
    const deliver: Uint8Array[] = [];
    for (let i = 0; i < batch.count; i++) {
      if (batch.truncated(i)) {
        shell.add('drop.udp-truncated');
        continue;
      }
      const data = batch.data(i);
      let kind: UdpEncapKind;
      try {
        kind = classifyUdpEncap(data);
      } catch (e) {
        // Too short to be a keepalive, an IKE message or an ESP header.
        shell.add(e instanceof DecodeError ? `drop.udp-encap.${e.reason}` : 'drop.udp-encap');
        continue;
      }
      switch (kind) {
        case 'keepalive':
          shell.add('udp.keepalive.rx');
          break;
        case 'ike':
          if (options.onIke) {
            shell.add('udp.ike.rx');
            try {
              options.onIke(data.subarray(NON_ESP_MARKER_BYTES), batch.from(i));
            } catch {
              shell.add('drop.ike-handler-error');
            }
          } else {
            shell.add('drop.ike-no-handler');
          }
          break;
        case 'esp': {
          const r = engine.processInbound(data, now);
          if (r.kind === 'deliver') deliver.push(r.packet);
          else if (r.kind === 'drop' && r.reason === 'unknown-spi') unknownSpi(data, batch.from(i).address, now);
          break; // drops are counted by the engine
        }
      }
    }
    if (deliver.length > 0) {
      const written = tun.write(deliver);
      shell.add('tun.tx', written);
      if (written < deliver.length) shell.add('drop.tun-write', deliver.length - written);
    }
  };

  const onIoError = (what: string) => (): void => shell.add(`error.${what}`);
  tun.start(onTunPackets, onIoError('tun-read'));
  udp.start(onUdpBatch, onIoError('udp-read'));

  const tick = setInterval(() => {
    const now = nowMs();
    for (const event of engine.tick(now)) {
      if (event.type === 'hard-expire') encapSas.delete(`${event.direction}:${event.spi}`);
      emit(event);
    }
  }, TICK_MS);
  tick.unref();

  const keepaliveMs = options.natKeepaliveMs ?? DEFAULT_NAT_KEEPALIVE_MS;
  const sendKeepalives = (): void => {
    const unique = new Map<string, UdpPeer>();
    for (const p of encapSas.values()) unique.set(`${p.address}|${p.port}`, p);
    if (unique.size === 0) return;
    const list = [...unique.values()];
    const sent = udp.send(
      list.map(() => NAT_KEEPALIVE),
      list,
    );
    shell.add('udp.keepalive.tx', sent);
  };
  const keepalive = keepaliveMs > 0 ? setInterval(sendKeepalives, keepaliveMs) : undefined;
  keepalive?.unref();

  let closed = false;
  const open = (): void => {
    if (closed) throw new DataPlaneError('closed', 'the userspace data plane is closed');
  };

  return {
    tunName: tun.name,
    localAddress: options.localAddress,
    port: udp.port,
    async installSa(sa) {
      open();
      engine.installSa(sa, nowMs());
      trackSa(sa);
    },
    async updateSa(sa) {
      open();
      engine.updateSa(sa, nowMs());
      trackSa(sa);
    },
    async deleteSa(direction, spi) {
      open();
      encapSas.delete(`${direction}:${spi}`);
      return engine.deleteSa(direction, spi);
    },
    async installPolicy(policy: Policy) {
      open();
      engine.installPolicy(policy);
      if (routes) {
        try {
          await routes.addPolicy(policy);
        } catch (e) {
          engine.deletePolicy(policy.id);
          throw e;
        }
      }
    },
    async deletePolicy(id) {
      open();
      const removed = engine.deletePolicy(id);
      if (routes) await routes.removePolicy(id);
      return removed;
    },
    async listSas() {
      return engine.listSas();
    },
    async listPolicies() {
      return engine.listPolicies();
    },
    async counters() {
      const merged: Record<string, number> = { ...engine.counters.snapshot() };
      for (const [k, v] of Object.entries(shell.snapshot())) merged[k] = (merged[k] ?? 0) + v;
      return merged;
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async resubmit(packets) {
      open();
      if (packets.length > 0) onTunPackets(packets.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)), 'resubmit');
    },
    sendIke(message, to) {
      open();
      const peer = peerFor(to.address, to.port);
      if (!peer) throw new DataPlaneError('bad-sa', `cannot send IKE to ${to.address} port ${to.port}`);
      // RFC 3948 §2.2: IKE on the encapsulation port starts with the 4-byte non-ESP marker.
      shell.add('udp.ike.tx', udp.send([buildMarkedIke(message)], [peer]));
    },
    routes() {
      return routes?.list() ?? [];
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      if (keepalive) clearInterval(keepalive);
      listeners.clear();
      await udp.close();
      try {
        if (routes) await routes.close();
      } finally {
        tun.close();
      }
    },
  };
}
