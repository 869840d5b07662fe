// Constant-time comparison of secret byte strings (MACs, ICVs, keys).
import { timingSafeEqual } from 'node:crypto';

// True when `a` and `b` hold the same bytes. The time taken depends only on the lengths,
// never on the content: with unequal lengths no byte of `b` is read at all (a length is
// public in every protocol here: ICV sizes come from the SA), and with equal lengths
// crypto.timingSafeEqual compares every byte.
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    // Spend comparable work so that a length mismatch is not a much faster path.
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
