// Randomness for the keyroll cores, always through an injected RandomSource so the same
// code is deterministic in the simulator (seeded PRNG) and uses the CSPRNG in production.
import { randomBytes } from '../crypto/random.js';
import { KeyrollError } from './errors.js';
import type { RandomSource } from './types.js';

// Production source: node:crypto's CSPRNG (src/crypto/random.ts).
export const cryptoRandomSource: RandomSource = (lengthBytes) => randomBytes(lengthBytes);

export function draw(random: RandomSource, lengthBytes: number): Uint8Array {
  const b = random(lengthBytes);
  if (b.length !== lengthBytes) {
    throw new KeyrollError('keyroll.bad-random-source', `random source returned ${b.length} bytes, ${lengthBytes} requested`);
  }
  return b;
}

export function drawUint32(random: RandomSource): number {
  const b = draw(random, 4);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

// A first message ID: random, so that IDs of an earlier life of the same agent (before a
// restart that lost its state) almost never match the one now outstanding.
export function drawMessageId(random: RandomSource): number {
  for (;;) {
    const id = drawUint32(random);
    if (id !== 0) return id;
  }
}

export function nextMessageId(id: number): number {
  return id === 0xffff_ffff ? 1 : id + 1;
}
