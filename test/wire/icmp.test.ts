import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeIcmpv4, decodeIcmpv6, encodeIcmpv4, encodeIcmpv6, verifyIcmpv4Checksum, verifyIcmpv6Checksum } from '../../src/wire/icmp.js';
import { arbBytes, expectDecodeError, fuzzDecoder, ipv6Addr, offsetCopy, RUNS } from './fuzz.js';

const byte = () => fc.integer({ min: 0, max: 255 });
const arbV4 = fc.record({ type: byte(), code: byte(), body: arbBytes(4, 80) });
const arbV6 = fc.record({ type: byte(), code: byte(), body: arbBytes(0, 80), src: ipv6Addr(), dst: ipv6Addr() });

test('ICMPv4 encode -> decode round-trips; checksum over the message only', () => {
  fc.assert(
    fc.property(arbV4, (m) => {
      const bytes = encodeIcmpv4(m);
      const d = decodeIcmpv4(offsetCopy(bytes));
      assert.deepEqual([d.type, d.code, [...d.body]], [m.type, m.code, [...m.body]]);
      assert.deepEqual(encodeIcmpv4(d), bytes);
      assert.ok(verifyIcmpv4Checksum(bytes));
    }),
    { numRuns: RUNS },
  );
});

test('ICMPv6 encode -> decode round-trips; checksum includes the pseudo-header (RFC 4443 §2.3)', () => {
  fc.assert(
    fc.property(arbV6, (m) => {
      const bytes = encodeIcmpv6(m, m.src, m.dst);
      const d = decodeIcmpv6(offsetCopy(bytes), m);
      assert.deepEqual([d.type, d.code, [...d.body]], [m.type, m.code, [...m.body]]);
      assert.deepEqual(encodeIcmpv6(d, m.src, m.dst), bytes);
      const otherDst = Uint8Array.from(m.dst);
      otherDst[15]! ^= 0x10;
      assert.equal(verifyIcmpv6Checksum(m.src, otherDst, bytes), false);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random, truncated and bit-flipped messages decode or give DecodeError', () => {
  fuzzDecoder((b) => decodeIcmpv4(b), arbV4.map(encodeIcmpv4), (m, input) => {
    assert.ok(input.length >= 8 && verifyIcmpv4Checksum(input));
    assert.equal(m.body.length, input.length - 4);
  });
  const a = { src: new Uint8Array(16), dst: new Uint8Array(16).fill(3) };
  fuzzDecoder((b) => decodeIcmpv6(b, a), arbV6.map((m) => encodeIcmpv6(m, a.src, a.dst)));
});

test('short and corrupted messages', () => {
  const m = encodeIcmpv4({ type: 8, code: 0, body: Uint8Array.of(0, 1, 0, 2) });
  expectDecodeError(() => decodeIcmpv4(m.subarray(0, 7)), 'truncated', 'icmp');
  const bad = Uint8Array.from(m);
  bad[7]! ^= 4;
  expectDecodeError(() => decodeIcmpv4(bad), 'bad-checksum', 'icmp');
  assert.equal(decodeIcmpv4(bad, { verifyChecksum: false }).type, 8);
  expectDecodeError(() => decodeIcmpv6(Uint8Array.of(128, 0, 0)), 'truncated', 'icmpv6');
  const a = new Uint8Array(16);
  const v6 = encodeIcmpv6({ type: 128, code: 0, body: new Uint8Array(4) }, a, a);
  v6[0] = 129;
  expectDecodeError(() => decodeIcmpv6(v6, { src: a, dst: a }), 'bad-checksum', 'icmpv6');
  assert.throws(() => encodeIcmpv4({ type: 8, code: 0, body: new Uint8Array(3) }), RangeError);
});
