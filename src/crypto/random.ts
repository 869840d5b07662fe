// CSPRNG helpers. Everything comes from node:crypto's randomBytes / randomFillSync
// (OpenSSL's DRBG); there is no other source of randomness in keyplane.
import { randomBytes as nodeRandomBytes, randomFillSync } from 'node:crypto';
import { CryptoError } from './types.js';
import { CryptoErrorCode } from './error-codes.js';

const UINT32_RANGE = 0x1_0000_0000; // 2^32

// `lengthBytes` fresh random bytes.
export function randomBytes(lengthBytes: number): Buffer {
  if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
    throw new CryptoError(CryptoErrorCode.BAD_ARGUMENT, `randomBytes: length must be a non-negative integer, got ${lengthBytes}`);
  }
  return nodeRandomBytes(lengthBytes);
}

// Fills `target` with random bytes in place and returns it.
export function randomFill<T extends Uint8Array>(target: T): T {
  randomFillSync(target);
  return target;
}

// A source of uniformly random 32-bit words; injectable so tests can drive the
// rejection loop deterministically.
export type Uint32Source = () => number;

const word = Buffer.alloc(4);
const csprngUint32: Uint32Source = () => {
  randomFillSync(word);
  return word.readUInt32BE(0);
};

// A uniformly distributed integer in [minInclusive, maxInclusive], both uint32.
// Rejection sampling: draws falling in the final partial copy of the range are thrown
// away, so `x % range` has no modulo bias.
export function randomUint32InRange(minInclusive: number, maxInclusive: number, source: Uint32Source = csprngUint32): number {
  if (
    !Number.isInteger(minInclusive) ||
    !Number.isInteger(maxInclusive) ||
    minInclusive < 0 ||
    maxInclusive > 0xffff_ffff ||
    minInclusive > maxInclusive
  ) {
    throw new CryptoError(
      CryptoErrorCode.BAD_ARGUMENT,
      `randomUint32InRange: need integers 0 <= min <= max <= 4294967295, got [${minInclusive}, ${maxInclusive}]`,
    );
  }
  const range = maxInclusive - minInclusive + 1; // 1 .. 2^32
  // Largest multiple of `range` that fits in 2^32; draws at or above it are rejected.
  const limit = UINT32_RANGE - (UINT32_RANGE % range);
  for (;;) {
    const x = source();
    if (x < limit) return minInclusive + (x % range);
  }
}

// A random SPI for a new inbound SA: RFC 4303 §2.1 reserves 1..255 (and 0 is never sent).
export function randomSpi(): number {
  return randomUint32InRange(256, 0xffff_ffff);
}
