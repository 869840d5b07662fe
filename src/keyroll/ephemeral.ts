// Ephemeral X25519 values for forward secrecy (beyond seed 004), RFC 7748 §6.1 / RFC 8031.
// The private scalar is drawn from the injected RandomSource (RFC 7748 §5: any 32 bytes,
// X25519 clamps them), so simulations stay deterministic and a receiver can keep its
// pending value across a restart without losing the rotation in flight.
//
// Keys go in and out of node:crypto as raw-key JWK ({kty: "OKP", crv: "X25519"}) rather
// than the DER the crypto registry uses (src/crypto/ke-montgomery.ts): measured on this
// machine (Node 20.20, OpenSSL 3), importing a private key from PKCS#8 DER takes ~330 us
// and a public key from SPKI ~74 us, against ~32 us and ~6 us as JWK, because OpenSSL 3's
// DER decoder lookup dominates. A rotation imports one private and one public value per
// side, so this is most of the cost of forward secrecy. Node derives the public value
// from "d" and ignores "x" for a private JWK; if a Node version ever checks "x", the
// import throws and the DER path of the registry takes over.
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { CryptoError, CryptoErrorCode, KE, keyExchangeTransform } from '../crypto/index.js';
import { draw } from './random.js';
import type { RandomSource } from './types.js';

export const KEYROLL_KE_ID = KE.CURVE25519;
export const X25519_BYTES = 32;
const PLACEHOLDER_X = Buffer.alloc(X25519_BYTES).toString('base64url');
const registry = keyExchangeTransform(KE.CURVE25519);

export interface Ephemeral {
  readonly privateBytes: Uint8Array;
  readonly publicKey: Buffer;
  computeSecret(peerPublic: Uint8Array): Buffer; // throws CryptoError for a bad peer value
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function importPrivate(d: Uint8Array): KeyObject | null {
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(d), x: PLACEHOLDER_X }, format: 'jwk' });
  } catch {
    return null;
  }
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

function badPublic(message: string, cause?: unknown): CryptoError {
  return new CryptoError(CryptoErrorCode.INVALID_PUBLIC, `x25519: ${message}`, cause === undefined ? undefined : { cause });
}

export function restoreEphemeral(privateBytes: Uint8Array): Ephemeral {
  const copy = Buffer.from(privateBytes);
  if (copy.length !== X25519_BYTES) {
    throw new CryptoError(CryptoErrorCode.INVALID_PRIVATE, `x25519: private key must be ${X25519_BYTES} bytes, got ${copy.length}`);
  }
  const key = importPrivate(copy);
  if (key === null) {
    const kx = registry.fromPrivate(copy);
    return { privateBytes: copy, publicKey: kx.publicKey, computeSecret: (peer) => kx.computeSecret(peer) };
  }
  return {
    privateBytes: copy,
    publicKey: rawPublic(key),
    computeSecret(peerPublic: Uint8Array): Buffer {
      if (peerPublic.length !== X25519_BYTES) throw badPublic(`peer public value must be ${X25519_BYTES} bytes (RFC 8031 §2)`);
      let secret: Buffer;
      try {
        const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(peerPublic) }, format: 'jwk' });
        secret = diffieHellman({ privateKey: key, publicKey });
      } catch (cause) {
        throw badPublic('peer public value rejected (small-order point, RFC 7748 §6.1)', cause);
      }
      // RFC 8031 §2 / RFC 7748 §6.1: an all-zero shared secret MUST be rejected.
      let acc = 0;
      for (const byte of secret) acc |= byte;
      if (acc === 0) throw badPublic('shared secret is all zero (RFC 8031 §2)');
      return secret;
    },
  };
}

export function newEphemeral(random: RandomSource): Ephemeral {
  return restoreEphemeral(draw(random, X25519_BYTES));
}
