// ESP proposal keywords for seed-000 distribution policies, in strongSwan's notation
// (swanctl.conf esp_proposals): an AEAD alone ("aes256gcm16", "chacha20poly1305") or a
// plain cipher with an integrity algorithm ("aes128-sha256"). Resolved through the crypto
// registry, so a keyword names exactly what the data plane implements. Shared by the
// controller config and the admin API.
//
// Refused: NULL encryption (RFC 2410: no confidentiality; the controller hands out SAs
// for real traffic), an AEAD with an integrity algorithm (RFC 4106 §2: the AEAD is its
// own integrity check), a plain cipher without one (encryption alone is open to
// cut-and-paste and bit-flipping attacks, so keyplane never distributes it), and
// key-exchange groups or esn flags in the keyword (the settings server runs no key
// exchange; ESN is its own policy field).

import { encryptionByName, encryptionTransform, integrityByName, integrityTransform, keyExchangeByName } from '../crypto/registry.js';
import type { EncryptionTransform, IntegrityTransform } from '../crypto/types.js';
import { echo } from './errors.js';

export interface EspProposal {
  readonly encryption: { readonly id: number; readonly keyBits: number }; // IANA ENCR id (RFC 7296 §3.3.2)
  readonly integrity: { readonly id: number } | null; // IANA INTEG id; null for an AEAD
}

const MAX_PROPOSAL_CHARS = 64;

const AEAD_EXAMPLES = 'aes128gcm16, aes256gcm16, chacha20poly1305';
const PLAIN_EXAMPLES = 'aes128-sha256, aes256-sha384';

function encryption(name: string): EncryptionTransform | undefined {
  try {
    // Without allowTestOnly: "null" fails here and is named below.
    return encryptionByName(name);
  } catch {
    return undefined; // CryptoError: unknown keyword
  }
}

function integrity(name: string): IntegrityTransform | undefined {
  try {
    return integrityByName(name);
  } catch {
    return undefined;
  }
}

function isKeyExchange(name: string): boolean {
  try {
    keyExchangeByName(name);
    return true;
  } catch {
    return false;
  }
}

const unknownEncryption = (text: string): string =>
  `unknown encryption algorithm ${echo(text)}; expected an AEAD (${AEAD_EXAMPLES}, aes128gcm8/12, ...) or a cipher with integrity (${PLAIN_EXAMPLES}, aes128-sha1)`;

// "aes256gcm16" -> {encryption: {id: 20, keyBits: 256}, integrity: null}, or the reason
// the keyword is refused (a message that never shows more than echo() allows).
export function parseEspProposal(text: string): EspProposal | string {
  if (typeof text !== 'string') return 'expected an ESP proposal keyword such as aes256gcm16 or aes128-sha256';
  const t = text.trim().toLowerCase();
  if (t.length === 0) return `expected an ESP proposal keyword such as ${AEAD_EXAMPLES} or ${PLAIN_EXAMPLES}`;
  if (t.length > MAX_PROPOSAL_CHARS) return `expected an ESP proposal keyword such as aes256gcm16, got ${echo(text)}`;
  const [encName = '', ...rest] = t.split('-');
  if (encName === 'null') return 'null encryption gives no confidentiality and is never distributed; use an AEAD such as aes256gcm16';
  const enc = encryption(encName);
  if (enc === undefined) return unknownEncryption(encName);
  for (const part of rest) {
    if (part === 'esn' || part === 'noesn') return `${echo(part)} does not go in the keyword; set the policy's esn field (true or false)`;
    if (isKeyExchange(part)) return `${echo(part)} is a key-exchange group; the settings server generates the keys itself, so drop -${part}`;
  }
  if (enc.aead) {
    if (rest.length > 0) {
      const extra = rest[0] ?? '';
      return integrity(extra) !== undefined
        ? `${enc.name} is an AEAD cipher with its own integrity check; drop -${extra}`
        : `unexpected ${echo(extra)} after ${enc.name}; an AEAD keyword stands alone (${AEAD_EXAMPLES})`;
    }
    return { encryption: { id: enc.id, keyBits: enc.keyBits }, integrity: null };
  }
  if (rest.length === 0) return `${enc.name} needs an integrity algorithm: ${enc.name}-sha256 (or -sha1, -sha384, -sha512), or use an AEAD such as aes256gcm16`;
  if (rest.length > 1) return `expected <cipher>-<integrity> such as ${PLAIN_EXAMPLES}, got ${echo(text)}`;
  const integ = integrity(rest[0] ?? '');
  if (integ === undefined) return `unknown integrity algorithm ${echo(rest[0] ?? '')}; expected sha1, sha256, sha384 or sha512`;
  return { encryption: { id: enc.id, keyBits: enc.keyBits }, integrity: { id: integ.id } };
}

// The keyword for a proposal ("aes128-sha256", "aes256gcm16"), for status and listings;
// undefined when the registry does not know its transforms.
export function formatEspProposal(p: EspProposal): string | undefined {
  try {
    const enc = encryptionTransform(p.encryption.id, p.encryption.keyBits, { allowTestOnly: true }).name;
    return p.integrity === null ? enc : `${enc}-${integrityTransform(p.integrity.id).name}`;
  } catch {
    return undefined;
  }
}
