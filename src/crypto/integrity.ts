// Integrity (IKEv2 transform type 3) algorithms: HMAC truncated to the ICV length.
//   AUTH_HMAC_SHA1_96         (2)  RFC 2404: 160-bit key, ICV = first 96 bits.
//   AUTH_HMAC_SHA2_256_128   (12)  RFC 4868 §2.1.1/§2.6: 256-bit key, first 128 bits.
//   AUTH_HMAC_SHA2_384_192   (13)  RFC 4868: 384-bit key, first 192 bits.
//   AUTH_HMAC_SHA2_512_256   (14)  RFC 4868: 512-bit key, first 256 bits.
import { createHmac, type KeyObject } from 'node:crypto';
import { INTEG, type IntegrityContext, type IntegrityTransform } from './types.js';
import { constantTimeEqual } from './compare.js';
import { importSecretKey } from './key-import.js';

interface HmacIntegritySpec {
  readonly id: number;
  readonly name: string;
  readonly hash: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  readonly keyBytes: number;
  readonly icvBytes: number;
}

class HmacIntegrityContext implements IntegrityContext {
  private readonly key: KeyObject;

  constructor(
    private readonly spec: HmacIntegritySpec,
    key: Uint8Array,
  ) {
    // RFC 2404 §3 and RFC 4868 §2.1.1: the key length is fixed for ESP/AH use.
    this.key = importSecretKey(spec.name, key, spec.keyBytes);
  }

  compute(...parts: Uint8Array[]): Buffer {
    const hmac = createHmac(this.spec.hash, this.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest().subarray(0, this.spec.icvBytes);
  }

  verify(icv: Uint8Array, ...parts: Uint8Array[]): boolean {
    return constantTimeEqual(this.compute(...parts), icv);
  }
}

function hmacIntegrity(spec: HmacIntegritySpec): IntegrityTransform {
  return {
    id: spec.id,
    name: spec.name,
    keyBytes: spec.keyBytes,
    icvBytes: spec.icvBytes,
    createContext: (key) => new HmacIntegrityContext(spec, key),
  };
}

export const HMAC_SHA1_96 = hmacIntegrity({ id: INTEG.HMAC_SHA1_96, name: 'sha1', hash: 'sha1', keyBytes: 20, icvBytes: 12 });
export const HMAC_SHA2_256_128 = hmacIntegrity({
  id: INTEG.HMAC_SHA2_256_128,
  name: 'sha256',
  hash: 'sha256',
  keyBytes: 32,
  icvBytes: 16,
});
export const HMAC_SHA2_384_192 = hmacIntegrity({
  id: INTEG.HMAC_SHA2_384_192,
  name: 'sha384',
  hash: 'sha384',
  keyBytes: 48,
  icvBytes: 24,
});
export const HMAC_SHA2_512_256 = hmacIntegrity({
  id: INTEG.HMAC_SHA2_512_256,
  name: 'sha512',
  hash: 'sha512',
  keyBytes: 64,
  icvBytes: 32,
});
