// RFC 4301 model shared by every data-plane backend and by the key-management cores
// that install state into them (IKE, settings server, keyroll).

// An address range, inclusive; both ends the same family. A prefix "10.1.0.0/24" is
// the range 10.1.0.0-10.1.0.255. Addresses are kept as strings in canonical form
// (IPv4 dotted quad, IPv6 RFC 5952 lower case) so they print and compare plainly.
export interface AddressRange {
  readonly start: string;
  readonly end: string;
}

// RFC 4301 §4.4.1.1 selectors. Omitted fields mean ANY. Port ranges are inclusive.
// For ICMP/ICMPv6 the "ports" carry type (localPort) and code (remotePort) per RFC 4301 §4.4.1.1.
export interface TrafficSelector {
  readonly local?: AddressRange; // source of outbound traffic
  readonly remote?: AddressRange; // destination of outbound traffic
  readonly protocol?: number; // IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6)
  readonly localPorts?: { readonly start: number; readonly end: number };
  readonly remotePorts?: { readonly start: number; readonly end: number };
}

export type PolicyAction = 'protect' | 'bypass' | 'discard';

// One SPD entry. Entries are ordered by `priority` (lower first), ties by insertion order.
export interface Policy {
  readonly id: string; // unique within the SPD
  readonly priority: number;
  readonly selector: TrafficSelector; // written from the outbound point of view
  readonly action: PolicyAction;
  // For 'protect': which SA tunnel endpoints to use, and whether the key plane should be
  // asked (acquire) when no outbound SA exists.
  readonly protect?: {
    readonly mode: 'tunnel' | 'transport';
    readonly localTunnel?: string; // outer source address (tunnel mode)
    readonly remoteTunnel: string; // outer destination address / peer
    // Optional peer for a seed-000 setting request when the policy itself is not yet known.
    readonly requestPeer?: string;
  };
}

// Soft and hard limits (RFC 4301 §4.4.2.1); any field may be absent (= no limit).
export interface LifetimeLimits {
  readonly seconds?: number;
  readonly bytes?: number;
  readonly packets?: number;
}

export interface Lifetime {
  readonly soft: LifetimeLimits;
  readonly hard: LifetimeLimits;
}

// UDP encapsulation (RFC 3948). Ports are the outer UDP ports (normally 4500/4500).
export interface UdpEncapsulation {
  readonly localPort: number;
  readonly remotePort: number;
}

// Everything needed to install one unidirectional ESP SA.
export interface SaConfig {
  readonly spi: number; // uint32, never 0..255 (RFC 4303 §2.1 reserved)
  readonly direction: 'in' | 'out';
  readonly mode: 'tunnel' | 'transport';
  // Outer addresses as seen on the wire for this SA: for 'out' local=source, remote=destination.
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly encap?: UdpEncapsulation; // absent = raw ESP (IP protocol 50), not usable without kernel help
  readonly encryption: { readonly id: number; readonly keyBits: number; readonly keyMaterial: Uint8Array };
  readonly integrity?: { readonly id: number; readonly key: Uint8Array }; // absent for AEAD
  readonly esn: boolean; // 64-bit extended sequence numbers (RFC 4303 §2.2.1)
  readonly replayWindow: number; // inbound only; 0 disables anti-replay (RFC 4303 §3.4.3)
  readonly lifetime: Lifetime;
  // Traffic this SA may carry; inbound packets whose inner header falls outside are
  // dropped (RFC 4301 §5.2 step 4). Written from the local point of view.
  readonly selector: TrafficSelector;
  // Policy the SA belongs to (outbound lookup goes SPD -> policy id -> SA).
  readonly policyId?: string;
  readonly allowTestOnlyAlgorithms?: boolean; // required to use ENCR_NULL
}

export interface SaCounters {
  readonly bytes: number; // inner bytes processed
  readonly packets: number;
  readonly replayDrops: number;
  readonly authFailures: number;
  readonly installedAtMs: number;
  readonly lastUsedAtMs: number | null;
}

export interface SaStatus {
  readonly spi: number;
  readonly direction: 'in' | 'out';
  readonly counters: SaCounters;
  readonly softExpired: boolean;
}
