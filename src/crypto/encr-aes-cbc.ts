// ENCR_AES_CBC (IANA ENCR 12), RFC 3602. The IV is the 16-byte explicit IV carried in
// each ESP packet (RFC 3602 §3); no padding is added here because ESP already pads the
// plaintext to the block size (RFC 4303 §2.4), so OpenSSL's PKCS#7 padding is disabled.
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { CryptoError, ENCR, type EncryptionContext, type EncryptionTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';
import { importSecretKey, requireLength } from './key-import.js';

const BLOCK_BYTES = 16;

export type AesKeyBits = 128 | 192 | 256;

function requireAligned(name: string, what: string, length: number): void {
  if (length % BLOCK_BYTES !== 0) {
    throw new CryptoError(CryptoErrorCode.ALIGNMENT, `${name}: ${what} length ${length} is not a multiple of ${BLOCK_BYTES}`);
  }
}

class AesCbcContext implements EncryptionContext {
  private readonly key: KeyObject;

  constructor(
    private readonly name: string,
    private readonly algorithm: string,
    keyMaterial: Uint8Array,
    keyBytes: number,
  ) {
    this.key = importSecretKey(name, keyMaterial, keyBytes);
  }

  encrypt(iv: Uint8Array, _aad: Uint8Array, plaintext: Uint8Array): Buffer {
    requireLength(`${this.name} IV`, iv.length, BLOCK_BYTES, CryptoErrorCode.IV_LENGTH);
    requireAligned(this.name, 'plaintext', plaintext.length);
    const cipher = createCipheriv(this.algorithm, this.key, iv).setAutoPadding(false);
    const out = cipher.update(plaintext);
    const tail = cipher.final(); // empty: input is block aligned and padding is off
    return tail.length === 0 ? out : Buffer.concat([out, tail]);
  }

  encryptTo(iv: Uint8Array, _aad: Uint8Array, parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): number {
    requireLength(`${this.name} IV`, iv.length, BLOCK_BYTES, CryptoErrorCode.IV_LENGTH);
    let length = 0;
    for (const p of parts) length += p.length;
    requireAligned(this.name, 'plaintext', length);
    if (outOffset < 0 || outOffset + length > out.length) {
      throw new CryptoError(CryptoErrorCode.OUTPUT_LENGTH, `${this.name}: output buffer too small`);
    }
    const cipher = createCipheriv(this.algorithm, this.key, iv).setAutoPadding(false);
    let at = outOffset;
    for (const p of parts) {
      const body = cipher.update(p); // a part need not be block aligned: OpenSSL carries the rest
      out.set(body, at);
      at += body.length;
    }
    cipher.final(); // empty: the total is block aligned and padding is off
    return length;
  }

  decrypt(iv: Uint8Array, _aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    requireLength(`${this.name} IV`, iv.length, BLOCK_BYTES, CryptoErrorCode.IV_LENGTH);
    requireAligned(this.name, 'ciphertext', ciphertext.length);
    const decipher = createDecipheriv(this.algorithm, this.key, iv).setAutoPadding(false);
    const out = decipher.update(ciphertext);
    const tail = decipher.final();
    return tail.length === 0 ? out : Buffer.concat([out, tail]);
  }
}

export function aesCbcTransform(keyBits: AesKeyBits): EncryptionTransform {
  const name = `aes${keyBits}`;
  const algorithm = `aes-${keyBits}-cbc`;
  const keyBytes = keyBits / 8;
  return {
    id: ENCR.AES_CBC,
    name,
    keyBits,
    keyMaterialBytes: keyBytes, // RFC 3602 has no salt
    ivBytes: BLOCK_BYTES,
    blockBytes: BLOCK_BYTES,
    icvBytes: 0,
    aead: false,
    testOnly: false,
    createContext: (keyMaterial) => new AesCbcContext(name, algorithm, keyMaterial, keyBytes),
  };
}
