// MODP key-exchange groups (IKEv2 transform type 4) from RFC 3526, generator 2:
//   14 = 2048-bit (§3), 15 = 3072-bit (§4), 16 = 4096-bit (§5).
// The primes are Node's built-in copies of the RFC 3526 groups ('modp14'...'modp16');
// test/crypto/ke-modp.test.ts checks them against the hexadecimal values printed in the RFC.
import { createDiffieHellman, getDiffieHellman, type DiffieHellman } from 'node:crypto';
import { CryptoError, KE, type KeyExchangePrivate, type KeyExchangeTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';

const GENERATOR = Buffer.from([2]);

function leftPad(value: Buffer, lengthBytes: number): Buffer {
  if (value.length === lengthBytes) return value;
  const out = Buffer.alloc(lengthBytes);
  value.copy(out, lengthBytes - value.length);
  return out;
}

class ModpPrivate implements KeyExchangePrivate {
  readonly publicKey: Buffer;

  constructor(
    private readonly group: ModpGroup,
    private readonly dh: DiffieHellman,
  ) {
    // RFC 7296 §3.4: the KE data is the public value zero-padded to the prime's length.
    this.publicKey = leftPad(dh.getPublicKey(), group.publicBytes);
  }

  computeSecret(peerPublic: Uint8Array): Buffer {
    this.group.validatePeer(peerPublic);
    let secret: Buffer;
    try {
      secret = this.dh.computeSecret(peerPublic);
    } catch (cause) {
      throw new CryptoError(CryptoErrorCode.INVALID_PUBLIC, `${this.group.name}: peer public value rejected`, { cause });
    }
    // RFC 7296 §2.14: g^ir is represented as a string the length of the prime, zero-padded.
    return leftPad(secret, this.group.publicBytes);
  }
}

class ModpGroup implements KeyExchangeTransform {
  readonly publicBytes: number;
  private readonly prime: Buffer;
  private readonly primeMinusOne: Buffer;

  constructor(
    readonly id: number,
    readonly name: string,
    nodeGroupName: string,
  ) {
    this.prime = getDiffieHellman(nodeGroupName).getPrime();
    this.publicBytes = this.prime.length;
    const pm1 = BigInt(`0x${this.prime.toString('hex')}`) - 1n;
    this.primeMinusOne = Buffer.from(pm1.toString(16).padStart(this.publicBytes * 2, '0'), 'hex');
  }

  // Partial public-key validation (NIST SP 800-56A rev3 §5.6.2.3.2 step 1; RFC 6989 §2.1
  // "1 < r < p-1"): the value must have the prime's length (RFC 7296 §3.4) and lie in
  // [2, p-2]; 0, 1 and p-1 would pin the shared secret to a trivial value.
  validatePeer(peer: Uint8Array): void {
    if (peer.length !== this.publicBytes) {
      throw new CryptoError(
        CryptoErrorCode.INVALID_PUBLIC,
        `${this.name}: peer public value must be ${this.publicBytes} bytes (RFC 7296 §3.4), got ${peer.length}`,
      );
    }
    let highBytesZero = true;
    for (let i = 0; i < peer.length - 1; i++) if (peer[i] !== 0) highBytesZero = false;
    if (highBytesZero && (peer[peer.length - 1] ?? 0) <= 1) {
      throw new CryptoError(CryptoErrorCode.INVALID_PUBLIC, `${this.name}: peer public value is 0 or 1`);
    }
    if (Buffer.compare(peer, this.primeMinusOne) >= 0) {
      throw new CryptoError(CryptoErrorCode.INVALID_PUBLIC, `${this.name}: peer public value is p-1 or larger`);
    }
  }

  private newDh(): DiffieHellman {
    return createDiffieHellman(this.prime, GENERATOR);
  }

  generate(): KeyExchangePrivate {
    const dh = this.newDh();
    // OpenSSL recognises the RFC 3526 safe prime and picks a private exponent of twice
    // the group's security strength (RFC 3526 §8 gives the same order of magnitude).
    dh.generateKeys();
    return new ModpPrivate(this, dh);
  }

  fromPrivate(privateKey: Uint8Array): KeyExchangePrivate {
    const x = BigInt(`0x${Buffer.from(privateKey).toString('hex') || '0'}`);
    const p = BigInt(`0x${this.prime.toString('hex')}`);
    if (x < 2n || x > p - 2n) {
      throw new CryptoError(CryptoErrorCode.INVALID_PRIVATE, `${this.name}: private exponent must lie in [2, p-2]`);
    }
    const dh = this.newDh();
    dh.setPrivateKey(Buffer.from(privateKey));
    dh.generateKeys(); // with a private key set, this only computes g^x mod p
    return new ModpPrivate(this, dh);
  }
}

export const MODP_2048: KeyExchangeTransform = new ModpGroup(KE.MODP_2048, 'modp2048', 'modp14');
export const MODP_3072: KeyExchangeTransform = new ModpGroup(KE.MODP_3072, 'modp3072', 'modp15');
export const MODP_4096: KeyExchangeTransform = new ModpGroup(KE.MODP_4096, 'modp4096', 'modp16');
