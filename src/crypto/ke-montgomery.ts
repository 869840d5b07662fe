// Curve25519 and Curve448 key exchange (IKEv2 KE 31 and 32), RFC 8031 using the X25519
// and X448 functions of RFC 7748. The KE payload carries the raw 32- or 56-byte
// u-coordinate (RFC 8031 §2); the shared secret is the raw X25519/X448 output, and an
// all-zero result MUST be rejected (RFC 8031 §2, RFC 7748 §6).
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { CryptoError, KE, type KeyExchangePrivate, type KeyExchangeTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';

interface CurveSpec {
  readonly id: number;
  readonly name: string;
  readonly keyType: 'x25519' | 'x448';
  readonly keyBytes: number;
  // Fixed DER prefixes (RFC 8410 §7 and §4): PKCS#8 PrivateKeyInfo and SubjectPublicKeyInfo
  // with the id-X25519 (1.3.101.110) or id-X448 (1.3.101.111) OID, followed by the raw key.
  readonly pkcs8Prefix: Buffer;
  readonly spkiPrefix: Buffer;
}

function rawPublic(publicKey: KeyObject, spec: CurveSpec): Buffer {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - spec.keyBytes);
}

class MontgomeryPrivate implements KeyExchangePrivate {
  readonly publicKey: Buffer;

  constructor(
    private readonly spec: CurveSpec,
    private readonly privateKey: KeyObject,
  ) {
    this.publicKey = rawPublic(createPublicKey(privateKey), spec);
  }

  computeSecret(peerPublic: Uint8Array): Buffer {
    const spec = this.spec;
    if (peerPublic.length !== spec.keyBytes) {
      throw new CryptoError(
        CryptoErrorCode.INVALID_PUBLIC,
        `${spec.name}: peer public value must be ${spec.keyBytes} bytes (RFC 8031 §2), got ${peerPublic.length}`,
      );
    }
    let secret: Buffer;
    try {
      const publicKey = createPublicKey({ key: Buffer.concat([spec.spkiPrefix, peerPublic]), format: 'der', type: 'spki' });
      // OpenSSL itself fails the derivation when the result is all zero.
      secret = diffieHellman({ privateKey: this.privateKey, publicKey });
    } catch (cause) {
      throw new CryptoError(
        CryptoErrorCode.INVALID_PUBLIC,
        `${spec.name}: peer public value rejected (small-order point gives an all-zero secret, RFC 7748 §6)`,
        { cause },
      );
    }
    // Belt and braces for the RFC 8031 §2 MUST: OR all bytes together (no early exit).
    let acc = 0;
    for (const byte of secret) acc |= byte;
    if (acc === 0) {
      throw new CryptoError(CryptoErrorCode.INVALID_PUBLIC, `${spec.name}: shared secret is all zero (RFC 8031 §2)`);
    }
    return secret;
  }
}

class MontgomeryGroup implements KeyExchangeTransform {
  readonly id: number;
  readonly name: string;
  readonly publicBytes: number;

  constructor(private readonly spec: CurveSpec) {
    this.id = spec.id;
    this.name = spec.name;
    this.publicBytes = spec.keyBytes;
  }

  generate(): KeyExchangePrivate {
    const { privateKey } = this.spec.keyType === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
    return new MontgomeryPrivate(this.spec, privateKey);
  }

  // `privateKey` is the raw RFC 7748 scalar string (clamped by X25519/X448 itself, §5).
  fromPrivate(privateKey: Uint8Array): KeyExchangePrivate {
    if (privateKey.length !== this.spec.keyBytes) {
      throw new CryptoError(
        CryptoErrorCode.INVALID_PRIVATE,
        `${this.name}: private key must be ${this.spec.keyBytes} bytes, got ${privateKey.length}`,
      );
    }
    const key = createPrivateKey({
      key: Buffer.concat([this.spec.pkcs8Prefix, privateKey]),
      format: 'der',
      type: 'pkcs8',
    });
    return new MontgomeryPrivate(this.spec, key);
  }
}

export const CURVE25519: KeyExchangeTransform = new MontgomeryGroup({
  id: KE.CURVE25519,
  name: 'x25519',
  keyType: 'x25519',
  keyBytes: 32,
  pkcs8Prefix: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  spkiPrefix: Buffer.from('302a300506032b656e032100', 'hex'),
});

export const CURVE448: KeyExchangeTransform = new MontgomeryGroup({
  id: KE.CURVE448,
  name: 'x448',
  keyType: 'x448',
  keyBytes: 56,
  pkcs8Prefix: Buffer.from('3046020100300506032b656f043a0438', 'hex'),
  spkiPrefix: Buffer.from('3042300506032b656f033900', 'hex'),
});
