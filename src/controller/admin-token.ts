// The admin API token: 32 CSPRNG bytes, stored as base64url (RFC 4648 §5, no padding)
// and a newline in a file only its owner can access (default /var/lib/keyplane/admin.token).
// The controller creates it on first start; `keyplane` admin commands read it and send
// `Authorization: Bearer <the base64url text>` (RFC 6750 §2.1).
//
// Like the master key file (store/master-key.ts), through io/secret-file.ts: created
// through a private temporary file hard-linked into place (never seen half-written; two
// processes racing end up with one token), and refused when group or others have any
// access, when it is a symbolic link, or when it is not exactly one canonical token.
import { randomBytes } from '../crypto/random.js';
import { KeyplaneError } from '../util/errors.js';
import { createSecretFile, readSecretFile, SecretFileError } from '../io/secret-file.js';

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

const LABEL = 'admin token file';

// SecretFileError reasons are this module's codes by name.
function tokenError(e: unknown): unknown {
  if (!(e instanceof SecretFileError)) return e;
  const code = { missing: AdminTokenErrorCode.MISSING, permissions: AdminTokenErrorCode.PERMISSIONS, invalid: AdminTokenErrorCode.INVALID, io: AdminTokenErrorCode.IO }[e.reason];
  return new AdminTokenError(code, e.message, e.cause !== undefined ? { cause: e.cause } : undefined);
}

// The token's text form, as it goes in the file and the Authorization header.
export function adminTokenText(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('base64url');
}

// Reads the token (32 bytes). Messages never quote the file's content.
export function readAdminToken(file: string): Uint8Array {
  let text: string;
  try {
    // One more than a valid file: longer is an error, not a prefix.
    text = readSecretFile(file, { label: LABEL, maxBytes: TOKEN_CHARS + 2, accessDenied: 'permissions' });
  } catch (e) {
    throw tokenError(e);
  }
  const token = TOKEN_LINE.test(text) ? Buffer.from(text.slice(0, TOKEN_CHARS), 'base64url') : undefined;
  if (token === undefined || token.length !== ADMIN_TOKEN_BYTES || adminTokenText(token) !== text.slice(0, TOKEN_CHARS)) {
    throw new AdminTokenError(AdminTokenErrorCode.INVALID, `admin token file ${file} must hold exactly one token: ${TOKEN_CHARS} base64url characters (${ADMIN_TOKEN_BYTES} bytes)`);
  }
  return token;
}

// The token in `file`, created (mode 0600, its folder 0700) when the file does not exist.
// A folder that cannot be created is reported by mkdir's own error; any other failure
// while creating (or reading the file another process created first) that is not already
// an AdminTokenError is admin.token-io "cannot create ...".
export function loadOrCreateAdminToken(file: string): Uint8Array {
  try {
    return readAdminToken(file);
  } catch (e) {
    if (!(e instanceof AdminTokenError) || e.code !== AdminTokenErrorCode.MISSING) throw e;
  }
  const token = randomBytes(ADMIN_TOKEN_BYTES);
  let created: boolean;
  try {
    created = createSecretFile(file, Buffer.from(`${adminTokenText(token)}\n`, 'latin1'), LABEL);
  } catch (e) {
    throw tokenError(e);
  }
  if (created) return token;
  token.fill(0);
  try {
    return readAdminToken(file); // another process created it first
  } catch (e) {
    if (e instanceof AdminTokenError) throw e;
    throw new AdminTokenError(AdminTokenErrorCode.IO, `cannot create admin token file ${file}: ${(e as Error).message}`, { cause: e });
  }
}
