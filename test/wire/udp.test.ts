import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeUdp, decodeUdpHeader, encodeUdp, verifyUdpChecksum, writeUdpHeader } from '../../src/wire/udp.js';
import { arbBytes, expectDecodeError, fuzzDecoder, ipv4Addr, ipv6Addr, offsetCopy, RUNS, u16 } from './fuzz.js';

const arbAddrs = fc.oneof(
  fc.record({ src: ipv4Addr(), dst: ipv4Addr() }),
  fc.record({ src: ipv6Addr(), dst: ipv6Addr() }),
);
const arbDatagram = fc
  .record({ srcPort: u16(), dstPort: u16(), payload: arbBytes(0, 100), addrs: arbAddrs })
  .map((v) => ({ ...v, bytes: encodeUdp(v.srcPort, v.dstPort, v.payload, v.addrs) }));

test('encode -> decode round-trips; the checksum verifies over the pseudo-header', () => {
  fc.assert(
    fc.property(arbDatagram, fc.nat(4), (d, extra) => {
      const buf = new Uint8Array(d.bytes.length + extra); // trailing bytes are not the datagram's
      buf.set(d.bytes);
      const h = decodeUdp(offsetCopy(buf), d.addrs);
      assert.deepEqual([h.srcPort, h.dstPort, h.length], [d.srcPort, d.dstPort, 8 + d.payload.length]);
      assert.notEqual(h.checksum, 0, 'a computed zero is sent as 0xffff');
      assert.ok(verifyUdpChecksum(d.addrs.src, d.addrs.dst, buf));
      // re-encoding from the decoded value gives the same bytes
      assert.deepEqual(encodeUdp(h.srcPort, h.dstPort, d.bytes.subarray(8), d.addrs), d.bytes);
      // a changed address changes the pseudo-header sum: no longer verifies
      const other = Uint8Array.from(d.addrs.dst);
      other[0]! ^= 0x40;
      assert.equal(verifyUdpChecksum(d.addrs.src, other, d.bytes), false);
    }),
    { numRuns: RUNS },
  );
});

test('zero checksum: "none" over IPv4 (RFC 768), invalid over IPv6 (RFC 8200 §8.1)', () => {
  const d = encodeUdp(1, 2, Uint8Array.of(1, 2, 3));
  assert.equal((d[6]! << 8) | d[7]!, 0);
  assert.ok(verifyUdpChecksum(new Uint8Array(4), new Uint8Array(4), d));
  assert.equal(verifyUdpChecksum(new Uint8Array(16), new Uint8Array(16), d), false);
  expectDecodeError(() => decodeUdp(d, { src: new Uint8Array(16), dst: new Uint8Array(16) }), 'bad-checksum', 'udp');
});

test('a computed checksum of 0 is transmitted as 0xffff and verifies', () => {
  // find a payload whose checksum computes to zero: the last two bytes fix the sum
  const src = Uint8Array.of(10, 0, 0, 1);
  const dst = Uint8Array.of(10, 0, 0, 2);
  const d = encodeUdp(1000, 2000, new Uint8Array(2), { src, dst });
  const c = (d[6]! << 8) | d[7]!;
  // adding c into the data makes the true checksum 0 (sum becomes 0xffff)
  const payload = Uint8Array.of(c >> 8, c & 0xff);
  const z = encodeUdp(1000, 2000, payload, { src, dst });
  assert.equal((z[6]! << 8) | z[7]!, 0xffff);
  assert.ok(verifyUdpChecksum(src, dst, z));
});

test('fuzz: random, truncated and bit-flipped datagrams decode or give DecodeError', () => {
  fuzzDecoder(decodeUdpHeader, arbDatagram.map((d) => d.bytes), (h, input) => {
    assert.ok(h.length >= 8 && h.length <= input.length);
  });
  const a = { src: new Uint8Array(16), dst: new Uint8Array(16).fill(1) };
  fuzzDecoder((b) => decodeUdp(b, a), fc.tuple(u16(), u16(), arbBytes(0, 40)).map(([s, d, p]) => encodeUdp(s, d, p, a)));
});

test('length field errors; verify never reads past the buffer', () => {
  const d = encodeUdp(1, 2, new Uint8Array(4));
  expectDecodeError(() => decodeUdpHeader(d.subarray(0, 7)), 'truncated', 'udp');
  const small = Uint8Array.from(d);
  small[5] = 7;
  expectDecodeError(() => decodeUdpHeader(small), 'bad-length', 'udp');
  const big = Uint8Array.from(d);
  big[5] = 13;
  expectDecodeError(() => decodeUdpHeader(big), 'truncated', 'udp');
  assert.equal(verifyUdpChecksum(new Uint8Array(4), new Uint8Array(4), big), false);
  assert.equal(verifyUdpChecksum(new Uint8Array(4), new Uint8Array(4), d.subarray(0, 5)), false);
  assert.throws(() => writeUdpHeader(new Uint8Array(8), 0, 70000, 1, 8), RangeError);
  assert.throws(() => writeUdpHeader(new Uint8Array(8), 0, 1, 1, 9), RangeError);
});
