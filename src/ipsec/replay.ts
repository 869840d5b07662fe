// Inbound anti-replay window (RFC 4303 §3.4.3) with 64-bit extended sequence number
// inference (RFC 4303 §2.2.1 and Appendix A), stored as the RFC 6479 ring of bitmap
// blocks so that a jump ahead clears whole 32-bit words instead of shifting bits.
//
// The window is used in two phases because its state may change only for packets whose
// ICV verified (RFC 4303 §3.4.3): `check(seqLow)` runs before decryption and returns the
// inferred high 32 bits (or a negative rejection code); `commit(seqHigh, seqLow)` runs
// after the ICV checked out. A forged packet therefore never moves the window.
//
// Sequence numbers are kept as two uint32 halves: a 64-bit value does not fit a double
// exactly, and BigInt would allocate on every packet.

export const REPLAY_DUPLICATE = -1; // already received inside the window
export const REPLAY_TOO_OLD = -2; // left of the window
export const REPLAY_ZERO = -3; // sequence number 0 is never sent (RFC 4303 §3.3.3)
export const REPLAY_WRAPPED = -4; // would need a high half beyond 2^32-1 (the 64-bit space is used up)

export type ReplayRejection = typeof REPLAY_DUPLICATE | typeof REPLAY_TOO_OLD | typeof REPLAY_ZERO | typeof REPLAY_WRAPPED;

export function replayRejectionName(code: number): string {
  switch (code) {
    case REPLAY_DUPLICATE:
      return 'duplicate';
    case REPLAY_TOO_OLD:
      return 'too-old';
    case REPLAY_ZERO:
      return 'zero';
    default:
      return 'wrapped';
  }
}

export const MIN_REPLAY_WINDOW = 32; // RFC 4303 §3.4.3: "a minimum window size of 32 packets MUST be supported"
export const MAX_REPLAY_WINDOW = 65536;
export const DEFAULT_REPLAY_WINDOW = 1024;

const TWO_32 = 0x1_0000_0000;
// With anti-replay disabled there is no window to guide ESN inference; pick the high half
// that puts the packet closest to the highest one seen (half the 32-bit space each way).
const INFERENCE_WINDOW_WITHOUT_REPLAY = 0x8000_0000;

// Valid sizes: 0 (anti-replay disabled) or MIN..MAX packets. Any size in that range works;
// the bitmap is rounded up internally but the window enforced is exactly `size`.
export function isValidReplayWindowSize(size: number): boolean {
  return size === 0 || (Number.isInteger(size) && size >= MIN_REPLAY_WINDOW && size <= MAX_REPLAY_WINDOW);
}

export class ReplayWindow {
  readonly size: number; // packets; 0 = anti-replay disabled (still infers ESN high bits)
  readonly esn: boolean;
  // Highest authenticated sequence number so far; 0/0 until the first packet.
  private topHi = 0;
  private topLo = 0;
  private readonly bitmap: Uint32Array; // RFC 6479 ring of 32-bit blocks
  private readonly blockMask: number; // blocks - 1 (blocks is a power of two)
  private readonly bitMask: number; // blocks * 32 - 1
  private readonly inferenceWindow: number;

  constructor(size: number, esn: boolean) {
    if (!isValidReplayWindowSize(size)) throw new RangeError(`replay window ${size} not 0 or ${MIN_REPLAY_WINDOW}..${MAX_REPLAY_WINDOW}`);
    this.size = size;
    this.esn = esn;
    // RFC 6479 §2: (blocks - 1) * 32 bits must cover the window, so that the block holding
    // the top can be cleared for reuse while the rest still covers `size` older packets.
    let blocks = 2;
    while ((blocks - 1) * 32 < size) blocks *= 2;
    this.bitmap = new Uint32Array(size === 0 ? 1 : blocks);
    this.blockMask = size === 0 ? 0 : blocks - 1;
    this.bitMask = size === 0 ? 0 : blocks * 32 - 1;
    this.inferenceWindow = size === 0 ? INFERENCE_WINDOW_WITHOUT_REPLAY : size;
  }

