// ECP key-exchange groups (IKEv2 transform type 4), RFC 5903:
//   19 = 256-bit random ECP group (NIST P-256), 20 = P-384, 21 = P-521.
// RFC 5903 §7: the KE payload carries x || y, each coordinate a fixed-width big-endian
// integer (no SEC 1 0x04 prefix); the shared secret is the x coordinate of g^ir alone.
import { createECDH, type ECDH } from 'node:crypto';
import { CryptoError, KE, type KeyExchangePrivate, type KeyExchangeTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';

const SEC1_UNCOMPRESSED = 0x04;

class EcpPrivate implements KeyExchangePrivate {
  readonly publicKey: Buffer;

  constructor(
    private readonly group: EcpGroup,
    private readonly ecdh: ECDH,
  ) {
    // Node gives the SEC 1 uncompressed point 0x04 || x || y; RFC 5903 §7 drops the 0x04.
    this.publicKey = ecdh.getPublicKey(null, 'uncompressed').subarray(1);
  }

  computeSecret(peerPublic: Uint8Array): Buffer {
    const group = this.group;
    if (peerPublic.length !== group.publicBytes) {
      throw new CryptoError(
        CryptoErrorCode.INVALID_PUBLIC,
        `${group.name}: peer public value must be ${group.publicBytes} bytes (x || y, RFC 5903 §7), got ${peerPublic.length}`,
      );
    }
    const point = Buffer.allocUnsafe(1 + peerPublic.length);
    point[0] = SEC1_UNCOMPRESSED;
    point.set(peerPublic, 1);
    try {
      // OpenSSL decodes the point and refuses one not on the curve (and the point at
      // infinity, which has no x || y encoding): RFC 5903 §7 / NIST SP 800-56A §5.6.2.3.
      return this.ecdh.computeSecret(point);
    } catch (cause) {
      throw new CryptoError(CryptoErrorCode.INVALID_PUBLIC, `${group.name}: peer public value is not a point on the curve`, {
        cause,
      });
    }
  }
}

class EcpGroup implements KeyExchangeTransform {
  readonly publicBytes: number;

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly curve: string,
    readonly coordinateBytes: number,
  ) {
    this.publicBytes = 2 * coordinateBytes;
  }

  generate(): KeyExchangePrivate {
    const ecdh = createECDH(this.curve);
    ecdh.generateKeys();
    return new EcpPrivate(this, ecdh);
  }

  fromPrivate(privateKey: Uint8Array): KeyExchangePrivate {
    const ecdh = createECDH(this.curve);
    try {
      // Node checks 1 <= d < n and derives the public point.
      ecdh.setPrivateKey(Buffer.from(privateKey));
    } catch (cause) {
      throw new CryptoError(CryptoErrorCode.INVALID_PRIVATE, `${this.name}: private scalar is out of range for the curve`, {
        cause,
      });
    }
    return new EcpPrivate(this, ecdh);
  }
}

export const ECP_256: KeyExchangeTransform = new EcpGroup(KE.ECP_256, 'ecp256', 'prime256v1', 32);
export const ECP_384: KeyExchangeTransform = new EcpGroup(KE.ECP_384, 'ecp384', 'secp384r1', 48);
// P-521 coordinates are 521 bits, carried in 66 octets (RFC 5903 §7: bit length 528).
export const ECP_521: KeyExchangeTransform = new EcpGroup(KE.ECP_521, 'ecp521', 'secp521r1', 66);
