// CONTRACT — the seed-000 settings cores (sans-I/O, DESIGN.md layer 4): the controller's
// request processing unit (SettingsServer, seed steps S1-S11, S21-S28) and the device's
// setting management unit (SettingsAgent, seed steps S31-S37, S41-S49, S51-S60).
//
// Like the keyroll core: `handle(input, nowMs)` returns outputs for the shell to carry
// out, `nextDueMs()` says when a 'tick' is wanted, every random byte comes from the
// injected RandomSource. No clocks, sockets, timers or store of their own.
import type { Policy, SaConfig, TrafficSelector } from '../ipsec/types.js';
import type {
  AppliedPolicy,
  FlowSelector,
  SaParameters,
  SettingsActivation,
  SettingsDistribution,
  SettingsError,
  SettingsMessage,
  SettingsRequest,
} from '../wire/control-settings.js';

export type RandomSource = (lengthBytes: number) => Uint8Array;

// =============================================================================== server

// One entry of the distribution policy store (seed 000 "Data"). Endpoints are unordered:
// a policy for (A, B) also answers B's request for A. '*' is the wildcard ("all others");
// lookup order: exact pair with the request's flow, exact pair without flow, one side
// '*' (with flow, then without), then ('*', '*') (with flow, then without).
export interface DistributionPolicy {
  readonly id: string; // store id
  readonly name: string; // operator's name, unique
  readonly a: string; // address or '*'
  readonly b: string; // address or '*'
  readonly flow: FlowSelector | null;
  readonly applied: AppliedPolicy;
  readonly createdAtMs: number;
}

// One side of a management-table entry (seed 000 "Management table"): requestId and spi
// are null while the row is the placeholder of a side that has not asked yet.
export interface EntryRow {
  readonly address: string;
  readonly deviceId: string;
  readonly requestId: number | null;
  readonly spi: number | null;
}

export interface ManagementEntry {
  readonly id: string; // 16 lower-case hex chars from the RandomSource
  readonly rows: readonly [EntryRow, EntryRow]; // [0] = the side that asked first
  readonly flow: FlowSelector | null;
  readonly policyId: string;
  readonly applied: AppliedPolicy;
  // Filled when both rows are (S10): params[0] = SA row0 -> row1 (SPI = row1.spi),
  // params[1] = SA row1 -> row0 (SPI = row0.spi).
  readonly params: readonly [SaParameters, SaParameters] | null;
  readonly createdAtMs: number;
  readonly completedAtMs: number | null;
  // Pending: request activations sent so far and when the next is due (S23/S24).
  readonly activationsSent: number;
  readonly nextActivationAtMs: number | null;
  // Complete: the entry-expiry timer (seed: "a timer = SA lifetime deletes the entry").
  readonly expiresAtMs: number | null;
}

export interface ServerOptions {
  readonly random: RandomSource;
  readonly activationIntervalMs: number; // seed: 5000
  readonly activationMaxSends: number; // seed: 6
  // Which device owns an address (device records' addresses): authorisation and where to
  // send activations and distributions. undefined = no enrolled device has it.
  readonly deviceOfAddress: (address: string) => string | undefined;
  // Is `address` one the authenticated `deviceId` may ask as? (a device asks only for itself)
  readonly ownsAddress: (deviceId: string, address: string) => boolean;
  // The policy for a pair, by the lookup order above; undefined = none (S26).
  readonly lookupPolicy: (requester: string, peer: string, flow: FlowSelector | null) => DistributionPolicy | undefined;
}

export type ServerInput =
  // A request item that arrived on `deviceId`'s authenticated control channel.
  | { readonly type: 'request'; readonly deviceId: string; readonly request: SettingsRequest }
  | { readonly type: 'tick' };

export type ServerEvent =
  | { readonly name: 'request'; readonly deviceId: string; readonly request: SettingsRequest; readonly step: string } // step: 'S5', 'S6', 'S8', 'S11', 'S23', ...
  | { readonly name: 'distributed'; readonly entryId: string; readonly a: string; readonly b: string; readonly spis: readonly [number, number]; readonly lifetimeSeconds: number; readonly renewal: boolean }
  | { readonly name: 'activation'; readonly entryId: string; readonly to: string; readonly send: number }
  | { readonly name: 'error'; readonly deviceId: string; readonly error: Omit<SettingsError, 'entries'> }
  | { readonly name: 'expired'; readonly entryId: string; readonly complete: boolean };

export type ServerOutput =
  // Store the entry (insert or replace) / delete it, BEFORE carrying out the sends that
  // follow in the same batch (write-ahead: keys are never handed out before they are stored).
  | { readonly type: 'persist'; readonly entry: ManagementEntry }
  | { readonly type: 'forget'; readonly entryId: string }
  | { readonly type: 'send'; readonly deviceId: string; readonly message: SettingsMessage }
  | { readonly type: 'event'; readonly event: ServerEvent };

