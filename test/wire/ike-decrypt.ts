// Test-side SK protection for the stored strongSwan capture, with node:crypto directly (the
// wire layer has no cryptography; the SK layer is src/ike's). The captured IKE SAs use
// aes128-sha256: ENCR_AES_CBC with a 128-bit key (RFC 3602: 16-byte IV) and
// AUTH_HMAC_SHA2_256_128 (RFC 4868: 16-byte ICV). RFC 7296 §3.14: the body is
// IV | ciphertext | ICV; the ICV covers the message from the IKE header to the end of the
// ciphertext; the plaintext is inner payloads | padding | Pad Length (1 octet).
import { createDecipheriv, createHmac } from 'node:crypto';

export const IV_BYTES = 16;
export const ICV_BYTES = 16;

export interface IkeSaKeys {
  readonly initiatorSpi: string; // hex
  readonly responderSpi: string;
  readonly skEi: string; // hex, as strongSwan logged them
  readonly skEr: string;
  readonly skAi: string;
  readonly skAr: string;
  readonly skPi: string; // for checking AUTH (RFC 7296 §2.15)
  readonly skPr: string;
}

// True when the last ICV_BYTES of `message` are HMAC-SHA-256-128(key, the bytes before).
export function icvValid(message: Uint8Array, integrityKey: Uint8Array): boolean {
  if (message.length < ICV_BYTES) return false;
  const mac = createHmac('sha256', integrityKey).update(message.subarray(0, message.length - ICV_BYTES)).digest();
  return Buffer.compare(mac.subarray(0, ICV_BYTES), Buffer.from(message.subarray(message.length - ICV_BYTES))) === 0;
}

// The inner payload bytes of an SK/SKF body (padding and Pad Length removed).
export function decryptBody(body: Uint8Array, encryptionKey: Uint8Array): Uint8Array {
  const iv = body.subarray(0, IV_BYTES);
  const ct = body.subarray(IV_BYTES, body.length - ICV_BYTES);
  const d = createDecipheriv('aes-128-cbc', encryptionKey, iv);
  d.setAutoPadding(false); // IKE padding is not PKCS#7
  const pt = Buffer.concat([d.update(ct), d.final()]);
  const padLength = pt[pt.length - 1]!;
  if (padLength + 1 > pt.length) throw new Error(`pad length ${padLength} exceeds the ${pt.length}-byte plaintext`);
  return new Uint8Array(pt.subarray(0, pt.length - 1 - padLength));
}

export function keysFor(message: { initiator: boolean }, keys: IkeSaKeys): { enc: Uint8Array; integ: Uint8Array } {
  const h = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
  // RFC 7296 §2.14: SK_ei/SK_ai protect what the original initiator sends.
  return message.initiator ? { enc: h(keys.skEi), integ: h(keys.skAi) } : { enc: h(keys.skEr), integ: h(keys.skAr) };
}
