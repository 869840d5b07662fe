// Contracts of the crypto layer. Every algorithm is named by its IANA IKEv2 transform
// type and ID (RFC 7296 §3.3.2, IANA "IKEv2 Transform Type N" registries), so IKE
// proposals, the control channel and manual keying all speak the same numbers.

import { KeyplaneError } from '../util/errors.js';

export class CryptoError extends KeyplaneError {}

// Transform type 1 (ENCR). Key length in bits comes from the Key Length attribute.
export const ENCR = {
  NULL: 11,
  AES_CBC: 12,
  AES_GCM_8: 18, // RFC 4106, 8-byte ICV
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  CHACHA20_POLY1305: 28, // RFC 7634
} as const;

// Transform type 3 (INTEG).
export const INTEG = {
  NONE: 0,
  HMAC_SHA1_96: 2, // RFC 2404
  HMAC_SHA2_256_128: 12, // RFC 4868
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;

// Transform type 2 (PRF).
export const PRF = {
  HMAC_SHA1: 2,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
} as const;

// Transform type 4 (KE, formerly D-H group).
export const KE = {
  MODP_2048: 14,
  MODP_3072: 15,
  MODP_4096: 16,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  CURVE25519: 31,
  CURVE448: 32,
} as const;

// An encryption transform: either a plain cipher (paired with an integrity transform)
// or an AEAD (integrity built in, icvBytes > 0).
export interface EncryptionTransform {
  readonly id: number;
  readonly name: string; // strongSwan-style name, e.g. "aes128gcm16", "aes256", "chacha20poly1305"
  readonly keyBits: number; // cipher key size in bits, 0 for NULL
  // Keying material taken from the KDF / config: cipher key plus salt where the RFC
  // defines one (RFC 4106 §8.1: +4 bytes for GCM; RFC 7634 §4: +4 for ChaCha20-Poly1305).
  readonly keyMaterialBytes: number;
  readonly ivBytes: number; // explicit IV carried in each packet
  readonly blockBytes: number; // alignment the plaintext must be padded to (RFC 4303 §2.4)
  readonly icvBytes: number; // AEAD tag length, 0 for plain ciphers
  readonly aead: boolean;
  // NULL encryption is for tests only; creating it requires an explicit opt-in.
  readonly testOnly: boolean;
  createContext(keyMaterial: Uint8Array): EncryptionContext;
}

// A keyed instance; create once per SA, reuse per packet (keys are imported once).
export interface EncryptionContext {
  // AEAD: returns ciphertext || ICV, authenticating `aad`. Plain cipher: `aad` is ignored
  // and plaintext must already be a multiple of blockBytes.
  encrypt(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer;
  // The same, for the per-packet hot path: the plaintext is the concatenation of `parts`
  // (ESP: payload, then padding + trailer, so the payload needs no copy), and the
  // ciphertext (|| ICV) is written into `out` at `outOffset`. `out` may overlap the parts:
  // node:crypto returns fresh memory for each update. Returns the bytes written.
  encryptTo(iv: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): number;
  // Returns null when AEAD authentication fails (never throws for a bad tag).
  // Throws CryptoError only for caller bugs (wrong IV length, misaligned input).
  decrypt(iv: Uint8Array, aad: Uint8Array, ciphertextAndIcv: Uint8Array): Buffer | null;
}

export interface IntegrityTransform {
  readonly id: number;
  readonly name: string; // e.g. "sha256" (= HMAC-SHA2-256-128)
  readonly keyBytes: number;
  readonly icvBytes: number; // truncated output length
  createContext(key: Uint8Array): IntegrityContext;
}

export interface IntegrityContext {
  // Truncated MAC over the concatenation of parts.
  compute(...parts: Uint8Array[]): Buffer;
  // Constant-time comparison of the truncated MAC with `icv`.
  verify(icv: Uint8Array, ...parts: Uint8Array[]): boolean;
}

export interface PrfTransform {
  readonly id: number;
  readonly name: string; // e.g. "prfsha256"
  readonly keyBytes: number; // preferred key length (RFC 7296 §2.13)
  readonly outputBytes: number;
  compute(key: Uint8Array, data: Uint8Array): Buffer;
}

export interface KeyExchangeTransform {
  readonly id: number;
  readonly name: string; // e.g. "modp2048", "ecp256", "x25519"
  readonly publicBytes: number; // length of the KE payload data (RFC 7296 §3.4, RFC 5903 §7)
  generate(): KeyExchangePrivate;
  // For test vectors: a private value given as bytes (big-endian scalar for MODP/ECP,
  // raw scalar for RFC 7748 curves).
  fromPrivate(privateKey: Uint8Array): KeyExchangePrivate;
}

export interface KeyExchangePrivate {
  // Encoded as in the IKEv2 KE payload: MODP big-endian zero-padded to the prime size;
  // ECP x || y without the 0x04 prefix (RFC 5903 §7); X25519/X448 raw (RFC 8031).
  readonly publicKey: Buffer;
  // Shared secret as IKEv2 uses it (MODP padded to prime size, ECP x only, RFC 5903 §7).
  // Throws CryptoError for an invalid peer value (wrong length, not on the curve, 1 or p-1
  // for MODP, all-zero X25519 result).
  computeSecret(peerPublic: Uint8Array): Buffer;
}
