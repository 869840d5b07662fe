// Property tests: whatever the input, the loader returns a config or throws ConfigError
// (never TypeError, RangeError, a zod or YAML exception), and never leaks the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManualKeyingConfig } from '../../src/config/manual-keying.js';
import { configOutcome, fuzzOneFieldReplaced, GCM128_KEY, type ConfigOutcome } from './config-helpers.js';

function outcome(text: string): ConfigOutcome {
  return configOutcome((t) => parseManualKeyingConfig(t, { file: 'fuzz.yaml' }), text, (m) => assert.ok(!m.includes(GCM128_KEY), 'key material in an error message'));
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
test('a valid config with one field replaced by anything loads or gives a config error', () => {
  fuzzOneFieldReplaced(VALID, outcome, { numRuns: 800 });
});
