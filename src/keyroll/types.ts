// Contracts of the seed-004 keyroll core: configuration, inputs, outputs, read-only views
// and events of the key sender (controller) and key receiver (agent).
//
// Sans-I/O (DESIGN.md): a core is an object whose `handle(input, nowMs)` returns outputs
// for the caller to carry out (send bytes, persist state, log an event) and whose
// `nextDueMs()` says when it wants a `tick`. It never reads a clock, opens a socket or
// draws randomness of its own: every random byte comes from the injected RandomSource
// (the CSPRNG in production, a seeded PRNG in the simulator).
import type { ControlItem } from '../wire/control-message.js';
import type { ReceiverDurable, SenderPeerDurable } from './durable.js';

// `lengthBytes` random bytes. Production: cryptoRandomSource (src/keyroll/random.ts).
export type RandomSource = (lengthBytes: number) => Uint8Array;

// Seed 004 offers two ways for the receiver to say what it wants:
//   'explicit': init / update / resend request items (flows 1-6);
//   'spi':      no request items; the sender infers the intent from the key the packet
//               was protected with (flows 7-11): init key -> initialise, the sender's
//               previous key -> resend, the latest key -> normal traffic.
export type KeyrollVariant = 'explicit' | 'spi';

// One controller <-> agent channel, identical on both ends (from enrollment).
export interface ChannelParams {
  readonly deviceId: string; // 1..255 bytes of UTF-8
  readonly initKey: Uint8Array; // KEYROLL_KEY_BYTES (32) bytes, pre-shared
  readonly initSpi: number; // SPI naming the init key, 256..2^32-1, unique per controller
  readonly variant: KeyrollVariant;
  // Beyond the seed: mix an ephemeral X25519 exchange into every new key (kdf.ts).
  readonly forwardSecrecy: boolean;
}

export interface InitRateLimit {
  readonly perMinute: number; // tokens added per minute
  readonly burst: number; // bucket size
}

// Extension point for the services that ride on the registration (seed 000 settings,
// seed 002 admission): called with the non-keyroll items of a registration protected by a
// distributed key (never for init-key messages: those can be read by whoever learns the
// init key); returns the items to put in the acknowledgement. Must be pure and quick.
export type RegistrationHook = (deviceId: string, items: readonly ControlItem[], nowMs: number) => readonly ControlItem[];

export interface SenderOptions {
  readonly random: RandomSource;
  // Sender-triggered rotation (seed flows 6 and 9): a per-receiver timer that raises the
  // rotation-due flag; null = the sender never starts a rotation by itself.
  readonly rotationPeriodMs: number | null;
  // At most one rotation per receiver per interval, whatever the receiver asks for.
  readonly minRotationIntervalMs: number;
  // Initialisations and sequence resyncs per receiver (the seed leaves this open: an
  // unlimited init path lets a replayed or looping init request burn CPU and keys).
  readonly initRateLimit: InitRateLimit;
  readonly replayWindow: number; // packets per distributed key (RFC 4303 §3.4.3), 32..65536
  readonly onRegistration?: RegistrationHook;
  // Item types of other services this end understands (an unknown critical item makes a
  // message undecodable, control-message.ts).
  readonly knownItemType?: (itemType: number) => boolean;
}

export interface ReceiverOptions {
  readonly random: RandomSource;
  readonly registrationIntervalMs: number; // heartbeat period
  readonly replyTimeoutMs: number; // wait this long for the answer to a registration
  // Timeouts answered with a resend request (explicit) / a plain registration (SPI)
  // before falling back to initialisation. Seed flows 5 and 11: retry once.
  readonly maxResends: number;
  // Receiver-triggered rotation (seed flow 3, explicit variant only); null = never.
  readonly rotationPeriodMs: number | null;
  // Unanswered init requests are retransmitted with doubling waits up to this.
  readonly initRetryMaxMs: number;
  readonly replayWindow: number;
  readonly knownItemType?: (itemType: number) => boolean;
}

// ------------------------------------------------------------------------ inputs/outputs

export type SenderInput =
  | { readonly type: 'packet'; readonly bytes: Uint8Array } // from any receiver; the SPI says which
  | { readonly type: 'tick' };

