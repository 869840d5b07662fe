// Algorithm names in config files are strongSwan's ESP proposal keywords (aes128gcm16,
// aes256, chacha20poly1305, sha256, ...), resolved through the crypto registry so that
// key lengths always come from the one place that implements the algorithms.

import { encryptionByName, integrityByName } from '../crypto/registry.js';
import type { EncryptionTransform, IntegrityTransform } from '../crypto/types.js';

// Names listed in error messages; only those the registry resolves are shown.
const ENCRYPTION_NAMES = [
  'aes128gcm16', 'aes192gcm16', 'aes256gcm16',
  'aes128gcm12', 'aes192gcm12', 'aes256gcm12',
  'aes128gcm8', 'aes192gcm8', 'aes256gcm8',
  'aes128', 'aes192', 'aes256',
  'chacha20poly1305', 'null',
];
const INTEGRITY_NAMES = ['sha1', 'sha256', 'sha384', 'sha512'];

export function lookupEncryption(name: string): EncryptionTransform | undefined {
  try {
    // Test-only transforms are looked up too; the loader refuses them unless the SA
    // says allowTestOnlyAlgorithms, with a message that says so.
    return encryptionByName(name.trim().toLowerCase(), { allowTestOnly: true }) ?? undefined;
  } catch {
    return undefined; // the registry reports unknown names with a CryptoError
  }
}

export function lookupIntegrity(name: string): IntegrityTransform | undefined {
  try {
    return integrityByName(name.trim().toLowerCase()) ?? undefined;
  } catch {
    return undefined;
  }
}

export function knownEncryptionNames(): string[] {
  return ENCRYPTION_NAMES.filter((n) => lookupEncryption(n) !== undefined);
}

export function knownIntegrityNames(): string[] {
  return INTEGRITY_NAMES.filter((n) => lookupIntegrity(n) !== undefined);
}
