// The DataPlane interface (DESIGN.md "Data plane"). Key-management cores install SAs and
// policies through it; backends: memory (tests, simulator), userspace (TUN + UDP/4500),
// and later xfrm. Lives in the ipsec layer so protocol cores can depend on it without
// importing any I/O shell.

import type { Policy, SaConfig, SaStatus } from './types.js';

export type DataPlaneEvent =
  // A PROTECT policy matched an outbound packet and no outbound SA exists (RFC 4301 §5.1
  // "acquire"). `packet` is the triggering inner packet (a copy) so a key plane may hold
  // it. Once a second per policy, except for policies with protect.requestPeer (seed 000
  // extended SPD entries): those acquire for every packet, because the key plane holds
  // them all in its bounded queue (S35) and would otherwise lose the ones in between.
  | { readonly type: 'acquire'; readonly policyId: string; readonly packet: Uint8Array; readonly atMs: number }
  // A soft limit was reached: rekey now. Fired once per SA.
  | { readonly type: 'soft-expire'; readonly spi: number; readonly direction: 'in' | 'out'; readonly atMs: number }
  // A hard limit was reached: the SA has been removed.
  | { readonly type: 'hard-expire'; readonly spi: number; readonly direction: 'in' | 'out'; readonly atMs: number }
  // ESP arrived for an SPI this data plane does not have (the peer still uses SAs this end
  // lost, e.g. in a restart): a key plane may set up new ones (RFC 4301 §6.1.2 leaves the
  // reaction to the implementation; IKEv2 answers INVALID_SPI). Unauthenticated, so at
  // most one event per remote address per second.
  | { readonly type: 'unknown-spi'; readonly spi: number; readonly remoteAddress: string; readonly atMs: number };

export interface DataPlane {
  // Adds an SA. Throws DataPlaneError (code "sa-exists") if (direction, spi) is taken.
  installSa(sa: SaConfig): Promise<void>;
  // Replaces keys/lifetime of an existing SA with the same (direction, spi).
  updateSa(sa: SaConfig): Promise<void>;
  deleteSa(direction: 'in' | 'out', spi: number): Promise<boolean>;
  installPolicy(policy: Policy): Promise<void>;
  deletePolicy(id: string): Promise<boolean>;
  listSas(): Promise<SaStatus[]>;
  listPolicies(): Promise<Policy[]>;
  // Drop reasons and totals, e.g. {"rx.esp": 10, "drop.replay": 1}.
  counters(): Promise<Record<string, number>>;
  on(listener: (event: DataPlaneEvent) => void): () => void;
  // Sends inner packets through the outbound path again, in order: the packets a key
  // plane held after acquires (seed 000 S36 -> S33), once it has installed the SA.
  resubmit(packets: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}
