// CONTRACT STUB — implemented by the ipsec work (see issue 2). The pure, sans-I/O packet
// engine shared by every userspace backend: SPD + SAD + ESP processing. It never touches
// sockets, TUN or clocks: the caller passes the packet and the time in.

import type { DataPlaneEvent } from './dataplane.js';
import type { Policy, SaConfig, SaStatus, UdpEncapsulation } from './types.js';
import type { Counters } from '../util/counters.js';

export type OutboundResult =
  // Send `esp` (an ESP packet starting at the SPI field) from localAddress to
  // remoteAddress, inside UDP when `encap` is set (RFC 3948).
  | {
      readonly kind: 'send';
      readonly esp: Buffer;
      readonly localAddress: string;
      readonly remoteAddress: string;
      readonly encap: UdpEncapsulation | undefined;
    }
  | { readonly kind: 'bypass' } // the SPD says: pass in clear
  | { readonly kind: 'drop'; readonly reason: string } // DISCARD, no SPD match, or error (counted)
  | { readonly kind: 'acquire'; readonly policyId: string }; // PROTECT matched, no SA yet

export type InboundResult =
  | { readonly kind: 'deliver'; readonly packet: Buffer; readonly spi: number } // inner IP packet
  | { readonly kind: 'drop'; readonly reason: string }; // counted under drop.<reason>

export interface IpsecEngineOptions {
  readonly defaultReplayWindow?: number; // used when an SA says nothing; >= 64
}

export interface IpsecEngine {
  readonly counters: Counters;
  installSa(sa: SaConfig, nowMs: number): void;
  updateSa(sa: SaConfig, nowMs: number): void;
  deleteSa(direction: 'in' | 'out', spi: number): boolean;
  installPolicy(policy: Policy): void;
  deletePolicy(id: string): boolean;
  listSas(): SaStatus[];
  listPolicies(): Policy[];
  // An inner IP packet (IPv4 or IPv6) leaving the protected side.
  protectOutbound(inner: Uint8Array, nowMs: number): OutboundResult;
  // An ESP packet (from the SPI on, after the UDP header and non-ESP-marker check).
  processInbound(esp: Uint8Array, nowMs: number): InboundResult;
  // Time-based lifetime checks; also returns byte/packet-limit events raised since the
  // last call. Call at least once a second.
  tick(nowMs: number): DataPlaneEvent[];
}

export declare function createIpsecEngine(options?: IpsecEngineOptions): IpsecEngine;
