// Deterministic pseudo-random numbers for the simulator: xoshiro128** 1.1 (Blackman and
// Vigna, https://prng.di.unimi.it/xoshiro128starstar.c), 128-bit state, 32-bit output,
// seeded from a 64-bit seed with SplitMix64 (https://prng.di.unimi.it/splitmix64.c) as
// its authors recommend. NOT for keys: production randomness is node:crypto's CSPRNG.
//
// `fork(label)` derives an independent stream from the seed and a label (not from how
// much was drawn so far), so adding a node or a draw in one place does not reshuffle
// every other node's randomness.

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

// One SplitMix64 step: returns [output, next state].
export function splitmix64(state: bigint): [bigint, bigint] {
  const next = (state + GOLDEN_GAMMA) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [z ^ (z >> 31n), next];
}

// FNV-1a 64 of a UTF-8 label (to turn fork labels into seed offsets).
function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export type Xoshiro128State = [number, number, number, number];

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(
    state: Xoshiro128State,
    readonly seed: bigint,
  ) {
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w >>> 0) as Xoshiro128State;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) throw new RangeError('xoshiro128** state must not be all zero');
  }

  static fromSeed(seed: number | bigint): Prng {
    const s = BigInt.asUintN(64, BigInt(seed));
    const [a, st] = splitmix64(s);
    const [b] = splitmix64(st);
    const words: Xoshiro128State = [Number(a & 0xffffffffn), Number(a >> 32n), Number(b & 0xffffffffn), Number(b >> 32n)];
    return new Prng(words, s);
  }

  // Exactly this state (test vectors).
  static fromState(state: Xoshiro128State): Prng {
    return new Prng(state, 0n);
  }

  state(): Xoshiro128State {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  fork(label: string): Prng {
    return Prng.fromSeed(splitmix64(this.seed ^ fnv1a64(label))[0]);
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  float(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  // Uniform integer in [0, n), n in 1..2^32, without modulo bias (rejection sampling).
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x1_0000_0000) throw new RangeError(`int(${n}): n must be 1..2^32`);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  // Uniform integer in [min, max] (inclusive).
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return p > 0 && (p >= 1 || this.float() < p);
  }

  bytes(n: number): Uint8Array {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.nextUint32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (w >>> (8 * j)) & 0xff;
    }
    return out;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }
}
