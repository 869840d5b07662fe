// Secrets at rest: AES-256-GCM (NIST SP 800-38D) under a key derived from the master key
// for the one place the value belongs to, with that place also as the AAD.
//
//   key   = HKDF-SHA256(master key, info = "keyplane store seal v1" 0 table 0 row id)  (RFC 5869)
//   blob  = 0x01 || nonce (12 random bytes) || ciphertext || tag (16 bytes)
//   AAD   = "keyplane store seal v1" 0 table 0 row id
//
// Binding table and row id both into the key and the AAD means a sealed value copied to
// another device's row, or from one table to another, does not open. A key per row also
// keeps each GCM key far below the 2^32 random-nonce limit of SP 800-38D §8.3, however
// many times the controller rewrites channel states over its life.
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { randomBytes } from '../crypto/random.js';
import { StoreError } from './types.js';
import { StoreErrorCode } from './error-codes.js';
import { MASTER_KEY_BYTES } from './master-key.js';

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const LABEL = 'keyplane store seal v1';

export const SEAL_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

function context(table: string, rowId: string): Buffer {
  return Buffer.from(`${LABEL}\0${table}\0${rowId}`, 'utf8');
}

export class SealingKey {
  private master: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length !== MASTER_KEY_BYTES) throw new RangeError(`the master key is ${MASTER_KEY_BYTES} bytes`);
    this.master = Buffer.from(masterKey); // own copy, wiped by destroy()
  }

  private rowKey(info: Buffer): Buffer {
    if (this.master.length === 0) throw new StoreError(StoreErrorCode.CLOSED, 'the store is closed');
    return Buffer.from(hkdfSync('sha256', this.master, Buffer.alloc(0), info, 32));
  }

  seal(table: string, rowId: string, plaintext: Uint8Array): Buffer {
    const info = context(table, rowId);
    const key = this.rowKey(info);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(info);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    key.fill(0);
    return Buffer.concat([Buffer.from([VERSION]), nonce, body, cipher.getAuthTag()]);
  }

  // The plaintext, or StoreError 'store.sealed-data-invalid' naming `what` (never a
  // partially decrypted value: GCM checks the tag before anything is returned).
  open(table: string, rowId: string, blob: Uint8Array, what: string): Buffer {
    if (blob.length < SEAL_OVERHEAD_BYTES || blob[0] !== VERSION) {
      throw new StoreError(StoreErrorCode.SEALED_DATA_INVALID, `${what}: sealed value is malformed`);
    }
    const info = context(table, rowId);
    const key = this.rowKey(info);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(1, 1 + NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(info);
      decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
      const body = decipher.update(blob.subarray(1 + NONCE_BYTES, blob.length - TAG_BYTES));
      try {
        decipher.final();
      } catch {
        body.fill(0);
        throw new StoreError(
          StoreErrorCode.SEALED_DATA_INVALID,
          `${what}: sealed value does not open under this master key (altered, or copied from another row)`,
        );
      }
      return body;
    } finally {
      key.fill(0);
    }
  }

  destroy(): void {
    this.master.fill(0);
    this.master = Buffer.alloc(0);
  }
}
