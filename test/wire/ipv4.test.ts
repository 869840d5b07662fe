import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeIpv4Header, encodeIpv4Packet, isIpv4Fragment, writeIpv4Header, type Ipv4HeaderInit } from '../../src/wire/ipv4.js';
import { verifyInternetChecksum } from '../../src/wire/checksum.js';
import { arbBytes, expectDecodeError, fuzzDecoder, ipv4Addr, offsetCopy, RUNS, u16 } from './fuzz.js';

const arbInit = fc.record({
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  identification: u16(),
  reservedFlag: fc.boolean(),
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
  ttl: fc.integer({ min: 0, max: 255 }),
  protocol: fc.integer({ min: 0, max: 255 }),
  src: ipv4Addr(),
  dst: ipv4Addr(),
  options: fc.integer({ min: 0, max: 10 }).chain((words) => arbBytes(words * 4, words * 4)),
});
const arbPacket = fc.tuple(arbInit, arbBytes(0, 80)).map(([init, payload]) => ({ init, payload, bytes: encodeIpv4Packet(init, payload) }));

test('encode -> decode round-trips every field; decode -> encode is stable', () => {
  fc.assert(
    fc.property(arbPacket, fc.nat(7), ({ init, payload, bytes }, extra) => {
      // trailing link-layer padding is allowed and ignored
      const withPad = new Uint8Array(bytes.length + extra);
      withPad.set(bytes);
      const h = decodeIpv4Header(offsetCopy(withPad));
      assert.equal(h.headerLength, 20 + init.options.length);
      assert.equal(h.totalLength, h.headerLength + payload.length);
      for (const k of ['dscp', 'ecn', 'identification', 'reservedFlag', 'dontFragment', 'moreFragments', 'fragmentOffset', 'ttl', 'protocol'] as const) {
        assert.equal(h[k], init[k], k);
      }
      assert.deepEqual([...h.src], [...init.src]);
      assert.deepEqual([...h.dst], [...init.dst]);
      assert.deepEqual([...h.options], [...init.options]);
      assert.ok(verifyInternetChecksum(bytes, 0, h.headerLength));
      assert.equal(isIpv4Fragment(h), init.moreFragments || init.fragmentOffset !== 0);
      // re-encode from the decoded header: identical bytes
      const again = encodeIpv4Packet(h, bytes.subarray(h.headerLength, h.totalLength));
      assert.deepEqual(again, bytes);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random, truncated and bit-flipped headers decode or give DecodeError', () => {
  const check = (h: ReturnType<typeof decodeIpv4Header>, input: Uint8Array) => {
    assert.ok(h.headerLength >= 20 && h.headerLength <= h.totalLength && h.totalLength <= input.length);
    assert.ok(verifyInternetChecksum(input, 0, h.headerLength), 'checksum verified by default');
  };
  fuzzDecoder((b) => decodeIpv4Header(b), arbPacket.map((p) => p.bytes), check);
  fuzzDecoder((b) => decodeIpv4Header(b, { verifyChecksum: false }), arbPacket.map((p) => p.bytes));
});

test('every bit flip in the header is caught by the checksum (or a length/version check)', () => {
  fc.assert(
    fc.property(arbPacket, ({ bytes }) => {
      const hl = (bytes[0]! & 0x0f) * 4;
      for (let bit = 0; bit < hl * 8; bit++) {
        const m = Uint8Array.from(bytes);
        m[bit >> 3]! ^= 0x80 >> (bit & 7);
        assert.throws(() => decodeIpv4Header(m), (e: Error) => e.name === 'DecodeError');
      }
    }),
    { numRuns: 50 },
  );
});

const base: Ipv4HeaderInit = { totalLength: 20, ttl: 64, protocol: 17, src: Uint8Array.of(10, 0, 0, 1), dst: Uint8Array.of(10, 0, 0, 2) };

test('specific malformed headers give the right reason', () => {
  const ok = new Uint8Array(28);
  writeIpv4Header(ok, 0, { ...base, totalLength: 28 });
  decodeIpv4Header(ok);
  expectDecodeError(() => decodeIpv4Header(ok.subarray(0, 19)), 'truncated', 'ipv4');
  const v6 = Uint8Array.from(ok);
  v6[0] = 0x65;
  expectDecodeError(() => decodeIpv4Header(v6), 'bad-version', 'ipv4');
  const ihl4 = Uint8Array.from(ok);
  ihl4[0] = 0x44;
  expectDecodeError(() => decodeIpv4Header(ihl4, { verifyChecksum: false }), 'bad-length', 'ipv4');
  const ihl7 = Uint8Array.from(ok); // says 28-byte header, total length 28: fine; 32 > buffer
  ihl7[0] = 0x48;
  expectDecodeError(() => decodeIpv4Header(ihl7, { verifyChecksum: false }), 'truncated', 'ipv4');
  const long = Uint8Array.from(ok);
  long[3] = 29;
  expectDecodeError(() => decodeIpv4Header(long, { verifyChecksum: false }), 'truncated', 'ipv4');
  const short = Uint8Array.from(ok);
  short[3] = 19;
  expectDecodeError(() => decodeIpv4Header(short, { verifyChecksum: false }), 'bad-length', 'ipv4');
  const sum = Uint8Array.from(ok);
  sum[8]! ^= 1; // TTL changed, checksum not
  expectDecodeError(() => decodeIpv4Header(sum), 'bad-checksum', 'ipv4');
  assert.equal(decodeIpv4Header(sum, { verifyChecksum: false }).ttl, 65);
});

test('encoder refuses impossible values (programming errors)', () => {
  const out = new Uint8Array(60);
  assert.throws(() => writeIpv4Header(out, 0, { ...base, options: new Uint8Array(3) }), RangeError);
  assert.throws(() => writeIpv4Header(out, 0, { ...base, options: new Uint8Array(44) }), RangeError);
  assert.throws(() => writeIpv4Header(out, 0, { ...base, ttl: 256 }), RangeError);
  assert.throws(() => writeIpv4Header(out, 0, { ...base, totalLength: 19 }), RangeError);
  assert.throws(() => writeIpv4Header(out, 0, { ...base, fragmentOffset: 0x2000 }), RangeError);
  assert.throws(() => writeIpv4Header(out, 50, base), RangeError);
  assert.throws(() => writeIpv4Header(out, 0, { ...base, src: new Uint8Array(16) }), RangeError);
});
