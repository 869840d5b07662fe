// ENCR_NULL (IANA ENCR 11), RFC 2410: the "ciphertext" is the plaintext. For tests and
// packet captures only; the registry hands it out only with {allowTestOnly: true}.
import { CryptoError, ENCR, type EncryptionContext, type EncryptionTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';
import { requireLength } from './key-import.js';

class NullContext implements EncryptionContext {
  encrypt(iv: Uint8Array, _aad: Uint8Array, plaintext: Uint8Array): Buffer {
    requireLength('null IV', iv.length, 0, CryptoErrorCode.IV_LENGTH);
    return Buffer.from(plaintext); // a copy, like every other transform returns fresh memory
  }

  encryptTo(iv: Uint8Array, _aad: Uint8Array, parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): number {
    requireLength('null IV', iv.length, 0, CryptoErrorCode.IV_LENGTH);
    // Copy through a fresh buffer so that overlapping parts and output stay correct.
    const plaintext = Buffer.concat(parts);
    if (outOffset < 0 || outOffset + plaintext.length > out.length) {
      throw new CryptoError(CryptoErrorCode.OUTPUT_LENGTH, 'null: output buffer too small');
    }
    out.set(plaintext, outOffset);
    return plaintext.length;
  }

  decrypt(iv: Uint8Array, _aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    requireLength('null IV', iv.length, 0, CryptoErrorCode.IV_LENGTH);
    return Buffer.from(ciphertext);
  }
}

export function nullTransform(): EncryptionTransform {
  return {
    id: ENCR.NULL,
    name: 'null',
    keyBits: 0,
    keyMaterialBytes: 0,
    ivBytes: 0, // RFC 2410 §2: no IV
    blockBytes: 4, // RFC 2410 block size 1; ESP still aligns its trailer to 4 (RFC 4303 §2.4)
    icvBytes: 0,
    aead: false,
    testOnly: true,
    createContext: (keyMaterial) => {
      requireLength('null key material', keyMaterial.length, 0, CryptoErrorCode.KEY_LENGTH);
      return new NullContext();
    },
  };
}
