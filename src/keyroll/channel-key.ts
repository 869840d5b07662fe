// One key of the channel as one end holds it: the 32-byte key, the SPI that names it
// (seed 004: "every protected packet carries an SPI naming the key used"), the outbound
// sequence counter, the inbound anti-replay window, and the two ESP contexts derived from
// it (kdf.ts: one per direction). Contexts and window are built on first use, so a
// controller with many receivers pays only for the keys that carry traffic.
import { createSaCrypto, type SaCrypto } from '../ipsec/sa-crypto.js';
import { ReplayWindow } from '../ipsec/replay.js';
import { ENCR } from '../crypto/index.js';
import { deriveEspKeyMaterial, keyFingerprint, type Direction } from './kdf.js';
import type { KeyView } from './types.js';

// Outbound sequence numbers are persisted in blocks: the durable state records a value
// this far ahead, and a restored key continues from there, so a restart without key
// loss never sends a sequence number twice (which the peer's window would drop).
export const SEQUENCE_RESERVE = 1024;
const MAX_SEQUENCE = 0xffff_ffff; // 32-bit sequence numbers, no ESN (RFC 4303 §2.2)

function channelSaCrypto(spi: number, keyMaterial: Uint8Array, direction: 'in' | 'out'): SaCrypto {
  // createSaCrypto reads only the SPI, ESN flag and algorithms; the rest of an SaConfig
  // describes data-plane placement, which a control channel does not have.
  return createSaCrypto({
    spi,
    direction,
    mode: 'transport',
    localAddress: '0.0.0.0',
    remoteAddress: '0.0.0.0',
    encryption: { id: ENCR.AES_GCM_16, keyBits: 256, keyMaterial },
    esn: false,
    replayWindow: 0,
    lifetime: { soft: {}, hard: {} },
    selector: {},
  });
}

export class ChannelKey {
  readonly fingerprint: string;
  private outCrypto: SaCrypto | null = null;
  private inCrypto: SaCrypto | null = null;
  private window: ReplayWindow | null = null;
  sendSeq = 0; // last sequence number sent
  sendSeqReserved = 0; // durable upper bound of sendSeq

  constructor(
    readonly material: Uint8Array,
    readonly spi: number,
    readonly generation: number, // 0 = the init key
    readonly isInit: boolean,
    private readonly outDirection: Direction,
    private readonly windowSize: number,
  ) {
    this.fingerprint = keyFingerprint(material);
  }

  outbound(): SaCrypto {
    if (this.outCrypto === null) {
      this.outCrypto = channelSaCrypto(this.spi, deriveEspKeyMaterial(this.material, this.spi, this.outDirection), 'out');
    }
    return this.outCrypto;
  }

  inbound(): SaCrypto {
    if (this.inCrypto === null) {
      const dir: Direction = this.outDirection === 's2r' ? 'r2s' : 's2r';
      this.inCrypto = channelSaCrypto(this.spi, deriveEspKeyMaterial(this.material, this.spi, dir), 'in');
    }
    return this.inCrypto;
  }

  replayWindow(): ReplayWindow {
    if (this.window === null) this.window = new ReplayWindow(this.windowSize, false);
    return this.window;
  }

  // Highest authenticated inbound sequence number (0 before the first).
  receiveTop(): number {
    return this.window === null ? 0 : this.window.top[1];
  }

  // A window that treats everything up to `top` as already received: used when a key is
  // restored from durable state, so packets from before the restart cannot be replayed.
  restoreReceiveTop(top: number): void {
    const w = new ReplayWindow(this.windowSize, false);
    if (top > 0) w.commit(0, top);
    this.window = top > 0 ? w.resized(this.windowSize) : w;
  }

  resetReceiveWindow(): void {
    this.window = null;
  }

  // The next outbound sequence number, or null when the 32-bit space is used up (the key
  // must not send again, RFC 4303 §3.3.3). `persist` says the reservation moved.
  nextSequence(): { seq: number; persist: boolean } | null {
    if (this.sendSeq >= MAX_SEQUENCE) return null;
    this.sendSeq += 1;
    if (this.sendSeq <= this.sendSeqReserved) return { seq: this.sendSeq, persist: false };
    this.sendSeqReserved = Math.min(MAX_SEQUENCE, this.sendSeq + SEQUENCE_RESERVE);
    return { seq: this.sendSeq, persist: true };
  }

  view(): KeyView {
    return { role: this.isInit ? 'init' : 'dynamic', generation: this.generation, spi: this.spi, fingerprint: this.fingerprint };
  }
}
