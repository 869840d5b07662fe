// Fuzzing the settings item decoders: random bytes, every truncation and single-bit flips
// of valid items give a message or a DecodeError, never another exception; whatever
// decodes re-encodes to exactly the same bytes (one canonical form, so a flipped bit can
// never turn into a different-looking message that encodes back differently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeSettingsItem, encodeSettingsItem, readSettingsItems, type SettingsMessage } from '../../src/wire/control-settings.js';
import { decodeControlMessage, encodeControlMessage } from '../../src/wire/control-message.js';
import { ControlItemType, ControlMessageType } from '../../src/wire/control-types.js';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeOrDecodeError, fuzzDecoder } from '../wire/fuzz.js';
import { arbActivation, arbDistribution, arbError, arbMessage, arbRequest } from './codec-arb.js';

const KINDS: readonly [number, fc.Arbitrary<SettingsMessage>][] = [
  [ControlItemType.SETTINGS_REQUEST, arbRequest.map((request) => ({ kind: 'request' as const, request }))],
  [ControlItemType.SETTINGS_DISTRIBUTION, arbDistribution.map((distribution) => ({ kind: 'distribution' as const, distribution }))],
  [ControlItemType.SETTINGS_ACTIVATION, arbActivation.map((activation) => ({ kind: 'activation' as const, activation }))],
  [ControlItemType.SETTINGS_ERROR, arbError.map((error) => ({ kind: 'error' as const, error }))],
];

for (const [type, arb] of KINDS) {
  test(`item 0x${type.toString(16).padStart(4, '0')}: random, truncated and bit-flipped values give a message or a DecodeError`, () => {
    let decoded = 0;
    let rejected = 0;
    fuzzDecoder(
      (value) => {
        try {
          return decodeSettingsItem({ type, critical: true, value });
        } catch (e) {
          rejected++;
          throw e;
        }
      },
      arb.map((m) => encodeSettingsItem(m).value),
      (m, input) => {
        decoded++;
        assert.equal(Buffer.from(encodeSettingsItem(m).value).toString('hex'), Buffer.from(input).toString('hex'), 'canonical');
      },
    );
    assert.ok(decoded > 0 && rejected > 0, `both outcomes seen (${decoded} decoded, ${rejected} rejected)`);
  });
}

test('whole messages: random, truncated and flipped bytes through envelope + readSettingsItems', () => {
  const decodeAll = (b: Uint8Array) => readSettingsItems(decodeControlMessage(b).items);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (rest) => {
      decodeOrDecodeError(decodeAll, Buffer.concat([Buffer.from([1, ControlMessageType.PUSH, 0, 0, 0, 0, 0, 1]), rest]));
    }),
    { numRuns: 1000, seed: 3 },
  );
  let flips = 0;
  fc.assert(
    fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 3 }), fc.nat(), (ms, at) => {
      const bytes = encodeControlMessage({ type: ControlMessageType.PUSH, messageId: 1, items: ms.map(encodeSettingsItem) });
      for (let n = 0; n < bytes.length; n += 3) decodeOrDecodeError(decodeAll, bytes.subarray(0, n));
      const m = Uint8Array.from(bytes);
      m[at % m.length]! ^= 1 << at % 8;
      try {
        decodeAll(m);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        flips++;
      }
    }),
    { numRuns: 300, seed: 4 },
  );
  assert.ok(flips > 0, 'some flips are caught');
});
