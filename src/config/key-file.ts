// Key files: hex key material kept outside the config file. A key file must not be
// readable or writable by group or others (mode 0600 or stricter), like ssh refuses a
// private key with loose permissions: a key anyone on the host can read is no secret.

import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';
import { parseHexKey } from './values.js';

export const MAX_KEY_FILE_BYTES = 4096;

// Resolves `keyFile` relative to the directory of the config file that names it.
export function resolveKeyFile(configFile: string, keyFile: string): string {
  return isAbsolute(keyFile) ? keyFile : resolve(dirname(configFile), keyFile);
}

export function describeMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

// Returns the key bytes or an error message (never containing key material).
export function readKeyFile(path: string): Buffer | string {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    return `cannot read key file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  if (!st.isFile()) return `key file ${path} is not a regular file`;
  if ((st.mode & 0o077) !== 0) {
    return `key file ${path} has mode ${describeMode(st.mode)}, readable or writable by group/others; run: chmod 600 ${path}`;
  }
  if (st.size > MAX_KEY_FILE_BYTES) return `key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes; expected hex key material`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return `cannot read key file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  const key = parseHexKey(text);
  return typeof key === 'string' ? `key file ${path}: ${key}` : key;
}
