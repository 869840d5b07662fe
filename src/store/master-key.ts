// The controller master key: 32 random bytes in a file only its owner can read. Every
// secret the store keeps (init keys, channel key material) is sealed under keys derived
// from it (sealed-box.ts), so the database file alone reveals no key.
//
// File format: the key as 64 hex digits and a newline, like `keyplane keygen` output.
import { randomBytes } from '../crypto/random.js';
import { createSecretFile, readSecretFile, SecretFileError } from '../io/secret-file.js';
import { StoreError } from './types.js';
import { StoreErrorCode } from './error-codes.js';

export const MASTER_KEY_BYTES = 32;
const FILE_BYTES = MASTER_KEY_BYTES * 2 + 1;
const HEX_LINE = /^[0-9a-f]{64}\n?$/;
const LABEL = 'master key file';

const CODES = {
  missing: StoreErrorCode.MASTER_KEY_MISSING,
  permissions: StoreErrorCode.MASTER_KEY_PERMISSIONS,
  invalid: StoreErrorCode.MASTER_KEY_INVALID,
  io: StoreErrorCode.OPEN_FAILED,
} as const;

function storeError(e: unknown): unknown {
  if (!(e instanceof SecretFileError)) return e;
  return new StoreError(CODES[e.reason], e.message, e.cause !== undefined ? { cause: e.cause } : undefined);
}

// Reads the key. Refuses a file that is not a regular file, that group or others can
// access in any way (they could read the key, or replace it), or that is not 64 hex digits.
// An open refused with EACCES is an open failure (store.open-failed).
export function readMasterKey(file: string): Buffer {
  let text: string;
  try {
    // One more byte than a valid file: a longer file is an error, not a prefix.
    text = readSecretFile(file, { label: LABEL, maxBytes: FILE_BYTES + 1, accessDenied: 'io' });
  } catch (e) {
    throw storeError(e);
  }
  if (!HEX_LINE.test(text)) {
    throw new StoreError(StoreErrorCode.MASTER_KEY_INVALID, `master key file ${file} must hold exactly ${MASTER_KEY_BYTES * 2} lower-case hex digits`);
  }
  return Buffer.from(text.slice(0, MASTER_KEY_BYTES * 2), 'hex');
}

// Creates a fresh key file with mode 0600, atomically (io/secret-file.ts): nobody ever
// sees a partial file, and when two processes race the loser reads the winner's key
// instead of replacing it. Returns the key that ends up in `file` (an existing valid file
// is used as it is). A file-system error while creating is thrown as it is.
export function createOrReadMasterKey(file: string): Buffer {
  try {
    return readMasterKey(file);
  } catch (e) {
    if (!(e instanceof StoreError) || e.code !== StoreErrorCode.MASTER_KEY_MISSING) throw e;
  }
  const key = randomBytes(MASTER_KEY_BYTES);
  const line = Buffer.from(`${key.toString('hex')}\n`, 'latin1');
  let created: boolean;
  try {
    created = createSecretFile(file, line, LABEL);
  } catch (e) {
    throw e instanceof SecretFileError ? e.cause : e;
  } finally {
    line.fill(0);
  }
  if (created) return key;
  key.fill(0);
  return readMasterKey(file); // another process created it first
}
