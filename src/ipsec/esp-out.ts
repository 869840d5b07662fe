// Outbound ESP (RFC 4303 §3.3): one protected payload into one ESP packet, from the SPI
// to the ICV, written into a single output buffer sized up front.
//
//   SPI | Seq low | IV | E(payload | padding | pad length | next header) | ICV
//
// AEAD (RFC 4106, RFC 7634): the explicit IV is the 64-bit sequence number (unique per
// key, which is all the nonce needs: RFC 4106 §3.1 and §8.1 allow a counter), AAD is
// SPI || seq (8 bytes) or SPI || seq high || seq low (12 bytes) with ESN (RFC 4106 §5,
// RFC 7634 §2.1). Plain cipher + HMAC: the IV is random (RFC 3602 §3) and the ICV covers
// SPI .. next header, with the ESN high half appended to the ICV input only (RFC 4303
// §2.2.1, §3.3.2.1).
import { ESP_HEADER_BYTES, ESP_TRAILER_MIN_BYTES, espPaddingLength, writeEspHeader, writeEspTrailer } from '../wire/esp.js';
import { ivPool } from './iv-pool.js';
import type { SaCrypto } from './sa-crypto.js';

const EMPTY = new Uint8Array(0);

// Bytes of the ESP packet that espSeal produces for a payload of `payloadBytes`.
export function espSealedLength(c: SaCrypto, payloadBytes: number): number {
  const pad = espPaddingLength(payloadBytes, c.blockBytes);
  return ESP_HEADER_BYTES + c.ivBytes + payloadBytes + pad + ESP_TRAILER_MIN_BYTES + c.icvBytes;
}

// Seals `payload` (an inner IP packet in tunnel mode, a transport segment in transport
// mode; `nextHeader` says which) with sequence number seqHigh:seqLow. `iv` overrides the
// explicit IV: only test vectors need that, real traffic lets the SA choose.
export function espSeal(
  c: SaCrypto,
  payload: Uint8Array,
  nextHeader: number,
  seqHigh: number,
  seqLow: number,
  iv?: Uint8Array,
): Buffer {
  const pad = espPaddingLength(payload.length, c.blockBytes);
  const ptOff = ESP_HEADER_BYTES + c.ivBytes;
  const ptLen = payload.length + pad + ESP_TRAILER_MIN_BYTES;
  const out = Buffer.allocUnsafe(ptOff + ptLen + c.icvBytes);
  writeEspHeader(out, 0, c.spi, seqLow);
  if (iv !== undefined) {
    if (iv.length !== c.ivBytes) throw new RangeError(`IV of ${iv.length} bytes, ${c.name} needs ${c.ivBytes}`);
    out.set(iv, ESP_HEADER_BYTES);
  } else if (c.aead && c.ivBytes === 8) {
    out.writeUInt32BE(seqHigh >>> 0, ESP_HEADER_BYTES);
    out.writeUInt32BE(seqLow >>> 0, ESP_HEADER_BYTES + 4);
  } else if (c.ivBytes > 0) {
    ivPool.fill(out, ESP_HEADER_BYTES, c.ivBytes);
  }
  // Payload, padding and trailer are laid out in the packet buffer and encrypted in place
  // with one cipher call: measured cheaper than a second update() call for the trailer.
  out.set(payload, ptOff);
  writeEspTrailer(out, ptOff + payload.length, pad, nextHeader);
  const ivView = out.subarray(ESP_HEADER_BYTES, ptOff);
  const parts = [out.subarray(ptOff, ptOff + ptLen)];
  if (c.aead) {
    let aad: Uint8Array;
    if (c.esn) {
      c.aad12.writeUInt32BE(seqHigh >>> 0, 4);
      c.aad12.writeUInt32BE(seqLow >>> 0, 8);
      aad = c.aad12;
    } else {
      aad = out.subarray(0, ESP_HEADER_BYTES);
    }
    // ciphertext || tag, exactly ptLen + icvBytes: the rest of the packet.
    c.enc.encryptTo(ivView, aad, parts, out, ptOff);
    return out;
  }
  c.enc.encryptTo(ivView, EMPTY, parts, out, ptOff);
  if (c.integ !== null) {
    const covered = out.subarray(0, ptOff + ptLen);
    let icv: Buffer;
    if (c.esn) {
      c.seqHigh4.writeUInt32BE(seqHigh >>> 0, 0);
      icv = c.integ.compute(covered, c.seqHigh4);
    } else {
      icv = c.integ.compute(covered);
    }
    icv.copy(out, ptOff + ptLen);
  }
  return out;
}
