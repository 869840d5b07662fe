// What each end must keep across a restart "without key loss" (the controller's store,
// the agent's state file). Plain data: numbers, strings, booleans and Uint8Arrays, so a
// store can serialise it as it likes. It holds key material: store it like the init key
// (file mode 0600 / the controller's protected store), never log it.
//
// Cores emit a 'persist' output whenever this changes in a way that matters for safety
// (a key installed or dropped, a sequence reservation moved); everything not recorded
// here restarts from a safe default (no proof of the latest key, empty duplicate cache,
// timers from the restart).
import { ChannelKey } from './channel-key.js';
import type { Direction } from './kdf.js';
import type { KeyrollDistribution } from '../wire/control-keyroll.js';

export const DURABLE_VERSION = 1;

export interface KeyDurable {
  readonly generation: number;
  readonly spi: number;
  readonly material: Uint8Array;
  readonly sendSeqReserved: number;
  readonly receiveTop: number;
}

export interface ReceiverDurable {
  readonly version: typeof DURABLE_VERSION;
  readonly latest: KeyDurable | null;
  readonly previous: KeyDurable | 'init' | null;
  readonly initPending: boolean;
  readonly initSendSeqReserved: number;
  readonly ephemeralPrivate: Uint8Array | null; // the pending forward-secrecy value
  readonly rotationDueAtMs: number | null;
}

export interface SenderPeerDurable {
  readonly version: typeof DURABLE_VERSION;
  readonly latest: KeyDurable | null;
  readonly previous: KeyDurable | 'init' | null;
  readonly latestDistribution: KeyrollDistribution | null; // re-sent verbatim by a resend
  readonly chainOriginMessageId: number | null; // the init request the current chain answers
  readonly rotationDueAtMs: number | null;
  readonly rotationDue: boolean;
  readonly lastRotationAtMs: number | null;
  readonly initTopSeq: number;
  readonly initSendSeqReserved: number;
}

// What survives when the sender loses its keys (seed flows 5 and 11: "the dynamically
// updated keys N and N-1 are all lost, only the init key is left"): the init key's own
// record, which lives with the enrollment data, including its anti-replay top. Keeping
// the top there is what stops recorded init requests from forcing re-initialisations
// after such a loss. A controller that loses even this has lost the init keys with it;
// its devices must enroll again (new init keys), so old recordings are useless.
export function senderInitKeyStateOnly(d: SenderPeerDurable): SenderPeerDurable {
  return {
    version: DURABLE_VERSION,
    latest: null,
    previous: null,
    latestDistribution: null,
    chainOriginMessageId: null,
    rotationDueAtMs: null,
    rotationDue: false,
    lastRotationAtMs: null,
    initTopSeq: d.initTopSeq,
    initSendSeqReserved: d.initSendSeqReserved,
  };
}

export function keyToDurable(k: ChannelKey): KeyDurable {
  return {
    generation: k.generation,
    spi: k.spi,
    material: Buffer.from(k.material),
    sendSeqReserved: k.sendSeqReserved,
    receiveTop: k.receiveTop(),
  };
}

export function keyFromDurable(d: KeyDurable, outDirection: Direction, windowSize: number): ChannelKey {
  const k = new ChannelKey(Buffer.from(d.material), d.spi, d.generation, false, outDirection, windowSize);
  // Continue after the reservation: nothing up to it can have been sent by the old life.
  k.sendSeq = d.sendSeqReserved;
  k.sendSeqReserved = d.sendSeqReserved;
  k.restoreReceiveTop(d.receiveTop);
  return k;
}

export function copyDistribution(d: KeyrollDistribution): KeyrollDistribution {
  return {
    kind: d.kind,
    generation: d.generation,
    spi: d.spi,
    seed: Buffer.from(d.seed),
    ephemeral:
      d.ephemeral === null
        ? null
        : { keId: d.ephemeral.keId, senderPublic: Buffer.from(d.ephemeral.senderPublic), receiverPublic: Buffer.from(d.ephemeral.receiverPublic) },
  };
}
