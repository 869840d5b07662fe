// Property tests: whatever the input, the loader returns a config or throws ConfigError
// (never TypeError, RangeError, a zod or YAML exception), and never leaks the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseManualKeyingConfig } from '../../src/config/manual-keying.js';
import { ConfigError } from '../../src/config/errors.js';
import { GCM128_KEY } from './config-helpers.js';

function outcome(text: string): 'ok' | 'config-error' {
  try {
    parseManualKeyingConfig(text, { file: 'fuzz.yaml' });
    return 'ok';
  } catch (e) {
    if (e instanceof ConfigError) {
      assert.equal(e.code, 'config.invalid');
      assert.ok(e.issues.length > 0);
      assert.ok(!e.message.includes(GCM128_KEY), 'key material in an error message');
      return 'config-error';
    }
    throw e;
  }
}

const VALID = {
  dataplane: { localAddress: '192.0.2.1', port: 4500 },
  policies: [{ name: 'p', action: 'protect', local: '10.1.0.0/24', remote: '10.2.0.0/24', remoteTunnel: '192.0.2.2' }],
  sas: [{ policy: 'p', direction: 'out', spi: 4097, encryption: { algorithm: 'aes128gcm16', key: GCM128_KEY } }],
};

test('random text never crashes the loader', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
      outcome(text);
    }),
    { numRuns: 500 },
  );
});

test('random YAML-ish text never crashes the loader', () => {
  const token = fc.constantFrom(
    'dataplane:', 'policies:', 'sas:', '  - ', '  ', ': ', '{', '}', '[', ']', ',', '&a ', '*a', '!!str ', '!!binary ',
    '? ', '|', '>', '"', "'", '#', '\n', '---', '...', 'name: p', 'spi: 0x100', 'localAddress: 192.0.2.1', '__proto__: ',
    'key: ', 'null', '~', '1e400', '-0', '.nan', '0o17', 'true',
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 40 }), (tokens) => {
      outcome(tokens.join(''));
    }),
    { numRuns: 500 },
  );
});

test('random JSON values never crash the loader', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      outcome(JSON.stringify(value) ?? 'null');
    }),
    { numRuns: 500 },
  );
});

// Replace one field anywhere in a valid config by a random value (or delete it).
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

test('a valid config with one field replaced by anything loads or gives a config error', () => {
  assert.equal(outcome(JSON.stringify(VALID)), 'ok');
  const allPaths = paths(VALID).filter((p) => p.length > 0);
  fc.assert(
    fc.property(
      fc.constantFrom(...allPaths),
      fc.option(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.integer(), fc.double())),
      fc.boolean(),
      (path, replacement, asYaml) => {
        const cfg = structuredClone(VALID) as unknown as Record<string | number, unknown>;
        let node = cfg;
        for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
        const last = path[path.length - 1]!;
        if (replacement === null) delete node[last];
        else node[last] = replacement;
        outcome(asYaml ? stringify(cfg) : JSON.stringify(cfg));
      },
    ),
    { numRuns: 800 },
  );
});
