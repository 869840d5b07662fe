// The ESP AEAD transforms, all built the same way: the keying material is the cipher key
// followed by a 4-byte salt, each packet carries an 8-byte explicit IV, and the 12-byte
// nonce is salt || IV.
//   ENCR_AES_GCM_8/12/16 (IANA ENCR 18/19/20): RFC 4106 §4 (nonce), §8.1 (key + salt),
//     ICV of 8, 12 or 16 bytes (§6).
//   ENCR_CHACHA20_POLY1305 (IANA ENCR 28): RFC 7634 §2 (nonce = salt || IV), §4 (32-byte
//     key + 4-byte salt), 16-byte tag (RFC 8439 §2.8).
// The ciphertext is returned as ciphertext || ICV, the ESP layout (RFC 4303 §2.8).
// Two implementations of the same contexts: AeadContext below (node:crypto, one cipher
// object per packet) and NativeAeadContext (native-aead.ts: one OpenSSL context per SA,
// reused per packet). The transforms use the native one when its addon loads, unless
// KEYPLANE_NATIVE_CRYPTO=0; aeadContext() picks one explicitly.
import {
  createCipheriv,
  createDecipheriv,
  type CipherChaCha20Poly1305Types,
  type CipherGCMTypes,
  type KeyObject,
} from 'node:crypto';
import { CryptoError, ENCR, type EncryptionContext, type EncryptionTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';
import { importSecretKey, requireLength } from './key-import.js';
import { NativeAeadContext, nativeAeadPreferred } from './native-aead.js';

const SALT_BYTES = 4;
const IV_BYTES = 8;
const NONCE_BYTES = SALT_BYTES + IV_BYTES;
// ESP itself needs the trailer 4-byte aligned (RFC 4303 §2.4); these ciphers have no block.
const ESP_ALIGN_BYTES = 4;

type AeadAlgorithm = CipherGCMTypes | CipherChaCha20Poly1305Types;

interface AeadSpec {
  readonly id: number;
  readonly name: string;
  readonly algorithm: AeadAlgorithm;
  readonly keyBits: number;
  readonly icvBytes: number;
}

class AeadContext implements EncryptionContext {
  private readonly key: KeyObject;
  private readonly salt: Buffer;
  private readonly keyBytes: number;

  constructor(
    private readonly spec: AeadSpec,
    keyMaterial: Uint8Array,
  ) {
    this.keyBytes = spec.keyBits / 8;
    requireLength(`${spec.name} key material`, keyMaterial.length, this.keyBytes + SALT_BYTES, CryptoErrorCode.KEY_LENGTH);
    this.key = importSecretKey(spec.name, keyMaterial.subarray(0, this.keyBytes), this.keyBytes);
    this.salt = Buffer.from(keyMaterial.subarray(this.keyBytes)); // copy: the caller may reuse its buffer
    this.salt.copy(this.nonceScratch, 0);
  }

  // One nonce buffer per context, salt pre-filled: createCipheriv copies the nonce, so
  // reusing it per packet is safe and saves an allocation on the hot path.
  private readonly nonceScratch = Buffer.alloc(NONCE_BYTES);

  private nonce(iv: Uint8Array): Buffer {
    requireLength(`${this.spec.name} IV`, iv.length, IV_BYTES, CryptoErrorCode.IV_LENGTH);
    this.nonceScratch.set(iv, SALT_BYTES);
    return this.nonceScratch;
  }

  private cipher(iv: Uint8Array, aad: Uint8Array, plaintextLength: number) {
    const options = { authTagLength: this.spec.icvBytes };
    const nonce = this.nonce(iv);
    const cipher =
      this.spec.algorithm === 'chacha20-poly1305'
        ? createCipheriv(this.spec.algorithm, this.key, nonce, options)
        : createCipheriv(this.spec.algorithm, this.key, nonce, options);
    cipher.setAAD(aad, { plaintextLength });
    return cipher;
  }

  encrypt(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(plaintext.length + this.spec.icvBytes);
    this.encryptTo(iv, aad, [plaintext], out, 0);
    return out;
  }

  encryptTo(iv: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): number {
    let length = 0;
    for (const p of parts) length += p.length;
    if (outOffset < 0 || outOffset + length + this.spec.icvBytes > out.length) {
      throw new CryptoError(CryptoErrorCode.OUTPUT_LENGTH, `${this.spec.name}: output buffer too small`);
    }
    const cipher = this.cipher(iv, aad, length);
    let at = outOffset;
    for (const p of parts) {
      const body = cipher.update(p); // stream ciphers: output length = input length
      out.set(body, at);
      at += body.length;
    }
    cipher.final(); // nothing buffered
    out.set(cipher.getAuthTag(), at);
    return length + this.spec.icvBytes;
  }

  decrypt(iv: Uint8Array, aad: Uint8Array, ciphertextAndIcv: Uint8Array): Buffer | null {
    const nonce = this.nonce(iv);
    const icvBytes = this.spec.icvBytes;
    // Too short to hold an ICV: it cannot authenticate, which is a bad tag, not a caller bug.
    if (ciphertextAndIcv.length < icvBytes) return null;
    const bodyBytes = ciphertextAndIcv.length - icvBytes;
    const options = { authTagLength: icvBytes };
    const decipher =
      this.spec.algorithm === 'chacha20-poly1305'
        ? createDecipheriv(this.spec.algorithm, this.key, nonce, options)
        : createDecipheriv(this.spec.algorithm, this.key, nonce, options);
    decipher.setAuthTag(ciphertextAndIcv.subarray(bodyBytes));
    decipher.setAAD(aad, { plaintextLength: bodyBytes });
    const plaintext = decipher.update(ciphertextAndIcv.subarray(0, bodyBytes));
    try {
      decipher.final(); // throws when the tag does not verify
    } catch {
      return null;
    }
    return plaintext;
  }
}

// Which implementation a context uses: `native: true` the addon (native-aead.ts; throws
// CryptoError when it is not built), `native: false` node:crypto (the AeadContext above),
// unset: the addon when it loads and KEYPLANE_NATIVE_CRYPTO is not 0, else node:crypto.
export interface AeadContextOptions {
  readonly native?: boolean;
}

function createAeadContext(spec: AeadSpec, keyMaterial: Uint8Array, opts?: AeadContextOptions): EncryptionContext {
  const native = opts?.native ?? nativeAeadPreferred();
  return native
    ? new NativeAeadContext(spec.name, spec.algorithm, spec.keyBits, spec.icvBytes, keyMaterial)
    : new AeadContext(spec, keyMaterial);
}

const SPECS = new WeakMap<EncryptionTransform, AeadSpec>();

// A context of AEAD transform `t` (from the registry) with the implementation chosen
// explicitly, so tests and benchmarks can run both in one process.
export function aeadContext(t: EncryptionTransform, keyMaterial: Uint8Array, opts?: AeadContextOptions): EncryptionContext {
  const spec = SPECS.get(t);
  if (spec === undefined) {
    throw new CryptoError(CryptoErrorCode.BAD_ARGUMENT, `${t.name} is not an AEAD transform of encr-aead.ts`);
  }
  return createAeadContext(spec, keyMaterial, opts);
}

function aeadTransform(spec: AeadSpec): EncryptionTransform {
  const transform: EncryptionTransform = {
    id: spec.id,
    name: spec.name,
    keyBits: spec.keyBits,
    keyMaterialBytes: spec.keyBits / 8 + SALT_BYTES,
    ivBytes: IV_BYTES,
    blockBytes: ESP_ALIGN_BYTES,
    icvBytes: spec.icvBytes,
    aead: true,
    testOnly: false,
    createContext: (keyMaterial) => createAeadContext(spec, keyMaterial),
  };
  SPECS.set(transform, spec);
  return transform;
}

export type GcmIcvBytes = 8 | 12 | 16;

const GCM_ID: Record<GcmIcvBytes, number> = { 8: ENCR.AES_GCM_8, 12: ENCR.AES_GCM_12, 16: ENCR.AES_GCM_16 };

export function aesGcmTransform(keyBits: 128 | 192 | 256, icvBytes: GcmIcvBytes): EncryptionTransform {
  return aeadTransform({
    id: GCM_ID[icvBytes],
    name: `aes${keyBits}gcm${icvBytes}`,
    algorithm: `aes-${keyBits}-gcm`,
    keyBits,
    icvBytes,
  });
}

export function chacha20Poly1305Transform(): EncryptionTransform {
  return aeadTransform({
    id: ENCR.CHACHA20_POLY1305,
    name: 'chacha20poly1305',
    algorithm: 'chacha20-poly1305',
    keyBits: 256,
    icvBytes: 16,
  });
}
