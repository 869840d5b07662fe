// Shared helpers for the config tests: temporary files with chosen modes.
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  readonly path: string;
  write(name: string, text: string, mode?: number): string;
  remove(): void;
}

export function tempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'keyplane-config-'));
  return {
    path,
    write(name, text, mode = 0o600) {
      const p = join(path, name);
      writeFileSync(p, text, { mode });
      chmodSync(p, mode); // the umask may have removed bits we asked for
      return p;
    },
    remove() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

// Distinctive keys: any of these appearing in an error or log would be a leak.
export const GCM128_KEY = '4c80cdefbb5d10da906ac73c3613a634' + '2e443b68'; // 16 + 4 salt bytes
export const CBC256_KEY = '8bd5f2a8c3e1b7d90e4a61f3c2d5b8a7' + '19e6f0c4a3b2d1e0f9c8b7a6d5e4f3c2';
export const SHA256_KEY = '0b2c4d6e8f1a3b5c7d9e0f2a4b6c8d0e' + '1f3a5b7c9d0e2f4a6b8c0d1e3f5a7b9c';
