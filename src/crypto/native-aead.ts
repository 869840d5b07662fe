// The native AEAD context (native/esp_aead.c, built by node-gyp into
// build/Release/keyplane_aead.node): the ESP AEADs with one OpenSSL cipher context per SA
// and direction, keyed once and reused per packet with only the nonce changed.
//
// Why: node:crypto has no reusable keyed cipher, so every packet pays createCipheriv (a
// new EVP_CIPHER_CTX and key schedule, ~4 us of a 1400-byte AES-128-GCM packet). The
// addon calls the same OpenSSL that node:crypto uses (Node's own, resolved from the node
// binary), so the algorithms, their implementation and the FIPS/provider configuration
// are the same; only the per-packet setup is gone. See docs/architecture.md "Native AEAD".
//
// This is computation, not I/O, so the crypto layer loads its binary itself (it must not
// import src/io). When the binary is missing or KEYPLANE_NATIVE_CRYPTO=0, the registry's
// AEAD transforms use the node:crypto context of encr-aead.ts instead; both implement the
// same EncryptionContext and produce identical bytes (test/crypto/native-aead*.test.ts).
import { createRequire } from 'node:module';
import { CryptoError, type EncryptionContext } from './types.js';
import { CryptoErrorCode } from './error-codes.js';
import { requireLength } from './key-import.js';

export type NativeAeadAlgorithm = 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

// The addon's JS surface (native/esp_aead.c). Caller bugs throw TypeError/RangeError whose
// `code` is a CryptoErrorCode value; a bad tag is -1 from decryptTo.
export interface NativeAeadHandle {
  encryptTo(iv: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset: number, ...parts: Uint8Array[]): number;
  decryptTo(iv: Uint8Array, aad: Uint8Array, ciphertextAndIcv: Uint8Array, out: Uint8Array, outOffset: number): number;
  destroy(): void;
}

export interface NativeAeadBinding {
  AeadContext: new (algorithm: string, keyMaterial: Uint8Array, icvBytes: number) => NativeAeadHandle;
  // Contexts allocated and not yet garbage-collected, in this process (for the leak test).
  liveContexts(): number;
}

// KEYPLANE_NATIVE_CRYPTO=0 (or "false"/"off") makes the registry use node:crypto contexts.
export const NATIVE_CRYPTO_ENV = 'KEYPLANE_NATIVE_CRYPTO';
// The most parts one native call takes (MAX_PARTS in esp_aead.c); more are joined first.
const MAX_NATIVE_PARTS = 8;
const SALT_BYTES = 4;

// dist/src/crypto/native-aead.js -> <package root>/build/Release
const BINARY_URL = new URL('../../../build/Release/keyplane_aead.node', import.meta.url);

let binding: NativeAeadBinding | null | undefined;
let loadError: string | undefined;

// The addon, or null when it cannot be loaded (not built, another platform). Loaded once.
export function loadNativeAead(): NativeAeadBinding | null {
  if (binding !== undefined) return binding;
  try {
    const mod = createRequire(import.meta.url)(BINARY_URL.pathname) as Partial<NativeAeadBinding>;
    if (typeof mod.AeadContext !== 'function' || typeof mod.liveContexts !== 'function') {
      throw new Error('the binary does not export AeadContext (stale build? run "npm install")');
    }
    binding = mod as NativeAeadBinding;
  } catch (err) {
    binding = null;
    loadError = err instanceof Error ? err.message : String(err);
  }
  return binding;
}

function disabledByEnv(): boolean {
  const v = process.env[NATIVE_CRYPTO_ENV]?.trim().toLowerCase();
  return v === '0' || v === 'false' || v === 'off' || v === 'no';
}

export interface NativeAeadStatus {
  readonly available: boolean; // the binary loads
  readonly enabled: boolean; // and KEYPLANE_NATIVE_CRYPTO does not turn it off
  readonly path: string;
  readonly reason?: string; // why not available / not enabled
}

export function nativeAeadStatus(): NativeAeadStatus {
  const available = loadNativeAead() !== null;
  const off = disabledByEnv();
  const reason = !available ? loadError : off ? `${NATIVE_CRYPTO_ENV}=${process.env[NATIVE_CRYPTO_ENV] ?? ''}` : undefined;
  return { available, enabled: available && !off, path: BINARY_URL.pathname, ...(reason !== undefined ? { reason } : {}) };
}

// What the registry's AEAD transforms use when the caller does not choose.
export function nativeAeadPreferred(): boolean {
  return !disabledByEnv() && loadNativeAead() !== null;
}

