// Property tests of the IKEv2 codecs: encode then decode gives back the value for every
// payload kind and whole messages; random bytes, every truncation and every single-bit
// flip of valid encodings give either a DecodeError or a value that re-encodes and decodes
// to itself (a flip in a reserved or ignored bit, or into another valid value).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeIkeHeader,
  decodeIkeMessage,
  decodePayloads,
  encodeIkeMessage,
  encodeEncryptedPrefix,
  encodePayloadBody,
  encodePayloads,
  encryptedPayloadOffset,
  type DecodedIkeMessage,
  type DecodedPayloads,
  type IkeMessage,
} from '../../src/wire/ike/index.js';
import { DecodeError } from '../../src/wire/errors.js';
import { fuzzDecoder, offsetCopy, RUNS } from './fuzz.js';
import { innerPayloads, message, plainPayload, encryptedPayload, header } from './ike-arb.js';

const essentials = (m: DecodedIkeMessage | IkeMessage) => ({ header: m.header, payloads: m.payloads });

test('every payload kind: encode then decode gives the payload back', () => {
  fc.assert(
    fc.property(header(), fc.oneof(plainPayload(), encryptedPayload()), (h, p) => {
      const bytes = encodeIkeMessage({ header: h, payloads: [p] });
      const m = decodeIkeMessage(offsetCopy(bytes));
      assert.deepEqual(m.payloads, [p]);
      assert.deepEqual(m.header, h);
      // The raw body is what encodePayloadBody gives for this payload.
      assert.deepEqual(m.rawBodies[0], encodePayloadBody(p));
    }),
    { numRuns: RUNS },
  );
});

test('whole messages: encode then decode gives the message back, and the bytes are stable', () => {
  fc.assert(
    fc.property(message(), (m) => {
      const bytes = encodeIkeMessage(m);
      const d = decodeIkeMessage(offsetCopy(bytes));
      assert.deepEqual(essentials(d), essentials(m));
      assert.deepEqual(encodeIkeMessage(d), bytes);
      assert.equal(d.bytes.length, bytes.length);
      assert.equal(decodeIkeHeader(bytes).length, bytes.length);
      const last = m.payloads[m.payloads.length - 1];
      if (last?.kind === 'sk' || last?.kind === 'skf') {
        // The SK/SKF body is the tail of the message (what the SK layer relies on).
        assert.deepEqual(bytes.subarray(bytes.length - last.body.length), last.body);
      }
    }),
    { numRuns: RUNS },
  );
});

test('encodeEncryptedPrefix and encryptedPayloadOffset frame the SK/SKF payload exactly', () => {
  fc.assert(
    fc.property(message(), (m) => {
      const bytes = encodeIkeMessage(m);
      const d = decodeIkeMessage(bytes);
      const last = m.payloads[m.payloads.length - 1];
      if (last?.kind !== 'sk' && last?.kind !== 'skf') {
        assert.equal(encryptedPayloadOffset(d), undefined);
        return;
      }
      const prefix = encodeEncryptedPrefix(m.header, m.payloads.slice(0, -1), last.kind);
      assert.equal(encryptedPayloadOffset(d), prefix.length);
      // The prefix is the message up to the SK/SKF header, but for the Length field.
      assert.equal(new DataView(prefix.buffer).getUint32(24), prefix.length);
      const head = Uint8Array.from(bytes.subarray(0, prefix.length));
      head.set(prefix.subarray(24, 28), 24);
      assert.deepEqual(head, prefix);
      assert.equal(bytes[prefix.length], last.nextPayload); // the SK/SKF generic header starts there
    }),
    { numRuns: RUNS },
  );
});

test('a Buffer (as node:dgram delivers) decodes to plain Uint8Array copies, not views', () => {
  fc.assert(
    fc.property(message(), (m) => {
      const bytes = encodeIkeMessage(m);
      const buf = Buffer.from(bytes);
      const d = decodeIkeMessage(buf);
      assert.deepEqual(essentials(d), essentials(m));
      assert.equal(Object.getPrototypeOf(d.header.initiatorSpi), Uint8Array.prototype);
      buf.fill(0xee); // the decoded values must not change with the packet buffer
      assert.deepEqual(essentials(d), essentials(m));
    }),
    { numRuns: RUNS / 5 },
  );
});

test('inner payload chains: encodePayloads then decodePayloads gives them back', () => {
  fc.assert(
    fc.property(innerPayloads(), (ps) => {
      const { firstPayload, bytes } = encodePayloads(ps);
      const d = decodePayloads(firstPayload, offsetCopy(bytes));
      assert.deepEqual(d.payloads, ps);
      assert.equal(d.rawBodies.length, ps.length);
      if (ps.length === 0) assert.equal(firstPayload, 0);
    }),
    { numRuns: RUNS },
  );
});

function stable(m: DecodedIkeMessage): void {
  const again = decodeIkeMessage(encodeIkeMessage(m));
  assert.deepEqual(essentials(again), essentials(m));
}

test('fuzz: messages decode or fail with DecodeError only; what decodes re-encodes stably', () => {
  fuzzDecoder(decodeIkeMessage, message().map(encodeIkeMessage), (m) => stable(m));
});

test('fuzz: inner chains (first payload type in byte 0) decode or fail with DecodeError only', () => {
  const decode = (b: Uint8Array): DecodedPayloads => decodePayloads(b.length === 0 ? 0 : b[0]!, b.subarray(1));
  fuzzDecoder(
    decode,
    innerPayloads().map((ps) => {
      const { firstPayload, bytes } = encodePayloads(ps);
      return Uint8Array.of(firstPayload, ...bytes);
    }),
    (d) => {
      const { firstPayload, bytes } = encodePayloads(d.payloads);
      assert.deepEqual(decodePayloads(firstPayload, bytes).payloads, d.payloads);
    },
  );
});

test('fuzz: random payload bodies behind a valid header decode or fail with DecodeError only', () => {
  // Every known payload type with arbitrary body bytes, so each body codec meets garbage.
  const types = [33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53, 1, 99];
  fc.assert(
    fc.property(header(), fc.constantFrom(...types), fc.uint8Array({ maxLength: 80 }), fc.boolean(), (h, type, body, critical) => {
      const base = encodeIkeMessage({ header: h, payloads: [] });
      const msg = new Uint8Array(base.length + 4 + body.length);
      msg.set(base);
      msg[16] = type;
      msg[base.length + 1] = critical ? 0x80 : 0;
      msg[base.length + 2] = (4 + body.length) >> 8;
      msg[base.length + 3] = (4 + body.length) & 0xff;
      msg.set(body, base.length + 4);
      new DataView(msg.buffer).setUint32(24, msg.length);
      try {
        stable(decodeIkeMessage(msg));
      } catch (e) {
        assert.ok(e instanceof DecodeError, `not a DecodeError: ${String(e)}`);
      }
    }),
    { numRuns: RUNS * 4 },
  );
});
