// The algorithm registry: every transform keyplane implements, found by its IANA IKEv2
// transform type and ID (RFC 7296 §3.3.2; IANA "IKEv2 Transform Type N" registries) or by
// its strongSwan proposal keyword (swanctl.conf "proposals", e.g. "aes128gcm16-x25519").
// Unknown IDs, keywords and key sizes raise CryptoError 'crypto.unknown-transform' with a
// message that lists what is supported.
import {
  CryptoError,
  ENCR,
  type EncryptionTransform,
  type IntegrityTransform,
  type KeyExchangeTransform,
  type PrfTransform,
} from './types.js';
import { CryptoErrorCode } from './error-codes.js';
import { aesCbcTransform } from './encr-aes-cbc.js';
import { aesGcmTransform, chacha20Poly1305Transform } from './encr-aead.js';
import { nullTransform } from './encr-null.js';
import { HMAC_SHA1_96, HMAC_SHA2_256_128, HMAC_SHA2_384_192, HMAC_SHA2_512_256 } from './integrity.js';
import { PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512 } from './prf.js';
import { MODP_2048, MODP_3072, MODP_4096 } from './ke-modp.js';
import { ECP_256, ECP_384, ECP_521 } from './ke-ecp.js';
import { CURVE25519, CURVE448 } from './ke-montgomery.js';

export interface EncryptionOptions {
  // Required to obtain a test-only transform (ENCR_NULL).
  readonly allowTestOnly?: boolean;
}

// One row of a `list*` function: plain data, for docs and `keyplane algorithms --json`.
export interface TransformInfo {
  readonly type: 'encryption' | 'integrity' | 'prf' | 'key-exchange';
  readonly id: number;
  readonly name: string; // canonical strongSwan keyword
  readonly aliases: readonly string[];
  readonly keyBits: number | null; // encryption only
  readonly testOnly: boolean;
  readonly description: string;
}

interface Entry<T> {
  readonly transform: T;
  readonly aliases: readonly string[];
  readonly description: string;
}

// ---------------------------------------------------------------------------- encryption

const AES_KEY_BITS = [128, 192, 256] as const;
const GCM_ICV_BYTES = [8, 12, 16] as const;

function encryptionEntries(): Entry<EncryptionTransform>[] {
  const entries: Entry<EncryptionTransform>[] = [];
  entries.push({ transform: nullTransform(), aliases: [], description: 'NULL encryption, RFC 2410 (tests only)' });
  for (const bits of AES_KEY_BITS) {
    entries.push({ transform: aesCbcTransform(bits), aliases: [], description: `AES-CBC ${bits}-bit key, RFC 3602` });
  }
  for (const icv of GCM_ICV_BYTES) {
    for (const bits of AES_KEY_BITS) {
      entries.push({
        transform: aesGcmTransform(bits, icv),
        // strongSwan also accepts the ICV length in bits: aes128gcm64 = aes128gcm8, ...
        aliases: [`aes${bits}gcm${icv * 8}`],
        description: `AES-GCM ${bits}-bit key, ${icv}-byte ICV, RFC 4106`,
      });
    }
  }
  entries.push({ transform: chacha20Poly1305Transform(), aliases: [], description: 'ChaCha20-Poly1305, RFC 7634' });
  return entries;
}

const ENCRYPTION = encryptionEntries();

// Transforms whose key size is fixed by the algorithm: IKE sends no Key Length attribute
// for them (RFC 7634 §4, RFC 2410), so a key size of 0 means "the only one there is".
const FIXED_KEY_ENCRYPTION: ReadonlySet<number> = new Set([ENCR.NULL, ENCR.CHACHA20_POLY1305]);

function describeEncryption(): string {
  const byId = new Map<number, Entry<EncryptionTransform>[]>();
  for (const e of ENCRYPTION) byId.set(e.transform.id, [...(byId.get(e.transform.id) ?? []), e]);
  return [...byId.entries()]
    .map(([id, es]) => {
      const names = es.map((e) => e.transform.name).join('/');
      const sizes = FIXED_KEY_ENCRYPTION.has(id) ? '' : ` with key bits ${es.map((e) => e.transform.keyBits).join('/')}`;
      return `${id} (${names}${sizes}${es[0]?.transform.testOnly ? ', test only' : ''})`;
    })
    .join(', ');
}

