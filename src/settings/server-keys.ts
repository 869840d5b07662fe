// SA parameters of one management-table entry (seed 000 S10): the algorithms, mode and
// lifetime come from the applied policy, the keys from the random source with exactly the
// key material each transform needs, and the SPI is the one the RECEIVING device proposed.
// The seed's per-SA IV is not generated: ESP carries a fresh IV in every packet (RFC 4303
// §2.3, control-settings.ts).
import { encryptionTransform, integrityTransform } from '../crypto/registry.js';
import { CryptoError } from '../crypto/types.js';
import { KeyplaneError } from '../util/errors.js';
import { SETTINGS_MAX_LIFETIME_SECONDS } from '../wire/control-settings.js';
import type { AppliedPolicy, RandomSource, SaParameters } from './types.js';

export interface SaKeyLengths {
  // Cipher key plus salt where the transform has one (RFC 4106 §8.1 AES-GCM: +4 bytes;
  // RFC 7634 §4 ChaCha20-Poly1305: +4 bytes).
  readonly encryptionBytes: number;
  readonly integrityBytes: number | null; // null for AEAD transforms
}

// The key lengths an applied policy needs, or why keyplane cannot use the policy (unknown
// or test-only transform, integrity missing or superfluous, bad mode or lifetime).
export function saKeyLengths(applied: AppliedPolicy): SaKeyLengths | string {
  if (applied.protocol !== 'esp') return `protocol ${String(applied.protocol)} is not offered (ESP only)`;
  if (applied.mode !== 'tunnel' && applied.mode !== 'transport') return `mode ${String(applied.mode)} unknown`;
  const life = applied.lifetimeSeconds;
  if (!Number.isInteger(life) || life < 1 || life > SETTINGS_MAX_LIFETIME_SECONDS) return `lifetime ${life} s not in 1..${SETTINGS_MAX_LIFETIME_SECONDS}`;
  try {
    // No allowTestOnly: a setting server never hands out ENCR_NULL (traffic in clear).
    const enc = encryptionTransform(applied.encryption.id, applied.encryption.keyBits);
    if (enc.aead) {
      // RFC 4303 §3.2.3: a combined-mode algorithm provides integrity itself.
      if (applied.integrity !== null) return `${enc.name} is AEAD and takes no integrity transform`;
      return { encryptionBytes: enc.keyMaterialBytes, integrityBytes: null };
    }
    // RFC 8221 §5: no integrity (AUTH_NONE) only with an AEAD cipher.
    if (applied.integrity === null) return `${enc.name} needs an integrity transform`;
    return { encryptionBytes: enc.keyMaterialBytes, integrityBytes: integrityTransform(applied.integrity.id).keyBytes };
  } catch (e) {
    if (e instanceof CryptoError) return e.message;
    throw e;
  }
}

export class SettingsRandomError extends KeyplaneError {}

export function drawBytes(random: RandomSource, lengthBytes: number): Uint8Array {
  const b = random(lengthBytes);
  if (!(b instanceof Uint8Array) || b.length !== lengthBytes) {
    throw new SettingsRandomError('settings.bad-random-source', `random source returned ${b?.length} bytes, ${lengthBytes} requested`);
  }
  return new Uint8Array(b); // our own copy: a source that reuses its buffer must not alias keys
}

// One direction's SA parameters with fresh keys. `receiverSpi`: the SPI the receiving
// device proposed in its request (seed: 受信側SPI).
export function newSaParameters(lengths: SaKeyLengths, receiverSpi: number, random: RandomSource): SaParameters {
  return {
    spi: receiverSpi,
    encryptionKey: drawBytes(random, lengths.encryptionBytes),
    integrityKey: lengths.integrityBytes === null ? null : drawBytes(random, lengths.integrityBytes),
  };
}