export type ReceiverInput =
  | { readonly type: 'packet'; readonly bytes: Uint8Array }
  | { readonly type: 'tick' }
  // Items of another service to carry on the next registration protected by a distributed key.
  | { readonly type: 'attach'; readonly items: readonly ControlItem[] }
  // Start an initialisation now (operator request; seed flows 2 and 8).
  | { readonly type: 'reinitialise' };

export type SenderOutput =
  | { readonly type: 'send'; readonly deviceId: string; readonly bytes: Uint8Array }
  // The durable state of this receiver changed: store sender.durable(deviceId) before
  // transmitting the 'send' outputs that follow it in the same batch (write-ahead).
  | { readonly type: 'persist'; readonly deviceId: string }
  | { readonly type: 'event'; readonly event: SenderEvent };

export type ReceiverOutput =
  | { readonly type: 'send'; readonly bytes: Uint8Array }
  | { readonly type: 'persist' } // store receiver.durable() before sending what follows
  | { readonly type: 'deliver'; readonly messageId: number; readonly items: readonly ControlItem[] }
  | { readonly type: 'event'; readonly event: ReceiverEvent };

// ------------------------------------------------------------------------------- events

export type SenderEvent =
  | { readonly name: 'initialised'; readonly deviceId: string; readonly generation: number; readonly fingerprint: string }
  | {
      readonly name: 'rotated';
      readonly deviceId: string;
      readonly generation: number;
      readonly fingerprint: string;
      readonly reason: 'update-request' | 'timer';
    }
  | { readonly name: 'resent'; readonly deviceId: string; readonly generation: number; readonly fingerprint: string }
  | { readonly name: 'init-rate-limited'; readonly deviceId: string }
  | { readonly name: 'resync-sent'; readonly deviceId: string; readonly nextSequence: number };

export type OutstandingKind = 'register' | 'update' | 'resend' | 'init';

export type ReceiverEvent =
  | { readonly name: 'installed'; readonly kind: 'init' | 'rotation'; readonly generation: number; readonly fingerprint: string }
  | { readonly name: 'timeout'; readonly kind: OutstandingKind; readonly messageId: number }
  | { readonly name: 'init-started'; readonly reason: 'startup' | 'timeouts' | 'requested' | 'protocol' }
  | { readonly name: 'resynced'; readonly nextSequence: number }
  | { readonly name: 'challenged' }; // asked for a cookie before the sender gives up its keys

// -------------------------------------------------------------------------------- views

// A key as the state tables name it; `fingerprint` is a one-way digest (kdf.ts), equal
// on both sides for the same key and useless for recovering it.
export interface KeyView {
  readonly role: 'init' | 'dynamic';
  readonly generation: number; // 0 for the init key
  readonly spi: number;
  readonly fingerprint: string;
}

export interface SenderPeerView {
  readonly deviceId: string;
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
  readonly init: KeyView;
  readonly latest: KeyView | null; // N
  readonly previous: KeyView | null; // N-1 (the init key right after an initialisation)
  readonly send: KeyView; // N-1, or the init key when there is nothing else
  readonly receive: readonly KeyView[]; // {N, N-1}; {init} when the sender holds no keys
  readonly latestProven: boolean; // the receiver has used N: rotation allowed
  readonly rotationDue: boolean; // the seed's per-receiver rotation-due flag
  readonly rotationDueAtMs: number | null;
  readonly initTokens: number;
  readonly spiTable: readonly { readonly spi: number; readonly key: 'init' | 'latest' | 'previous' }[];
}

export interface ReceiverView {
  readonly deviceId: string;
  readonly variant: KeyrollVariant;
  readonly init: KeyView;
  readonly latest: KeyView | null;
  readonly previous: KeyView | null;
  readonly send: KeyView; // N; the init key while it has none or is initialising
  readonly receive: readonly KeyView[]; // {N, N-1}, plus the init key while initialising
  readonly initPending: boolean;
  readonly outstanding: { readonly kind: OutstandingKind; readonly messageId: number; readonly transmissions: number; readonly deadlineMs: number } | null;
  readonly nextRegistrationAtMs: number;
  readonly rotationDueAtMs: number | null;
}

export type { ReceiverDurable, SenderPeerDurable };
