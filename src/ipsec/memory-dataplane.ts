// The `memory` DataPlane backend (DESIGN.md "Data plane"): the packet engine plus an
// in-memory "wire" that carries datagrams between several such data planes by outer
// address. Tests and the network simulator use it to push inner packets in on one side and
// read them out on the other, with a virtual clock: nothing here reads the real time or
// starts a timer (time comes from the injected nowMs function; advance() runs lifetimes).
import { UnknownSpiReports } from './unknown-spi.js';
import type { DataPlane, DataPlaneEvent } from './dataplane.js';
import { createIpsecEngine, type InboundResult, type IpsecEngine, type IpsecEngineOptions, type OutboundResult } from './engine.js';
import { DataPlaneError } from './errors.js';
import type { Policy, SaConfig, SaStatus } from './types.js';
import { canonicalIp, formatIp } from '../wire/address.js';
import { buildMarkedIke, buildNatKeepalive, classifyUdpEncap, NAT_T_PORT, NON_ESP_MARKER_BYTES } from '../wire/udp-encap.js';
import { DecodeError } from '../wire/errors.js';

// One datagram on the memory wire. `esp`: raw ESP (IP protocol 50); `udp`: a UDP payload
// (UDP-encapsulated ESP, IKE behind the Non-ESP Marker, or a NAT keepalive; RFC 3948);
// `clear`: an unprotected IP packet (SPD BYPASS), addressed by its own destination.
export interface MemoryDatagram {
  readonly kind: 'esp' | 'udp' | 'clear';
  readonly src: string;
  readonly dst: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly payload: Uint8Array;
}

// What the wire does with a datagram: deliver it (possibly modified) or lose it.
export type MemoryWireFilter = (datagram: MemoryDatagram) => MemoryDatagram | null;

export class MemoryWire {
  private readonly byAddress = new Map<string, MemoryDataPlane>();
  private readonly queue: MemoryDatagram[] = [];
  private flushing = false;
  // Loss, duplication, tampering and captures in tests: called for every datagram sent.
  filter: MemoryWireFilter | undefined;
  undeliverable = 0; // datagrams to an address no plane owns

  attach(address: string, plane: MemoryDataPlane): void {
    const key = canonicalIp(address);
    const owner = this.byAddress.get(key);
    if (owner !== undefined && owner !== plane) throw new DataPlaneError('bad-sa', `address ${key} is already attached to another data plane`);
    this.byAddress.set(key, plane);
  }

  detach(plane: MemoryDataPlane): void {
    for (const [address, owner] of this.byAddress) if (owner === plane) this.byAddress.delete(address);
  }

  // Delivery is synchronous but not recursive: a datagram sent while another is being
  // delivered (a reply from a listener) is queued and delivered after it, in order.
  send(datagram: MemoryDatagram): void {
    this.queue.push(datagram);
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let d = this.queue.shift(); d !== undefined; d = this.queue.shift()) {
        const passed = this.filter === undefined ? d : this.filter(d);
        if (passed === null) continue;
        const target = this.byAddress.get(canonicalIp(passed.dst));
        if (target === undefined) this.undeliverable++;
        else target.receiveDatagram(passed);
      }
    } finally {
      this.flushing = false;
    }
  }
}

export interface MemoryDataPlaneOptions {
  readonly wire: MemoryWire;
  // Outer addresses this data plane answers on the wire (its SAs' local addresses) and
  // inner addresses that should receive BYPASS traffic in clear.
  readonly addresses: readonly string[];
  readonly nowMs: () => number; // the virtual clock
  readonly engine?: IpsecEngineOptions;
}

export type InnerListener = (packet: Buffer, via: { readonly spi: number | null }) => void;
export type IkeListener = (message: Uint8Array, from: { readonly address: string; readonly port: number }) => void;

export class MemoryDataPlane implements DataPlane {
  private readonly unknownSpis = new UnknownSpiReports();
  readonly engine: IpsecEngine;
  private readonly wire: MemoryWire;
  private readonly nowMs: () => number;
  private readonly listeners = new Set<(event: DataPlaneEvent) => void>();
  private readonly innerListeners = new Set<InnerListener>();
  private readonly ikeListeners = new Set<IkeListener>();
  private closed = false;

  constructor(options: MemoryDataPlaneOptions) {
    this.engine = createIpsecEngine(options.engine);
    this.wire = options.wire;
    this.nowMs = options.nowMs;
    for (const a of options.addresses) this.wire.attach(a, this);
  }

  private open(): void {
    if (this.closed) throw new DataPlaneError('closed', 'the memory data plane is closed');
  }

  // ------------------------------------------------------------------ DataPlane

  async installSa(sa: SaConfig): Promise<void> {
    this.open();
    this.engine.installSa(sa, this.nowMs());
  }

  async updateSa(sa: SaConfig): Promise<void> {
    this.open();
    this.engine.updateSa(sa, this.nowMs());
  }

  async deleteSa(direction: 'in' | 'out', spi: number): Promise<boolean> {
    this.open();
    return this.engine.deleteSa(direction, spi);
  }

  async installPolicy(policy: Policy): Promise<void> {
    this.open();
    this.engine.installPolicy(policy);
  }

