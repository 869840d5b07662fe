// The admin API token: 32 CSPRNG bytes, stored as base64url (RFC 4648 §5, no padding)
// and a newline in a file only its owner can access (default /var/lib/keyplane/admin.token).
// The controller creates it on first start; `keyplane` admin commands read it and send
// `Authorization: Bearer <the base64url text>` (RFC 6750 §2.1).
//
// Like the master key file (store/master-key.ts): created through a private temporary
// file hard-linked into place (never seen half-written; two processes racing end up with
// one token), and refused when group or others have any access, when it is a symbolic
// link, or when it is not exactly one canonical token.
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from '../crypto/random.js';
import { KeyplaneError } from '../util/errors.js';
import { fsyncDir } from '../store/master-key.js';

export const ADMIN_TOKEN_BYTES = 32;
export const DEFAULT_ADMIN_TOKEN_FILE = '/var/lib/keyplane/admin.token';
const TOKEN_CHARS = 43; // base64url of 32 bytes, unpadded
const TOKEN_LINE = /^[A-Za-z0-9_-]{43}\n?$/;

export const AdminTokenErrorCode = {
  MISSING: 'admin.token-missing',
  PERMISSIONS: 'admin.token-permissions',
  INVALID: 'admin.token-invalid',
  IO: 'admin.token-io',
} as const;

export class AdminTokenError extends KeyplaneError {}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

// The token's text form, as it goes in the file and the Authorization header.
export function adminTokenText(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('base64url');
}

// Reads the token (32 bytes). Messages never quote the file's content.
export function readAdminToken(file: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new AdminTokenError(AdminTokenErrorCode.MISSING, `admin token file ${file} does not exist`);
    if (errno(e) === 'ELOOP') throw new AdminTokenError(AdminTokenErrorCode.PERMISSIONS, `admin token file ${file} is a symbolic link; give the file itself`);
    if (errno(e) === 'EACCES') throw new AdminTokenError(AdminTokenErrorCode.PERMISSIONS, `admin token file ${file} is not readable by this user`);
    throw new AdminTokenError(AdminTokenErrorCode.IO, `cannot open admin token file ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new AdminTokenError(AdminTokenErrorCode.INVALID, `admin token file ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new AdminTokenError(
        AdminTokenErrorCode.PERMISSIONS,
        `admin token file ${file} has mode 0${(st.mode & 0o777).toString(8)}: group and others must have no access; run chmod 600 ${file}`,
      );
    }
    const buf = Buffer.alloc(TOKEN_CHARS + 2); // one more than a valid file: longer is an error, not a prefix
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('latin1');
    buf.fill(0);
    const token = TOKEN_LINE.test(text) ? Buffer.from(text.slice(0, TOKEN_CHARS), 'base64url') : undefined;
    if (token === undefined || token.length !== ADMIN_TOKEN_BYTES || adminTokenText(token) !== text.slice(0, TOKEN_CHARS)) {
      throw new AdminTokenError(AdminTokenErrorCode.INVALID, `admin token file ${file} must hold exactly one token: ${TOKEN_CHARS} base64url characters (${ADMIN_TOKEN_BYTES} bytes)`);
    }
    return token;
  } finally {
    closeSync(fd);
  }
}

// The token in `file`, created (mode 0600, its folder 0700) when the file does not exist.
export function loadOrCreateAdminToken(file: string): Uint8Array {
  try {
    return readAdminToken(file);
  } catch (e) {
    if (!(e instanceof AdminTokenError) || e.code !== AdminTokenErrorCode.MISSING) throw e;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(ADMIN_TOKEN_BYTES);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${adminTokenText(token)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      token.fill(0);
      return readAdminToken(file); // another process created it first
    }
    fsyncDir(dirname(file));
    return token;
  } catch (e) {
    if (e instanceof AdminTokenError) throw e;
    throw new AdminTokenError(AdminTokenErrorCode.IO, `cannot create admin token file ${file}: ${(e as Error).message}`, { cause: e });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
  }
}