export interface SettingsServerCore {
  handle(input: ServerInput, nowMs: number): ServerOutput[];
  nextDueMs(): number;
  entries(): readonly ManagementEntry[];
  // Loads entries stored before a restart (pending ones resume their activation timers,
  // complete ones their expiry timers; entries already past expiry are forgotten on the next tick).
  restore(entries: readonly ManagementEntry[], nowMs: number): void;
}

// ================================================================================ agent

// An extended SPD entry (seed 000 "Device SPD entry"): a PROTECT entry whose policy is left
// out and comes from the setting server, asked for `requestPeer`.
export interface AgentSpdEntry {
  readonly id: string; // the DataPlane policy id
  readonly priority: number;
  readonly selector: TrafficSelector; // outbound point of view
  readonly localAddress: string; // this device's IPsec address (the request's requester)
  readonly requestPeer: string; // the setting-request peer address
  readonly flow: FlowSelector | null;
}

export interface AgentOptions {
  readonly random: RandomSource;
  readonly retransmitIntervalMs: number; // seed: 5000
  readonly maxSends: number; // seed: 6
  readonly holdQueuePackets: number; // per SPD entry; overflow is dropped and counted
  // Renew when this fraction of the SA lifetime has passed (make-before-break needs the
  // new SAs well before the old ones die), e.g. 0.8.
  readonly renewAtFraction: number;
  // Make-before-break: after a renewal's distribution the new outbound SA is used once
  // traffic arrives on the new inbound SA (the peer switched, so it holds the new SAs) or
  // after this delay, whichever comes first; the old inbound SA is removed this long
  // after the switch (late packets in flight), or at its hard expiry.
  readonly switchDelayMs: number;
  readonly udpEncapPort: number; // ESP in UDP port of the peers (RFC 3948), normally 4500
  readonly replayWindow: number;
}

export type AgentInput =
  // The data plane's acquire for an extended SPD entry, with the packet to hold (S35).
  | { readonly type: 'acquire'; readonly policyId: string; readonly packet: Uint8Array }
  // A settings message from the controller (distribution, activation, error).
  | { readonly type: 'message'; readonly message: SettingsMessage }
  // The data plane saw traffic on this inbound SA (make-before-break switch signal).
  | { readonly type: 'inbound-used'; readonly spi: number }
  | { readonly type: 'tick' };

export type AgentFailure = 'no-policy' | 'no-response' | 'timeout' | 'refused';

export type AgentEvent =
  | { readonly name: 'request-sent'; readonly policyId: string; readonly requestId: number; readonly spi: number; readonly send: number; readonly reason: 'acquire' | 'activation' | 'renewal' | 'mismatch' }
  | { readonly name: 'installed'; readonly policyId: string; readonly entryId: string; readonly inboundSpi: number; readonly outboundSpi: number; readonly renewal: boolean }
  | { readonly name: 'switched'; readonly policyId: string; readonly outboundSpi: number; readonly cause: 'inbound-used' | 'delay' }
  | { readonly name: 'failed'; readonly policyId: string; readonly failure: AgentFailure; readonly droppedPackets: number; readonly reason: string }
  | { readonly name: 'activation-ignored'; readonly peer: string; readonly reason: 'no-entry' | 'in-progress' }
  | { readonly name: 'hold-overflow'; readonly policyId: string; readonly dropped: number };

export type AgentOutput =
  | { readonly type: 'send'; readonly message: SettingsMessage } // to the controller
  | { readonly type: 'install-policy'; readonly policy: Policy } // insert or replace by id
  | { readonly type: 'install-sa'; readonly sa: SaConfig }
  | { readonly type: 'delete-sa'; readonly direction: 'in' | 'out'; readonly spi: number }
  // The held packets of an entry, to send through the data plane again now that it has an
  // SA (S36 -> S33), in arrival order.
  | { readonly type: 'release'; readonly policyId: string; readonly packets: readonly Uint8Array[] }
  | { readonly type: 'event'; readonly event: AgentEvent };

// What `keyplane agent status` shows per extended SPD entry.
export interface AgentEntryStatus {
  readonly policyId: string;
  readonly peer: string;
  readonly state: 'idle' | 'requesting' | 'established' | 'renewing' | 'failed';
  readonly held: number;
  readonly heldDropped: number;
  readonly request: { readonly requestId: number; readonly spi: number; readonly sends: number; readonly reason: string } | null;
  readonly current: { readonly entryId: string; readonly inboundSpi: number; readonly outboundSpi: number; readonly installedAtMs: number; readonly expiresAtMs: number; readonly renewAtMs: number } | null;
  readonly lastFailure: { readonly failure: AgentFailure; readonly atMs: number; readonly reason: string } | null;
}

export interface SettingsAgentCore {
  handle(input: AgentInput, nowMs: number): AgentOutput[];
  nextDueMs(): number;
  status(nowMs: number): AgentEntryStatus[];
  // The SPD entries to install at start (PROTECT with protect.requestPeer set).
  initialPolicies(): Policy[];
}

export type { AppliedPolicy, FlowSelector, SaParameters, SettingsActivation, SettingsDistribution, SettingsError, SettingsMessage, SettingsRequest };