  async deletePolicy(id: string): Promise<boolean> {
    this.open();
    return this.engine.deletePolicy(id);
  }

  async listSas(): Promise<SaStatus[]> {
    return this.engine.listSas();
  }

  async listPolicies(): Promise<Policy[]> {
    return this.engine.listPolicies();
  }

  async counters(): Promise<Record<string, number>> {
    return this.engine.counters.snapshot();
  }

  on(listener: (event: DataPlaneEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wire.detach(this);
    this.listeners.clear();
    this.innerListeners.clear();
    this.ikeListeners.clear();
  }

  // ------------------------------------------------------------------ memory-only

  // Inner packets that arrive on the protected side (decrypted, or BYPASS in clear).
  onInner(listener: InnerListener): () => void {
    this.innerListeners.add(listener);
    return () => this.innerListeners.delete(listener);
  }

  // IKE messages that arrive on UDP 4500 behind the Non-ESP Marker (RFC 3948 §2.2).
  onIke(listener: IkeListener): () => void {
    this.ikeListeners.add(listener);
    return () => this.ikeListeners.delete(listener);
  }

  // Runs lifetime checks at the current virtual time and emits the events.
  advance(): DataPlaneEvent[] {
    const events = this.engine.tick(this.nowMs());
    for (const e of events) this.emit(e);
    return events;
  }

  private emit(event: DataPlaneEvent): void {
    for (const l of [...this.listeners]) l(event);
  }

  async resubmit(packets: readonly Uint8Array[]): Promise<void> {
    for (const p of packets) this.sendInner(p);
  }

  // An inner packet leaving the protected side (what a TUN read would hand over).
  sendInner(packet: Uint8Array): OutboundResult {
    this.open();
    const now = this.nowMs();
    const result = this.engine.protectOutbound(packet, now);
    switch (result.kind) {
      case 'send':
        if (result.encap !== undefined) {
          this.wire.send({
            kind: 'udp',
            src: result.localAddress,
            dst: result.remoteAddress,
            srcPort: result.encap.localPort,
            dstPort: result.encap.remotePort,
            payload: result.esp,
          });
        } else {
          this.wire.send({ kind: 'esp', src: result.localAddress, dst: result.remoteAddress, payload: result.esp });
        }
        break;
      case 'bypass': {
        const v4 = (packet[0]! >> 4) === 4;
        const src = formatIp(packet.subarray(v4 ? 12 : 8, v4 ? 16 : 24));
        const dst = formatIp(packet.subarray(v4 ? 16 : 24, v4 ? 20 : 40));
        this.wire.send({ kind: 'clear', src, dst, payload: packet });
        break;
      }
      case 'acquire':
        this.emit({ type: 'acquire', policyId: result.policyId, packet: Uint8Array.from(packet), atMs: now });
        break;
      case 'drop':
        break;
    }
    return result;
  }

  // Sends an IKE message to `to` on UDP 4500 with the Non-ESP Marker (RFC 3948 §2.2).
  sendIke(from: string, to: string, message: Uint8Array): void {
    this.wire.send({ kind: 'udp', src: from, dst: to, srcPort: NAT_T_PORT, dstPort: NAT_T_PORT, payload: buildMarkedIke(message) });
  }

  // Sends a NAT keepalive (a single 0xFF byte on UDP 4500, RFC 3948 §2.3).
  sendKeepalive(from: string, to: string): void {
    this.wire.send({ kind: 'udp', src: from, dst: to, srcPort: NAT_T_PORT, dstPort: NAT_T_PORT, payload: buildNatKeepalive() });
  }

  // Called by the wire.
  receiveDatagram(d: MemoryDatagram): InboundResult | null {
    if (this.closed) return null;
    if (d.kind === 'clear') {
      const result = this.engine.acceptClear(d.payload, this.nowMs());
      if (result.kind === 'deliver') this.deliver(result.packet, null);
      return result;
    }
    if (d.kind === 'udp') {
      let kind;
      try {
        kind = classifyUdpEncap(d.payload);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        this.engine.counters.add(`drop.udp-encap.${err.reason}`);
        return null;
      }
      if (kind === 'keepalive') {
        this.engine.counters.add('rx.keepalive'); // RFC 3948 §2.3: ignored
        return null;
      }
      if (kind === 'ike') {
        this.engine.counters.add('rx.ike');
        const message = d.payload.subarray(NON_ESP_MARKER_BYTES);
        for (const l of [...this.ikeListeners]) l(message, { address: d.src, port: d.srcPort ?? NAT_T_PORT });
        return null;
      }
    }
    const now = this.nowMs();
    const result = this.engine.processInbound(d.payload, now);
    if (result.kind === 'deliver') this.deliver(result.packet, result.spi);
    else if (result.kind === 'drop' && result.reason === 'unknown-spi') {
      const event = this.unknownSpis.report(d.payload, d.src, now);
      if (event !== null) this.emit(event);
    }
    return result;
  }

  private deliver(packet: Buffer, spi: number | null): void {
    for (const l of [...this.innerListeners]) l(packet, { spi });
  }
}

export function createMemoryDataPlane(options: MemoryDataPlaneOptions): MemoryDataPlane {
  return new MemoryDataPlane(options);
}
