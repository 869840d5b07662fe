// Fuzzing the control-message decoders: random, truncated and bit-flipped bytes give a
// value or a DecodeError, never another exception; whatever decodes re-encodes to the
// same bytes (one canonical form).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeControlMessage, encodeControlMessage, type ControlItem } from '../../src/wire/control-message.js';
import { ControlMessageType } from '../../src/wire/control-types.js';
import {
  encodeKeyrollDistribution,
  encodeKeyrollEphemeral,
  encodeKeyrollRequest,
  encodeKeyrollResync,
  readKeyrollItems,
} from '../../src/wire/control-keyroll.js';

// Decodes envelope and keyroll items; 'ok', or the DecodeError reason. Anything else thrown
// fails the property.
function decodeAll(bytes: Uint8Array): string {
  try {
    const m = decodeControlMessage(bytes);
    assert.deepEqual(Buffer.from(encodeControlMessage(m)), Buffer.from(bytes), 'canonical re-encoding');
    readKeyrollItems(m);
    return 'ok';
  } catch (err) {
    if (err instanceof DecodeError) return err.reason;
    throw err;
  }
}

const keyrollItem: fc.Arbitrary<ControlItem> = fc.oneof(
  fc.record({ kind: fc.constantFrom('init' as const, 'update' as const, 'resend' as const), generation: fc.nat() }).map(encodeKeyrollRequest),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((publicKey) => encodeKeyrollEphemeral({ keId: 31, publicKey })),
  fc
    .record({
      kind: fc.constantFrom('init' as const, 'rotation' as const),
      generation: fc.integer({ min: 1, max: 0xffff_ffff }),
      spi: fc.integer({ min: 256, max: 0xffff_ffff }),
      seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fs: fc.boolean(),
      pub: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    })
    .map((d) =>
      encodeKeyrollDistribution({
        ...d,
        ephemeral: d.fs ? { keId: 31, senderPublic: d.pub.subarray(0, 32), receiverPublic: d.pub.subarray(32) } : null,
      }),
    ),
  fc.record({ spi: fc.integer({ min: 256, max: 0xffff_ffff }), nextSequence: fc.integer({ min: 1, max: 0xffff_ffff }) }).map(encodeKeyrollResync),
  fc.record({ type: fc.integer({ min: 0x0200, max: 0x7fff }), value: fc.uint8Array({ maxLength: 40 }) }).map((i) => ({ ...i, critical: false })),
);

// Valid messages: one item of each keyroll kind at most, as the keyroll core sends them.
const validMessage = fc
  .record({
    type: fc.constantFrom(ControlMessageType.REGISTRATION, ControlMessageType.REGISTRATION_ACK, ControlMessageType.NOTICE),
    messageId: fc.integer({ min: 1, max: 0xffff_ffff }),
    items: fc.uniqueArray(keyrollItem, { maxLength: 5, selector: (i) => (i.type >= 0x0200 ? i.type : i.type < 0x0104 ? 0x0101 : i.type) }),
  })
  .map((m) => encodeControlMessage(m));

test('random bytes: a value or a DecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => typeof decodeAll(b) === 'string'),
    { numRuns: 5000, seed: 41 },
  );
  // Random bytes behind a valid header reach the item parser.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.uint8Array({ maxLength: 200 }), (type, rest) => {
      const b = Buffer.concat([Buffer.from([1, type, 0, 0, 0, 0, 0, 1]), rest]);
      return typeof decodeAll(b) === 'string';
    }),
    { numRuns: 5000, seed: 42 },
  );
});

test('valid messages decode; every truncation is a DecodeError or a shorter valid message', () => {
  let truncatedErrors = 0;
  fc.assert(
    fc.property(validMessage, (bytes) => {
      assert.equal(decodeAll(bytes), 'ok');
      // Cutting exactly at an item boundary leaves a valid (shorter) message; anywhere
      // else the decoder must notice.
      const boundaries = new Set<number>([8]);
      let off = 8;
      for (const it of decodeControlMessage(bytes).items) boundaries.add((off += 4 + it.value.length));
      for (let n = 0; n < bytes.length; n++) {
        const r = decodeAll(bytes.subarray(0, n));
        assert.equal(r === 'ok', boundaries.has(n), `cut at ${n}: ${r}`);
        if (r !== 'ok') truncatedErrors += 1;
      }
      return true;
    }),
    { numRuns: 500, seed: 43 },
  );
  assert.ok(truncatedErrors > 0);
});

test('bit flips of valid messages: a value or a DecodeError', () => {
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(validMessage, fc.nat(), fc.integer({ min: 1, max: 4 }), (bytes, pos, flips) => {
      const b = Buffer.from(bytes);
      for (let i = 0; i < flips; i++) {
        const bit = (pos + i * 7919) % (b.length * 8);
        b[bit >> 3]! ^= 1 << (bit & 7);
      }
      const r = decodeAll(b);
      outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
      return true;
    }),
    { numRuns: 5000, seed: 44 },
  );
  // The flips exercise both outcomes and several rejection reasons.
  assert.ok((outcomes.get('ok') ?? 0) > 0);
  assert.ok([...outcomes.keys()].filter((k) => k !== 'ok').length >= 3, JSON.stringify([...outcomes]));
});
