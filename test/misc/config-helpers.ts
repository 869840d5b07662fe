// Shared helpers for the config tests: temporary files with chosen modes, distinctive
// keys and the leak check, and the loaders' fuzz properties.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/config/errors.js';
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

// The keys above and pieces of them: none may appear in an error message (spacing and
// colons ignored, so a key split across a line or written as aa:bb:.. is still found).
const SECRETS = [GCM128_KEY, CBC256_KEY, SHA256_KEY, GCM128_KEY.slice(0, 16), CBC256_KEY.slice(8, 24), SHA256_KEY.slice(-16)];

export function assertNoSecrets(message: string): void {
  const flat = message.toLowerCase().replace(/[:\s]/g, '');
  for (const s of SECRETS) assert.ok(!flat.includes(s.toLowerCase()), `key material appears in an error message:\n${message}`);
}

// What a loader made of some text: a config, or a ConfigError that lists at least one
// problem and passes `checkMessage` (no key material). Anything else is thrown on.
export type ConfigOutcome = 'ok' | 'config-error';

export function configOutcome(parse: (text: string) => unknown, text: string, checkMessage: (message: string) => void): ConfigOutcome {
  try {
    parse(text);
    return 'ok';
  } catch (e) {
    if (e instanceof ConfigError) {
      assert.equal(e.code, 'config.invalid');
      assert.ok(e.issues.length > 0);
      checkMessage(e.message);
      return 'config-error';
    }
    throw e;
  }
}

// Every path into a JSON-like value (objects and arrays), the empty path included.
export function configPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => configPaths(v, [...prefix, k]))];
}

// Property: a valid config with one field replaced by a random value (or deleted), as
// YAML or JSON, loads or gives a config error (`outcome` decides what that means).
export function fuzzOneFieldReplaced(valid: object, outcome: (text: string) => ConfigOutcome, options: { numRuns: number; extraValues?: readonly unknown[] }): void {
  assert.equal(outcome(JSON.stringify(valid)), 'ok');
  const all = configPaths(valid).filter((p) => p.length > 0);
  const values = [fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.integer(), fc.double(), ...(options.extraValues ?? []).map((v) => fc.constant(v))];
  fc.assert(
    fc.property(fc.constantFrom(...all), fc.option(fc.oneof(...values)), fc.boolean(), (path, replacement, asYaml) => {
      const cfg = structuredClone(valid) as unknown as Record<string | number, unknown>;
      let node = cfg;
      for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
      const last = path[path.length - 1]!;
      if (replacement === null) delete node[last];
      else node[last] = replacement;
      outcome(asYaml ? stringify(cfg) : JSON.stringify(cfg));
    }),
    { numRuns: options.numRuns },
  );
}
