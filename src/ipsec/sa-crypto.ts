// The keyed algorithm state of one SA, built once when the SA is installed (keys are
// imported into node:crypto KeyObjects then, not per packet), plus the few scratch
// buffers ESP processing reuses so the hot path does not allocate for them.
import { encryptionTransform, integrityTransform } from '../crypto/registry.js';
import type { EncryptionContext, IntegrityContext } from '../crypto/types.js';
import { DataPlaneError } from './errors.js';
import type { SaConfig } from './types.js';

export interface SaCrypto {
  readonly spi: number;
  readonly esn: boolean;
  readonly name: string; // e.g. "aes128gcm16" or "aes256-sha256", for status output
  readonly enc: EncryptionContext;
  readonly integ: IntegrityContext | null; // null for AEAD (and encryption-only test SAs)
  readonly aead: boolean;
  readonly ivBytes: number;
  readonly blockBytes: number; // plaintext alignment (RFC 4303 §2.4), at least 4
  readonly icvBytes: number; // AEAD tag or truncated HMAC
  // AAD for AEAD with ESN: SPI || seq high || seq low (RFC 4106 §5, RFC 7634 §2.1).
  readonly aad12: Buffer;
  // The high 32 bits of an ESN, appended to the ICV input only (RFC 4303 §2.2.1).
  readonly seqHigh4: Buffer;
}

function bad(sa: SaConfig, message: string, cause?: unknown): never {
  throw new DataPlaneError('bad-sa', `SA ${sa.direction} spi 0x${(sa.spi >>> 0).toString(16)}: ${message}`, { cause });
}

// Throws DataPlaneError('bad-sa') with the crypto layer's explanation when the algorithms
// or keys do not fit.
export function createSaCrypto(sa: SaConfig): SaCrypto {
  const testOnly = sa.allowTestOnlyAlgorithms === true;
  let enc: EncryptionContext;
  let integ: IntegrityContext | null = null;
  let name: string;
  let aead: boolean;
  let ivBytes: number;
  let blockBytes: number;
  let icvBytes: number;
  try {
    const et = encryptionTransform(sa.encryption.id, sa.encryption.keyBits, { allowTestOnly: testOnly });
    if (sa.encryption.keyMaterial.length !== et.keyMaterialBytes) {
      bad(sa, `${et.name} needs ${et.keyMaterialBytes} bytes of key material, got ${sa.encryption.keyMaterial.length}`);
    }
    enc = et.createContext(sa.encryption.keyMaterial);
    name = et.name;
    aead = et.aead;
    ivBytes = et.ivBytes;
    // ESP aligns the trailer to 4 bytes whatever the cipher (RFC 4303 §2.4).
    blockBytes = Math.max(4, et.blockBytes);
    icvBytes = et.icvBytes;
    if (et.aead) {
      if (sa.integrity !== undefined && sa.integrity.id !== 0) bad(sa, `${et.name} is an AEAD: no separate integrity transform`);
    } else if (sa.integrity === undefined || sa.integrity.id === 0) {
      // RFC 4303 §3.2 allows confidentiality-only ESP but it is open to active attacks
      // (RFC 4303 §8); keyplane accepts it only for reproducing RFC 3602 test packets.
      if (!testOnly) bad(sa, `${et.name} needs an integrity transform (encryption-only ESP is test-only)`);
    } else {
      const it = integrityTransform(sa.integrity.id);
      if (sa.integrity.key.length !== it.keyBytes) {
        bad(sa, `${it.name} needs a ${it.keyBytes}-byte key, got ${sa.integrity.key.length}`);
      }
      integ = it.createContext(sa.integrity.key);
      icvBytes = it.icvBytes;
      name = `${et.name}-${it.name}`;
    }
  } catch (err) {
    if (err instanceof DataPlaneError) throw err;
    bad(sa, (err as Error).message, err);
  }
  const aad12 = Buffer.alloc(12);
  aad12.writeUInt32BE(sa.spi >>> 0, 0);
  return {
    spi: sa.spi >>> 0,
    esn: sa.esn,
    name,
    enc,
    integ,
    aead,
    ivBytes,
    blockBytes,
    icvBytes,
    aad12,
    seqHigh4: Buffer.alloc(4),
  };
}
