// Inbound ESP (RFC 4303 §3.4): length checks and ICV verification + decryption of one
// packet. Replay handling and trailer parsing are the caller's next steps, in the order
// RFC 4303 §3.4.3 requires (the window moves only after the ICV verified).
import { ESP_HEADER_BYTES, ESP_TRAILER_MIN_BYTES } from '../wire/esp.js';
import type { SaCrypto } from './sa-crypto.js';

const EMPTY = new Uint8Array(0);

// Why a packet is too short or misaligned for this SA, or null when its length is fine.
// 'truncated': not even IV + minimal trailer + ICV. 'bad-length': a block cipher's
// ciphertext that is not a whole number of blocks (RFC 4303 §2.4, RFC 3602 §2.4).
export function espLengthProblem(c: SaCrypto, length: number): 'truncated' | 'bad-length' | null {
  const body = length - ESP_HEADER_BYTES - c.ivBytes - c.icvBytes;
  if (body < ESP_TRAILER_MIN_BYTES) return 'truncated';
  // Only real block ciphers need alignment to decrypt; AEAD/NULL are length-preserving.
  if (!c.aead && c.ivBytes > 0 && body % c.blockBytes !== 0) return 'bad-length';
  return null;
}

// Verifies the ICV (or AEAD tag) of `esp` (SPI .. ICV, length already checked) assuming
// the sequence number's high half is `seqHigh`, and returns the decrypted plaintext
// (payload | padding | pad length | next header). Returns null when authentication
// fails; nothing is decrypted for a plain cipher before its ICV verified.
export function espOpen(c: SaCrypto, esp: Uint8Array, seqHigh: number): Buffer | null {
  const ctOff = ESP_HEADER_BYTES + c.ivBytes;
  const iv = esp.subarray(ESP_HEADER_BYTES, ctOff);
  if (c.aead) {
    let aad: Uint8Array;
    if (c.esn) {
      c.aad12.writeUInt32BE(seqHigh >>> 0, 4);
      c.aad12[8] = esp[4]!;
      c.aad12[9] = esp[5]!;
      c.aad12[10] = esp[6]!;
      c.aad12[11] = esp[7]!;
      aad = c.aad12;
    } else {
      aad = esp.subarray(0, ESP_HEADER_BYTES);
    }
    return c.enc.decrypt(iv, aad, esp.subarray(ctOff));
  }
  const icvOff = esp.length - c.icvBytes;
  if (c.integ !== null) {
    const covered = esp.subarray(0, icvOff);
    const icv = esp.subarray(icvOff);
    let ok: boolean;
    if (c.esn) {
      c.seqHigh4.writeUInt32BE(seqHigh >>> 0, 0);
      ok = c.integ.verify(icv, covered, c.seqHigh4);
    } else {
      ok = c.integ.verify(icv, covered);
    }
    if (!ok) return null;
  }
  return c.enc.decrypt(iv, EMPTY, esp.subarray(ctOff, icvOff));
}
