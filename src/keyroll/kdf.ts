// Key derivation of the keyroll channel. PRF = HMAC-SHA2-256 (RFC 4868 §2.1.2), prf+ as
// RFC 7296 §2.13.
//
// Generation key (the "key" of seed 004), 32 bytes:
//   K = prf+( prf(seed, DH), "keyplane keyroll key v1" | kind | generation | SPI |
//             device ID | agent public | controller public )
// where `seed` is the 32 random bytes of the distribution message and DH the X25519
// shared secret of the two ephemeral values (RFC 7748 §6.1; empty without forward
// secrecy). The construction is IKEv2's SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14)
// with the distributed seed in the nonces' place: someone who recorded the channel and
// later learns every earlier key (ultimately the init key) can decrypt the seed but not
// DH, so K stays secret. Binding kind, generation, SPI, device and both public values
// means a key can never be reused for another device, generation or SPI.
//
// ESP keying material per direction, 36 bytes = AES-256 key | 4-byte salt (RFC 4106 §8.1):
//   KEYMAT = prf+( K, "keyplane keyroll esp v1" | direction | SPI )
// Both ends use the same key in both directions (seed 004: a common key), but AES-GCM
// must never see the same nonce twice under one key (RFC 4106 §3.1, §8.1), so each
// direction gets its own key and salt.
import { createHash } from 'node:crypto';
import { PRF, prfPlus, prfTransform } from '../crypto/index.js';

export const KEYROLL_KEY_BYTES = 32;
export const ESP_KEYMAT_BYTES = 36; // AES-256-GCM: 32-byte key + 4-byte salt (RFC 4106 §8.1)

const prf = prfTransform(PRF.HMAC_SHA2_256);
const KEY_LABEL = Buffer.from('keyplane keyroll key v1', 'ascii');
const ESP_LABEL = Buffer.from('keyplane keyroll esp v1', 'ascii');
const FINGERPRINT_LABEL = Buffer.from('keyplane keyroll fingerprint v1', 'ascii');

// 's2r': key sender (controller) -> key receiver (agent); 'r2s': the other way.
export type Direction = 's2r' | 'r2s';

export interface GenerationKeyInput {
  readonly seed: Uint8Array;
  readonly dhSecret: Uint8Array | null; // null without forward secrecy
  readonly kind: 'init' | 'rotation';
  readonly generation: number;
  readonly spi: number;
  readonly deviceId: string;
  readonly receiverPublic: Uint8Array | null;
  readonly senderPublic: Uint8Array | null;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

function lengthPrefixed(bytes: Uint8Array): Buffer {
  const b = Buffer.alloc(2 + bytes.length);
  b.writeUInt16BE(bytes.length, 0);
  b.set(bytes, 2);
  return b;
}

export function deriveGenerationKey(i: GenerationKeyInput): Buffer {
  const skeyseed = prf.compute(i.seed, i.dhSecret ?? Buffer.alloc(0));
  const info = Buffer.concat([
    KEY_LABEL,
    Buffer.from([i.kind === 'init' ? 1 : 2]),
    u32(i.generation),
    u32(i.spi),
    lengthPrefixed(Buffer.from(i.deviceId, 'utf8')),
    lengthPrefixed(i.receiverPublic ?? Buffer.alloc(0)),
    lengthPrefixed(i.senderPublic ?? Buffer.alloc(0)),
  ]);
  const key = prfPlus(prf, skeyseed, info, KEYROLL_KEY_BYTES);
  skeyseed.fill(0);
  return key;
}

export function deriveEspKeyMaterial(key: Uint8Array, spi: number, direction: Direction): Buffer {
  const info = Buffer.concat([ESP_LABEL, Buffer.from([direction === 's2r' ? 1 : 2]), u32(spi)]);
  return prfPlus(prf, key, info, ESP_KEYMAT_BYTES);
}

// A short public name for a key, for state tables, logs and tests: 16 hex digits of a
// labelled SHA-256. Equal keys give equal fingerprints on both ends; the digest reveals
// nothing usable about the key.
export function keyFingerprint(key: Uint8Array): string {
  return createHash('sha256').update(FINGERPRINT_LABEL).update(key).digest('hex').slice(0, 16);
}