function checkTestOnly(t: EncryptionTransform, opts: EncryptionOptions | undefined): EncryptionTransform {
  if (t.testOnly && opts?.allowTestOnly !== true) {
    throw new CryptoError(
      CryptoErrorCode.TEST_ONLY,
      `encryption transform ${t.name} (ENCR ${t.id}) provides no confidentiality and is for tests only; ` +
        'pass {allowTestOnly: true} (config: allowTestOnlyAlgorithms) to use it',
    );
  }
  return t;
}

// ENCR transform `id` with a key of `keyBits` (the IKE Key Length attribute). For
// transforms with a fixed key size, `keyBits` may be omitted or 0.
export function encryptionTransform(id: number, keyBits?: number, opts?: EncryptionOptions): EncryptionTransform {
  const candidates = ENCRYPTION.filter((e) => e.transform.id === id);
  if (candidates.length === 0) {
    throw new CryptoError(
      CryptoErrorCode.UNKNOWN_TRANSFORM,
      `unknown encryption transform ID ${id}; supported ENCR IDs: ${describeEncryption()}`,
    );
  }
  const fixed = FIXED_KEY_ENCRYPTION.has(id);
  const match = candidates.find((e) => e.transform.keyBits === keyBits || (fixed && (keyBits === undefined || keyBits === 0)));
  if (match === undefined) {
    const sizes = candidates.map((e) => e.transform.keyBits).join(', ');
    const what = keyBits === undefined ? 'needs a key size (IKE Key Length attribute)' : `does not support a ${keyBits}-bit key`;
    throw new CryptoError(
      CryptoErrorCode.UNKNOWN_TRANSFORM,
      `encryption transform ID ${id} (${candidates[0]?.transform.name ?? ''}) ${what}; supported key sizes: ${sizes} bits`,
    );
  }
  return checkTestOnly(match.transform, opts);
}

// By strongSwan keyword, e.g. "aes128", "aes256gcm16", "chacha20poly1305", "null".
export function encryptionByName(name: string, opts?: EncryptionOptions): EncryptionTransform {
  return checkTestOnly(byName('encryption', ENCRYPTION, name), opts);
}

// ----------------------------------------------------------------------------- the rest

const INTEGRITY: Entry<IntegrityTransform>[] = [
  { transform: HMAC_SHA1_96, aliases: ['sha1_96'], description: 'HMAC-SHA1-96, RFC 2404' },
  { transform: HMAC_SHA2_256_128, aliases: ['sha2_256', 'sha256_128', 'sha2_256_128'], description: 'HMAC-SHA2-256-128, RFC 4868' },
  { transform: HMAC_SHA2_384_192, aliases: ['sha2_384', 'sha384_192', 'sha2_384_192'], description: 'HMAC-SHA2-384-192, RFC 4868' },
  { transform: HMAC_SHA2_512_256, aliases: ['sha2_512', 'sha512_256', 'sha2_512_256'], description: 'HMAC-SHA2-512-256, RFC 4868' },
];

const PRFS: Entry<PrfTransform>[] = [
  { transform: PRF_HMAC_SHA1, aliases: [], description: 'PRF-HMAC-SHA1, RFC 2104' },
  { transform: PRF_HMAC_SHA2_256, aliases: ['prfsha2_256'], description: 'PRF-HMAC-SHA2-256, RFC 4868' },
  { transform: PRF_HMAC_SHA2_384, aliases: ['prfsha2_384'], description: 'PRF-HMAC-SHA2-384, RFC 4868' },
  { transform: PRF_HMAC_SHA2_512, aliases: ['prfsha2_512'], description: 'PRF-HMAC-SHA2-512, RFC 4868' },
];

