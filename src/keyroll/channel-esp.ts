// Control messages in ESP (RFC 4303) with AES-256-GCM-16 (RFC 4106), built from the ipsec
// layer's per-packet pieces (espSeal / espOpen / anti-replay window) rather than a second
// ESP implementation.
//
//   SPI (names the key) | sequence | IV | E(control message | pad | pad len | 253) | ICV
//
// The explicit IV is 8 random bytes, not the sequence number the data plane uses. The
// init key is permanent and an agent that lost its state restarts its counters: with
// counter IVs it would encrypt two different messages under the same (key, nonce), which
// for GCM reveals the authentication key (RFC 4106 §8.1, §3.1 "MUST be unique"). Random
// 64-bit IVs make that a birthday event: about n^2 / 2^65 for n packets under one key,
// negligible for a control channel whose keys carry thousands of packets, not billions.
// The sequence number stays what RFC 4303 makes it: the anti-replay counter.
import { espSeal } from '../ipsec/esp-out.js';
import { espLengthProblem, espOpen } from '../ipsec/esp-in.js';
import { parseEspTrailer, readEspSequence } from '../wire/esp.js';
import { DecodeError } from '../wire/errors.js';
import { CONTROL_NEXT_HEADER } from '../wire/control-types.js';
import { decodeControlMessage, encodeControlMessage, type ControlMessage } from '../wire/control-message.js';
import { draw } from './random.js';
import type { ChannelKey } from './channel-key.js';
import type { RandomSource } from './types.js';

const IV_BYTES = 8;

export interface Sealed {
  readonly bytes: Buffer;
  readonly persist: boolean; // the key's sequence reservation moved
}

// null: the key's sequence space is exhausted (it must not be used to send again).
export function sealControl(key: ChannelKey, message: ControlMessage, random: RandomSource): Sealed | null {
  const next = key.nextSequence();
  if (next === null) return null;
  const bytes = espSeal(key.outbound(), encodeControlMessage(message), CONTROL_NEXT_HEADER, 0, next.seq, draw(random, IV_BYTES));
  return { bytes, persist: next.persist };
}

export type OpenFailure = 'truncated' | 'auth' | 'decode';

// Authenticates and decrypts `packet` with `key`. Replay handling is the caller's (the
// sender applies a strict rule to the init key): call before `commit`, which must follow
// only a successful return (RFC 4303 §3.4.3: the window moves only after the ICV
// verified). Returns the ESP payload, still to be decoded as a control message.
export function openEsp(key: ChannelKey, packet: Uint8Array): { payload: Uint8Array } | OpenFailure {
  const c = key.inbound();
  if (espLengthProblem(c, packet.length) !== null) return 'truncated';
  const plaintext = espOpen(c, packet, 0);
  if (plaintext === null) return 'auth';
  try {
    const t = parseEspTrailer(plaintext);
    if (t.nextHeader !== CONTROL_NEXT_HEADER) return 'decode';
    return { payload: plaintext.subarray(0, t.payloadLength) };
  } catch (err) {
    if (err instanceof DecodeError) return 'decode';
    throw err;
  }
}

export function packetSequence(packet: Uint8Array): number {
  return readEspSequence(packet);
}

export function decodeControl(payload: Uint8Array, known: (itemType: number) => boolean): ControlMessage | null {
  try {
    return decodeControlMessage(payload, known);
  } catch (err) {
    if (err instanceof DecodeError) return null;
    throw err;
  }
}
