// The 'unknown-spi' data-plane event (dataplane.ts) for every backend: ESP for an SPI the
// SAD does not hold is reported to the key plane at most once a second per remote address
// (the packet is unauthenticated), and the per-address memory is a bounded cache.
import type { DataPlaneEvent } from './dataplane.js';

const REPORT_INTERVAL_MS = 1000;
const MAX_ADDRESSES = 4096;

export class UnknownSpiReports {
  private readonly last = new Map<string, number>();

  // The event to emit for this dropped packet, or null (rate-limited, or too short to
  // name an SPI). `esp` starts at the SPI.
  report(esp: Uint8Array, remoteAddress: string, nowMs: number): Extract<DataPlaneEvent, { type: 'unknown-spi' }> | null {
    if (esp.length < 4) return null;
    const last = this.last.get(remoteAddress);
    if (last !== undefined && nowMs - last < REPORT_INTERVAL_MS && nowMs >= last) return null;
    if (this.last.size >= MAX_ADDRESSES) this.last.clear();
    this.last.set(remoteAddress, nowMs);
    const spi = ((esp[0]! << 24) | (esp[1]! << 16) | (esp[2]! << 8) | esp[3]!) >>> 0;
    return { type: 'unknown-spi', spi, remoteAddress, atMs: nowMs };
  }
}
