// `keyplane keygen --alg NAME`: fresh key material of the exact length an algorithm
// needs (cipher key plus salt for AEADs), from the CSPRNG.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { knownEncryptionNames, knownIntegrityNames, lookupEncryption, lookupIntegrity } from '../../config/algorithms.js';
import { UsageError } from '../usage-error.js';

export interface KeygenOptions {
  readonly alg: string;
  readonly out?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

export function keyLengthFor(alg: string): number {
  const enc = lookupEncryption(alg);
  if (enc !== undefined) {
    if (enc.keyMaterialBytes === 0) throw new UsageError(`${alg} takes no key`);
    return enc.keyMaterialBytes;
  }
  const integ = lookupIntegrity(alg);
  if (integ !== undefined) return integ.keyBytes;
  throw new UsageError(
    `unknown algorithm "${alg}"; expected one of ${[...knownEncryptionNames().filter((n) => n !== 'null'), ...knownIntegrityNames()].join(', ')}`,
  );
}

export function runKeygen(options: KeygenOptions): void {
  const alg = options.alg.trim().toLowerCase();
  const bytes = keyLengthFor(alg);
  const key = randomBytes(bytes);
  const hex = key.toString('hex');
  key.fill(0);
  if (options.out !== undefined) {
    try {
      // 0600 from the first byte, and never overwrite a key by accident.
      writeFileSync(options.out, `${hex}\n`, { mode: 0o600, flag: options.force ? 'w' : 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new UsageError(`${options.out} exists; pass --force to replace it`);
      throw e;
    }
    if (options.json) process.stdout.write(`${JSON.stringify({ algorithm: alg, bytes, file: options.out })}\n`);
    return;
  }
  process.stdout.write(options.json ? `${JSON.stringify({ algorithm: alg, bytes, key: hex })}\n` : `${hex}\n`);
}

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('print fresh random key material for an algorithm (hex, from the CSPRNG)')
    .requiredOption('--alg <name>', 'algorithm, e.g. aes128gcm16, aes256gcm16, aes256, chacha20poly1305, sha256')
    .option('--out <file>', 'write the key to FILE (mode 0600) instead of printing it')
    .option('--force', 'with --out: replace an existing file')
    .option('--json', 'print {"algorithm", "bytes", "key"|"file"} as JSON')
    .addHelpText(
      'after',
      '\nAEAD algorithms (aes*gcm*, chacha20poly1305) get the cipher key plus the 4-byte salt\n' +
        '(RFC 4106 §8.1, RFC 7634 §4), e.g. 20 bytes for aes128gcm16.\n\n' +
        'Examples:\n  keyplane keygen --alg aes128gcm16\n  keyplane keygen --alg sha256 --out /etc/keyplane/a-b.auth.key',
    )
    .action((opts: KeygenOptions) => runKeygen(opts));
}