function badArgument(name: string, what: string): CryptoError {
  return new CryptoError(CryptoErrorCode.BAD_ARGUMENT, `${name}: ${what}`);
}

export class NativeAeadContext implements EncryptionContext {
  private readonly handle: NativeAeadHandle;

  // keyMaterial = cipher key || 4-byte salt (RFC 4106 §8.1, RFC 7634 §4). Throws
  // CryptoError when the addon is not available or the key material has the wrong length.
  constructor(
    private readonly name: string,
    algorithm: NativeAeadAlgorithm,
    keyBits: number,
    private readonly icvBytes: number,
    keyMaterial: Uint8Array,
  ) {
    const b = loadNativeAead();
    if (b === null) {
      throw new CryptoError(CryptoErrorCode.UNKNOWN_TRANSFORM, `${name}: the native AEAD addon is not available (${loadError ?? 'not loaded'})`);
    }
    if (!(keyMaterial instanceof Uint8Array)) throw badArgument(name, 'key material must be a Uint8Array');
    requireLength(`${name} key material`, keyMaterial.length, keyBits / 8 + SALT_BYTES, CryptoErrorCode.KEY_LENGTH);
    try {
      this.handle = new b.AeadContext(algorithm, keyMaterial, icvBytes);
    } catch (err) {
      throw this.rethrow(err);
    }
  }

  // The addon's coded TypeError/RangeError -> CryptoError with the same code.
  private rethrow(err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code;
    if (err instanceof Error && typeof code === 'string' && code.startsWith('crypto.')) {
      return new CryptoError(code, `${this.name}: ${err.message}`, { cause: err });
    }
    return err;
  }

  encrypt(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
    if (!(plaintext instanceof Uint8Array)) throw badArgument(this.name, 'plaintext must be a Uint8Array');
    const out = Buffer.allocUnsafe(plaintext.length + this.icvBytes);
    try {
      this.handle.encryptTo(iv, aad, out, 0, plaintext);
    } catch (err) {
      throw this.rethrow(err);
    }
    return out;
  }

  encryptTo(iv: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): number {
    if (!Array.isArray(parts)) throw badArgument(this.name, 'parts must be an array');
    try {
      // One argument per part: no array for the addon to walk (and no accessors to run).
      if (parts.length === 1) return this.handle.encryptTo(iv, aad, out, outOffset, parts[0]!);
      if (parts.length === 2) return this.handle.encryptTo(iv, aad, out, outOffset, parts[0]!, parts[1]!);
      if (parts.length <= MAX_NATIVE_PARTS) return this.handle.encryptTo(iv, aad, out, outOffset, ...parts);
      for (const p of parts) if (!(p instanceof Uint8Array)) throw badArgument(this.name, 'each part must be a Uint8Array');
      return this.handle.encryptTo(iv, aad, out, outOffset, Buffer.concat(parts));
    } catch (err) {
      throw this.rethrow(err);
    }
  }

  decrypt(iv: Uint8Array, aad: Uint8Array, ciphertextAndIcv: Uint8Array): Buffer | null {
    if (!(ciphertextAndIcv instanceof Uint8Array)) throw badArgument(this.name, 'ciphertext must be a Uint8Array');
    const bodyBytes = ciphertextAndIcv.length - this.icvBytes;
    // Small sizes come from Node's buffer pool: cheaper than a fresh allocation per packet.
    const out = Buffer.allocUnsafe(bodyBytes > 0 ? bodyBytes : 0);
    let n: number;
    try {
      n = this.handle.decryptTo(iv, aad, ciphertextAndIcv, out, 0);
    } catch (err) {
      throw this.rethrow(err);
    }
    return n < 0 ? null : out;
  }

  // Decrypts into the caller's buffer: returns the plaintext length, or null when the ICV
  // does not verify (out[outOffset..] is then zeroed). `out` may be the ciphertext itself
  // (in place), in which case a failed packet's ciphertext is lost.
  decryptTo(iv: Uint8Array, aad: Uint8Array, ciphertextAndIcv: Uint8Array, out: Uint8Array, outOffset: number): number | null {
    let n: number;
    try {
      n = this.handle.decryptTo(iv, aad, ciphertextAndIcv, out, outOffset);
    } catch (err) {
      throw this.rethrow(err);
    }
    return n < 0 ? null : n;
  }

  // Frees the OpenSSL state and wipes the key now instead of at garbage collection (an SA
  // was deleted). Any later call throws CryptoError. Idempotent.
  destroy(): void {
    this.handle.destroy();
  }
}
