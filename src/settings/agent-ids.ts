// Request IDs and inbound SPIs for setting requests (seed 000 S42: "an ID that does not
// collide with other request messages" and "the SPI the device intends to use"; S48: values
// outside the content-mismatch entry list). Drawn from the injected RandomSource so the
// simulator is deterministic and production uses the CSPRNG.
import type { RandomSource } from './types.js';
import { MAX_SPI, MIN_SPI } from './agent-sa.js';

// Random draws before falling back to probing upwards from the last draw; the fallback
// only matters for a degenerate RandomSource (e.g. constant bytes in a test) and keeps
// the choice terminating whatever the source does.
const DRAWS = 16;

function drawUint32(random: RandomSource): number {
  const b = random(4);
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

function pick(random: RandomSource, min: number, max: number, taken: (v: number) => boolean): number {
  let v = min;
  for (let i = 0; i < DRAWS; i++) {
    v = drawUint32(random);
    if (v >= min && v <= max && !taken(v)) return v;
  }
  // Probe: the sets of taken values are finite and far smaller than the range.
  for (let n = 0; n <= max - min; n++) {
    const c = min + ((Math.max(v, min) - min + n) % (max - min + 1));
    if (!taken(c)) return c;
  }
  return min; // unreachable: every value of a 2^32 range taken
}

// A request ID: uint32, never 0 (the contract's range is 1..2^32-1).
export function pickRequestId(random: RandomSource, taken: (id: number) => boolean): number {
  return pick(random, 1, 0xffff_ffff, taken);
}

// An inbound SPI: 256..2^32-1 (RFC 4303 §2.1 reserves 0..255).
export function pickSpi(random: RandomSource, taken: (spi: number) => boolean): number {
  return pick(random, MIN_SPI, MAX_SPI, taken);
}