const KEY_EXCHANGE: Entry<KeyExchangeTransform>[] = [
  { transform: MODP_2048, aliases: [], description: '2048-bit MODP group, RFC 3526' },
  { transform: MODP_3072, aliases: [], description: '3072-bit MODP group, RFC 3526' },
  { transform: MODP_4096, aliases: [], description: '4096-bit MODP group, RFC 3526' },
  { transform: ECP_256, aliases: [], description: '256-bit random ECP group (NIST P-256), RFC 5903' },
  { transform: ECP_384, aliases: [], description: '384-bit random ECP group (NIST P-384), RFC 5903' },
  { transform: ECP_521, aliases: [], description: '521-bit random ECP group (NIST P-521), RFC 5903' },
  { transform: CURVE25519, aliases: ['curve25519'], description: 'Curve25519 (X25519), RFC 8031' },
  { transform: CURVE448, aliases: ['curve448'], description: 'Curve448 (X448), RFC 8031' },
];

type Named = { readonly id: number; readonly name: string };

function describe<T extends Named>(entries: readonly Entry<T>[]): string {
  return entries.map((e) => `${e.transform.id} (${e.transform.name})`).join(', ');
}

function byId<T extends Named>(kind: string, entries: readonly Entry<T>[], id: number): T {
  const entry = entries.find((e) => e.transform.id === id);
  if (entry === undefined) {
    throw new CryptoError(CryptoErrorCode.UNKNOWN_TRANSFORM, `unknown ${kind} transform ID ${id}; supported: ${describe(entries)}`);
  }
  return entry.transform;
}

function byName<T extends Named>(kind: string, entries: readonly Entry<T>[], name: string): T {
  const key = name.trim().toLowerCase();
  const entry = entries.find((e) => e.transform.name === key || e.aliases.includes(key));
  if (entry === undefined) {
    const known = entries.map((e) => [e.transform.name, ...e.aliases].join('|')).join(', ');
    throw new CryptoError(CryptoErrorCode.UNKNOWN_TRANSFORM, `unknown ${kind} algorithm "${name}"; supported: ${known}`);
  }
  return entry.transform;
}

export function integrityTransform(id: number): IntegrityTransform {
  return byId('integrity', INTEGRITY, id);
}

export function integrityByName(name: string): IntegrityTransform {
  return byName('integrity', INTEGRITY, name);
}

export function prfTransform(id: number): PrfTransform {
  return byId('PRF', PRFS, id);
}

export function prfByName(name: string): PrfTransform {
  return byName('PRF', PRFS, name);
}

export function keyExchangeTransform(id: number): KeyExchangeTransform {
  return byId('key exchange', KEY_EXCHANGE, id);
}

export function keyExchangeByName(name: string): KeyExchangeTransform {
  return byName('key exchange', KEY_EXCHANGE, name);
}

// ------------------------------------------------------------------------------- listing

function info<T extends Named>(
  type: TransformInfo['type'],
  e: Entry<T>,
  keyBits: number | null,
  testOnly: boolean,
): TransformInfo {
  return { type, id: e.transform.id, name: e.transform.name, aliases: e.aliases, keyBits, testOnly, description: e.description };
}

export function listEncryptionTransforms(): TransformInfo[] {
  return ENCRYPTION.map((e) => info('encryption', e, e.transform.keyBits, e.transform.testOnly));
}

export function listIntegrityTransforms(): TransformInfo[] {
  return INTEGRITY.map((e) => info('integrity', e, null, false));
}

export function listPrfTransforms(): TransformInfo[] {
  return PRFS.map((e) => info('prf', e, null, false));
}

export function listKeyExchangeTransforms(): TransformInfo[] {
  return KEY_EXCHANGE.map((e) => info('key-exchange', e, null, false));
}

export function listAllTransforms(): TransformInfo[] {
  return [...listEncryptionTransforms(), ...listIntegrityTransforms(), ...listPrfTransforms(), ...listKeyExchangeTransforms()];
}
