import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTcp, decodeTcpHeader, encodeTcp, TCP_ACK, TCP_RST, TCP_SYN, verifyTcpChecksum } from '../../src/wire/tcp.js';
import { arbBytes, expectDecodeError, fuzzDecoder, ipv4Addr, ipv6Addr, offsetCopy, RUNS, u16, u32 } from './fuzz.js';

const arbAddrs = fc.oneof(
  fc.record({ src: ipv4Addr(), dst: ipv4Addr() }),
  fc.record({ src: ipv6Addr(), dst: ipv6Addr() }),
);
const arbInit = fc.record({
  srcPort: u16(),
  dstPort: u16(),
  sequence: u32(),
  acknowledgment: u32(),
  flags: fc.integer({ min: 0, max: 0xfff }),
  window: u16(),
  urgentPointer: u16(),
  options: fc.integer({ min: 0, max: 10 }).chain((w) => arbBytes(4 * w, 4 * w)),
});
const arbSegment = fc
  .record({ init: arbInit, payload: arbBytes(0, 60), addrs: arbAddrs })
  .map((v) => ({ ...v, bytes: encodeTcp(v.init, v.payload, v.addrs.src, v.addrs.dst) }));

test('encode -> decode round-trips every field; checksum verifies', () => {
  fc.assert(
    fc.property(arbSegment, ({ init, payload, addrs, bytes }) => {
      const h = decodeTcp(offsetCopy(bytes), addrs);
      for (const k of ['srcPort', 'dstPort', 'sequence', 'acknowledgment', 'flags', 'window', 'urgentPointer'] as const) {
        assert.equal(h[k], init[k], k);
      }
      assert.equal(h.headerLength, 20 + init.options.length);
      assert.deepEqual([...h.options], [...init.options]);
      assert.deepEqual(encodeTcp(h, bytes.subarray(h.headerLength), addrs.src, addrs.dst), bytes);
      assert.equal(bytes.length, h.headerLength + payload.length);
      assert.ok(verifyTcpChecksum(addrs.src, addrs.dst, bytes));
    }),
    { numRuns: RUNS },
  );
});

test('flags keep the control bits where RFC 9293 puts them', () => {
  const a = new Uint8Array(4);
  const b = encodeTcp({ srcPort: 1, dstPort: 2, sequence: 0, acknowledgment: 0, flags: TCP_SYN | TCP_ACK, window: 0 }, new Uint8Array(0), a, a);
  assert.equal(b[13], 0x12);
  assert.equal(b[12], 0x50); // data offset 5, no reserved bits
  assert.equal(decodeTcpHeader(b).flags & TCP_RST, 0);
});

test('fuzz: random, truncated and bit-flipped segments decode or give DecodeError', () => {
  fuzzDecoder(decodeTcpHeader, arbSegment.map((s) => s.bytes), (h, input) => {
    assert.ok(h.headerLength >= 20 && h.headerLength <= input.length && h.headerLength <= 60);
  });
  const a = { src: new Uint8Array(4), dst: Uint8Array.of(1, 2, 3, 4) };
  fuzzDecoder((b) => decodeTcp(b, a), fc.tuple(arbInit, arbBytes(0, 20)).map(([i, p]) => encodeTcp(i, p, a.src, a.dst)));
});

test('data offset errors and checksum failure', () => {
  const a = new Uint8Array(4);
  const s = encodeTcp({ srcPort: 1, dstPort: 2, sequence: 3, acknowledgment: 4, flags: TCP_ACK, window: 5, options: new Uint8Array(4) }, Uint8Array.of(9), a, a);
  expectDecodeError(() => decodeTcpHeader(s.subarray(0, 19)), 'truncated', 'tcp');
  const low = Uint8Array.from(s);
  low[12] = 0x40;
  expectDecodeError(() => decodeTcpHeader(low), 'bad-length', 'tcp');
  const high = Uint8Array.from(s);
  high[12] = 0x70; // 28-byte header in a 25-byte segment
  expectDecodeError(() => decodeTcpHeader(high), 'truncated', 'tcp');
  const flipped = Uint8Array.from(s);
  flipped[24]! ^= 1;
  expectDecodeError(() => decodeTcp(flipped, { src: a, dst: a }), 'bad-checksum', 'tcp');
  assert.throws(() => encodeTcp({ srcPort: 1, dstPort: 2, sequence: 0, acknowledgment: 0, flags: 0x1000, window: 0 }, s, a, a), RangeError);
});
