// Small files that hold one secret (the store's master key, the admin API token), readable
// by their owner only. The mechanics both share:
//   - reading: opened with O_NOFOLLOW (a symbolic link is refused, not followed), fstat of
//     the open file (no race between check and read), refused when it is not a regular
//     file or when group or others have any access (they could read the secret, or
//     replace it), read with a bound (a longer file is the caller's error, not a prefix),
//     the read buffer zeroed;
//   - creating: written to a private temporary file (O_EXCL, mode 0600) in the same
//     folder, synced, then hard-linked into place, so nobody ever sees a partial file and
//     when two processes race the loser finds the winner's file instead of replacing it.
//     A missing folder is created with mode 0700.
// Errors carry a reason; each caller maps it to its own error class and codes. Messages
// name the file by the caller's label ("master key file") and never quote its content.
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from '../crypto/random.js';
import { KeyplaneError } from '../util/errors.js';

export type SecretFileReason = 'missing' | 'permissions' | 'invalid' | 'io';

export class SecretFileError extends KeyplaneError {
  constructor(
    readonly reason: SecretFileReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`secret-file.${reason}`, message, options);
  }
}

export interface SecretFileReadOptions {
  // How the file is named in messages, e.g. "master key file".
  readonly label: string;
  // Bytes to read at most; a caller passes one more than a valid file so a longer file
  // shows as too long.
  readonly maxBytes: number;
  // What an open refused with EACCES is: 'permissions' ("not readable by this user") or
  // 'io' (reported like any other open failure).
  readonly accessDenied: 'permissions' | 'io';
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

// The file's first maxBytes bytes as latin1 text, for the caller to check. Throws
// SecretFileError for a missing file, a symbolic link, a file that is not regular or that
// group/others can access, and a failed open; a failing fstat or read is thrown as is.
export function readSecretFile(file: string, o: SecretFileReadOptions): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new SecretFileError('missing', `${o.label} ${file} does not exist`);
    if (errno(e) === 'ELOOP') throw new SecretFileError('permissions', `${o.label} ${file} is a symbolic link; give the file itself`);
    if (errno(e) === 'EACCES' && o.accessDenied === 'permissions') throw new SecretFileError('permissions', `${o.label} ${file} is not readable by this user`);
    throw new SecretFileError('io', `cannot open ${o.label} ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SecretFileError('invalid', `${o.label} ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new SecretFileError(
        'permissions',
        `${o.label} ${file} has mode 0${(st.mode & 0o777).toString(8)}: group and others must have no access; run chmod 600 ${file}`,
      );
    }
    const buf = Buffer.alloc(o.maxBytes);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('latin1');
    buf.fill(0);
    return text;
  } finally {
    closeSync(fd);
  }
}

// Creates `file` (mode 0600) holding `content`, unless a file is already there. Returns
// true when this call created it, false when another file took the name first (the
// caller then reads that one). A folder that cannot be created is reported by mkdir's own
// error; a failure to write or link the file as SecretFileError 'io' (cause: the system's
// error).
export function createSecretFile(file: string, content: Uint8Array, label: string): boolean {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const failed = (e: unknown): SecretFileError => new SecretFileError('io', `cannot create ${label} ${file}: ${(e as Error).message}`, { cause: e });
  try {
    try {
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, content);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw failed(e);
    }
    try {
      linkSync(tmp, file);
    } catch (e) {
      if (errno(e) === 'EEXIST') return false; // another process created it first
      throw failed(e);
    }
    fsyncDir(dirname(file));
    return true;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
  }
}

// Makes a rename or link in `dir` durable.
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