  // Highest authenticated sequence number as [high, low] halves.
  get top(): readonly [number, number] {
    return [this.topHi, this.topLo];
  }

  // Before decryption: returns the high 32 bits to assume for `seqLow` (>= 0), or a
  // negative REPLAY_* code. Never changes state.
  check(seqLow: number): number {
    seqLow >>>= 0;
    let hi = 0;
    if (this.esn) {
      // RFC 4303 Appendix A2.2: Tl/Th = low/high halves of the top, W = window size.
      const w = this.inferenceWindow;
      const tl = this.topLo;
      const th = this.topHi;
      if (tl >= w - 1) {
        // Case A: the window lies within one 2^32 subspace.
        if (seqLow >= tl - w + 1) hi = th;
        else if (th === 0xffff_ffff) return REPLAY_WRAPPED;
        else hi = th + 1;
      } else {
        // Case B: the window spans two subspaces; a low value near 2^32 belongs to the
        // previous one. Before the first subspace there is nothing, so it is a jump ahead.
        hi = seqLow >= tl - w + 1 + TWO_32 && th > 0 ? th - 1 : th;
      }
    }
    if (hi === 0 && seqLow === 0) return REPLAY_ZERO;
    if (this.size === 0) return hi;
    if (hi > this.topHi || (hi === this.topHi && seqLow > this.topLo)) return hi; // ahead of the window
    const behind = (this.topHi - hi) * TWO_32 + (this.topLo - seqLow);
    if (behind >= this.size) return REPLAY_TOO_OLD;
    const bit = seqLow & this.bitMask;
    if ((this.bitmap[bit >>> 5]! & (1 << (bit & 31))) !== 0) return REPLAY_DUPLICATE;
    return hi;
  }

  // After the ICV verified: record the packet and slide the window if it is ahead.
  commit(seqHigh: number, seqLow: number): void {
    seqHigh >>>= 0;
    seqLow >>>= 0;
    const ahead = seqHigh > this.topHi || (seqHigh === this.topHi && seqLow > this.topLo);
    if (this.size === 0) {
      if (ahead) {
        this.topHi = seqHigh;
        this.topLo = seqLow;
      }
      return;
    }
    if (ahead) {
      // RFC 6479 §2.2: clear every block between the old top's block and the new one.
      const blocks = this.blockMask + 1;
      const blockDiff = (seqHigh - this.topHi) * (TWO_32 / 32) + ((seqLow >>> 5) - (this.topLo >>> 5));
      if (blockDiff >= blocks) {
        this.bitmap.fill(0);
      } else {
        let index = (this.topLo >>> 5) & this.blockMask;
        for (let i = 0; i < blockDiff; i++) {
          index = (index + 1) & this.blockMask;
          this.bitmap[index] = 0;
        }
      }
      this.topHi = seqHigh;
      this.topLo = seqLow;
    } else {
      const behind = (this.topHi - seqHigh) * TWO_32 + (this.topLo - seqLow);
      if (behind >= this.size) return; // outside the window: nothing to record
    }
    const bit = seqLow & this.bitMask;
    this.bitmap[bit >>> 5]! |= 1 << (bit & 31);
  }

  // A new window of another size that treats everything up to the current top as seen
  // (used when an SA update changes the window size: conservative, never re-opens).
  resized(size: number): ReplayWindow {
    const next = new ReplayWindow(size, this.esn);
    next.topHi = this.topHi;
    next.topLo = this.topLo;
    if (size === 0) return next;
    // Mark exactly the positions top-size+1 .. top; bits above the top must stay clear
    // because check() treats "ahead of top" without looking at the bitmap.
    let lo = this.topLo;
    let hi = this.topHi;
    for (let i = 0; i < size && (hi > 0 || lo > 0); i++) {
      const bit = lo & next.bitMask;
      next.bitmap[bit >>> 5]! |= 1 << (bit & 31);
      if (lo === 0) {
        hi -= 1;
        lo = 0xffff_ffff;
      } else {
        lo -= 1;
      }
    }
    return next;
  }
}
