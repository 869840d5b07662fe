// PRF (IKEv2 transform type 2) algorithms and prf+.
//   PRF_HMAC_SHA1      (2)  RFC 2104 / RFC 7296
//   PRF_HMAC_SHA2_256  (5)  RFC 4868 §2.1.2, untruncated output
//   PRF_HMAC_SHA2_384  (6)
//   PRF_HMAC_SHA2_512  (7)
// A PRF takes keys of any length (RFC 7296 §2.13: nonces are variable length); HMAC
// hashes over-long keys itself (RFC 2104 §2).
import { createHmac } from 'node:crypto';
import { CryptoError, PRF, type PrfTransform } from './types.js';
import { CryptoErrorCode } from './error-codes.js';

function hmacPrf(id: number, name: string, hash: 'sha1' | 'sha256' | 'sha384' | 'sha512', outputBytes: number): PrfTransform {
  return {
    id,
    name,
    // RFC 7296 §2.13 / RFC 4868 §2.1.2: the preferred key length is the output length.
    keyBytes: outputBytes,
    outputBytes,
    compute: (key, data) => createHmac(hash, key).update(data).digest(),
  };
}

export const PRF_HMAC_SHA1 = hmacPrf(PRF.HMAC_SHA1, 'prfsha1', 'sha1', 20);
export const PRF_HMAC_SHA2_256 = hmacPrf(PRF.HMAC_SHA2_256, 'prfsha256', 'sha256', 32);
export const PRF_HMAC_SHA2_384 = hmacPrf(PRF.HMAC_SHA2_384, 'prfsha384', 'sha384', 48);
export const PRF_HMAC_SHA2_512 = hmacPrf(PRF.HMAC_SHA2_512, 'prfsha512', 'sha512', 64);

// RFC 7296 §2.13: the counter is one octet, so at most 255 PRF outputs.
export const PRF_PLUS_MAX_BLOCKS = 255;

// prf+ (RFC 7296 §2.13):
//   prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//   T1 = prf (K, S | 0x01)
//   T2 = prf (K, T1 | S | 0x02)
//   T3 = prf (K, T2 | S | 0x03)
// returning the first `lengthBytes` octets.
export function prfPlus(prf: PrfTransform, key: Uint8Array, seed: Uint8Array, lengthBytes: number): Buffer {
  if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
    throw new CryptoError(CryptoErrorCode.BAD_ARGUMENT, `prf+: length must be a non-negative integer, got ${lengthBytes}`);
  }
  const blocks = Math.ceil(lengthBytes / prf.outputBytes);
  if (blocks > PRF_PLUS_MAX_BLOCKS) {
    throw new CryptoError(
      CryptoErrorCode.PRF_PLUS_LENGTH,
      `prf+ with ${prf.name} yields at most ${PRF_PLUS_MAX_BLOCKS * prf.outputBytes} bytes ` +
        `(${PRF_PLUS_MAX_BLOCKS} blocks, RFC 7296 §2.13); ${lengthBytes} requested`,
    );
  }
  const out = Buffer.allocUnsafe(blocks * prf.outputBytes);
  const counter = Buffer.alloc(1);
  let previous: Buffer = Buffer.alloc(0); // T0 is empty, so T1 = prf(K, S | 0x01)
  for (let n = 1; n <= blocks; n++) {
    counter[0] = n;
    previous = prf.compute(key, Buffer.concat([previous, seed, counter]));
    previous.copy(out, (n - 1) * prf.outputBytes);
  }
  if (out.length === lengthBytes) return out;
  // Copy the requested prefix so the returned buffer does not keep surplus key material alive.
  const result = Buffer.from(out.subarray(0, lengthBytes));
  out.fill(0);
  return result;
}
