// Random explicit IVs for CBC (RFC 3602 §3: the IV "MUST be chosen at random" and be
// unpredictable). One randomFill call per packet costs more than the copy, so IVs are cut
// from a pool refilled from the CSPRNG in large blocks. Bytes are never handed out twice:
// every take() advances past what it copied.
import { randomFill } from '../crypto/random.js';

export class RandomPool {
  private readonly pool: Buffer;
  private offset: number;

  constructor(poolBytes = 16 * 1024) {
    this.pool = Buffer.allocUnsafe(poolBytes);
    this.offset = poolBytes; // empty: filled on first use
  }

  // Copies `length` fresh random bytes into out[at..].
  fill(out: Uint8Array, at: number, length: number): void {
    if (length > this.pool.length) {
      randomFill(out.subarray(at, at + length));
      return;
    }
    if (this.offset + length > this.pool.length) {
      randomFill(this.pool);
      this.offset = 0;
    }
    this.pool.copy(out, at, this.offset, this.offset + length);
    // Wipe what was handed out so a later bug cannot hand the same bytes out again.
    this.pool.fill(0, this.offset, this.offset + length);
    this.offset += length;
  }
}

// One process-wide pool shared by every SA: IVs only need to be unpredictable, not
// per-SA, and a single pool keeps memory flat with thousands of SAs.
export const ivPool = new RandomPool();
