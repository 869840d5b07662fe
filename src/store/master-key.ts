// The controller master key: 32 random bytes in a file only its owner can read. Every
// secret the store keeps (init keys, channel key material) is sealed under keys derived
// from it (sealed-box.ts), so the database file alone reveals no key.
//
// File format: the key as 64 hex digits and a newline, like `keyplane keygen` output.
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from '../crypto/random.js';
import { StoreError } from './types.js';
import { StoreErrorCode } from './error-codes.js';

export const MASTER_KEY_BYTES = 32;
const FILE_BYTES = MASTER_KEY_BYTES * 2 + 1;
const HEX_LINE = /^[0-9a-f]{64}\n?$/;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

// Reads the key. Refuses a file that is not a regular file, that group or others can
// access in any way (they could read the key, or replace it), or that is not 64 hex digits.
export function readMasterKey(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new StoreError(StoreErrorCode.MASTER_KEY_MISSING, `master key file ${file} does not exist`);
    if (errno(e) === 'ELOOP') throw new StoreError(StoreErrorCode.MASTER_KEY_PERMISSIONS, `master key file ${file} is a symbolic link; give the file itself`);
    throw new StoreError(StoreErrorCode.OPEN_FAILED, `cannot open master key file ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new StoreError(StoreErrorCode.MASTER_KEY_INVALID, `master key file ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new StoreError(
        StoreErrorCode.MASTER_KEY_PERMISSIONS,
        `master key file ${file} has mode ${modeText(st.mode)}: group and others must have no access; run chmod 600 ${file}`,
      );
    }
    const buf = Buffer.alloc(FILE_BYTES + 1); // one more: a longer file is an error, not a prefix
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('latin1');
    buf.fill(0);
    if (!HEX_LINE.test(text)) {
      throw new StoreError(StoreErrorCode.MASTER_KEY_INVALID, `master key file ${file} must hold exactly ${MASTER_KEY_BYTES * 2} lower-case hex digits`);
    }
    return Buffer.from(text.slice(0, MASTER_KEY_BYTES * 2), 'hex');
  } finally {
    closeSync(fd);
  }
}

// Creates a fresh key file with mode 0600, atomically: the key is written to a private
// temporary file and hard-linked into place, so nobody ever sees a partial file, and when
// two processes race the loser reads the winner's key instead of replacing it.
// Returns the key that ends up in `file` (an existing valid file is used as it is).
export function createOrReadMasterKey(file: string): Buffer {
  try {
    return readMasterKey(file);
  } catch (e) {
    if (!(e instanceof StoreError) || e.code !== StoreErrorCode.MASTER_KEY_MISSING) throw e;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(MASTER_KEY_BYTES);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const line = Buffer.from(`${key.toString('hex')}\n`, 'latin1');
      writeSync(fd, line);
      line.fill(0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      key.fill(0);
      return readMasterKey(file); // another process created it first
    }
    fsyncDir(dirname(file));
    return key;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
  }
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename/link itself still happened.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
