// CONTRACT (types) — seed-000 settings messages, carried as items of the control channel
// (control-message.ts; item numbers in control-types.ts). Codecs below the types.
//
// The seed (000 "Messages") leaves the wire format open; keyplane's choices:
//   - addresses are IP addresses in canonical text form (IPv4 dotted quad, IPv6 RFC 5952),
//     encoded as 4 or 16 bytes;
//   - a distribution is addressed to one end: `requester` is always the receiving device
//     and `toPeer` / `fromPeer` are the seed's "SA A->B" / "SA B->A" seen from it, so an
//     agent never has to work out which half is its own;
//   - the seed's per-SA "IV" is not distributed: RFC 4303 ESP carries a fresh IV in every
//     packet (RFC 4106 §3.1, RFC 3602 §3) and a fixed IV would be a weakness; the key
//     material includes the salt/nonce of AEAD transforms (RFC 4106 §8.1);
//   - the applied policy names algorithms by IANA IKEv2 transform IDs (RFC 7296 §3.3.2),
//     the same numbers as src/crypto/registry.ts.

// Optional extra selector for two devices with more than one protected flow (seed 000
// "Data": protocol number, port). `port` is the service port: a packet matches when its
// source or destination port equals it.
export interface FlowSelector {
  readonly protocol: number; // IP protocol 0..255 (6 tcp, 17 udp, ...)
  readonly port: number | null; // 1..65535, null = any port of that protocol
}

export interface SettingsRequest {
  readonly requestId: number; // uint32, 1..2^32-1, unique among the device's pending requests
  readonly requester: string; // the requesting device's IPsec address
  readonly peer: string; // the setting-request peer address of the SPD entry
  readonly spi: number; // the SPI the requester will use inbound, 256..2^32-1
  readonly flow: FlowSelector | null;
}

export interface AppliedPolicy {
  readonly protocol: 'esp'; // AH is not offered: RFC 8221 §3 marks it MAY, and NAT breaks it
  readonly mode: 'tunnel' | 'transport';
  readonly encryption: { readonly id: number; readonly keyBits: number };
  readonly integrity: { readonly id: number } | null; // null for AEAD transforms
  readonly esn: boolean;
  readonly lifetimeSeconds: number; // hard lifetime of the SAs, 1..2^31-1
}

// One direction's SA parameters (seed 000 "SA parameters").
export interface SaParameters {
  readonly spi: number; // the receiving side's proposed SPI
  readonly encryptionKey: Uint8Array; // key material of the length the transform needs (salt included)
  readonly integrityKey: Uint8Array | null; // null for AEAD
}

export interface SettingsDistribution {
  readonly requestId: number; // the receiving side's request ID
  readonly requester: string; // the receiving device
  readonly peer: string; // the other end
  readonly flow: FlowSelector | null;
  readonly entryId: string; // management-table entry, 16 hex chars (for status and renewal)
  readonly policy: AppliedPolicy;
  readonly toPeer: SaParameters; // outbound at the receiver: SPI chosen by the peer
  readonly fromPeer: SaParameters; // inbound at the receiver: SPI the receiver proposed
}

// Request activation (seed 000 S23): "ask me for settings towards `peer`" (the original
// requester). No request ID.
export interface SettingsActivation {
  readonly peer: string;
  readonly flow: FlowSelector | null;
}

export type SettingsErrorKind =
  | 'no-policy' // seed S26
  | 'mismatch' // seed S8, carries the entry list
  | 'no-response' // seed S28
  // Beyond the seed: the request names an address that is not the authenticated
  // device's, or a reserved SPI, or is otherwise unacceptable. Never carries entries.
  | 'refused';

export interface SettingsError {
  readonly kind: SettingsErrorKind;
  readonly requestId: number;
  readonly requester: string;
  readonly peer: string;
  readonly flow: FlowSelector | null;
  // 'mismatch': the (request ID, SPI) pairs already registered for this requester and peer
  // (seed S8), so the device can pick values outside them (S48). Empty otherwise.
  readonly entries: readonly { readonly requestId: number; readonly spi: number }[];
  readonly reason: string; // short human text for logs and status, <= 200 bytes UTF-8
}

export type SettingsMessage =
  | { readonly kind: 'request'; readonly request: SettingsRequest }
  | { readonly kind: 'distribution'; readonly distribution: SettingsDistribution }
  | { readonly kind: 'activation'; readonly activation: SettingsActivation }
  | { readonly kind: 'error'; readonly error: SettingsError };
