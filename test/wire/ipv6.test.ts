import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeIpv6Extensions,
  decodeIpv6Header,
  decodeIpv6Packet,
  encodeIpv6Extensions,
  encodeIpv6Packet,
  isIpv6Fragment,
  MAX_IPV6_EXTENSION_HEADERS,
  walkIpv6Chain,
  writeIpv6Header,
  type Ipv6Extension,
} from '../../src/wire/ipv6.js';
import { arbBytes, expectDecodeError, fuzzDecoder, ipv6Addr, offsetCopy, RUNS, u32 } from './fuzz.js';

const EXT_TYPES = new Set([0, 43, 44, 51, 60]);
const arbUpper = fc.oneof(
  fc.constantFrom(6, 17, 58, 50, 59, 135),
  fc.integer({ min: 0, max: 255 }).filter((p) => !EXT_TYPES.has(p)),
);
const arbOpts = (type: 0 | 43 | 60) =>
  fc.integer({ min: 0, max: 3 }).chain((k) => arbBytes(6 + 8 * k, 6 + 8 * k).map((data): Ipv6Extension => ({ type, data })));
const arbAh = fc.integer({ min: 0, max: 3 }).chain((k) => arbBytes(14 + 8 * k, 14 + 8 * k).map((data): Ipv6Extension => ({ type: 51, data })));
const arbFrag = (firstOnly: boolean) =>
  fc.record({
    fragmentOffset: firstOnly ? fc.constant(0) : fc.integer({ min: 0, max: 0x1fff }),
    moreFragments: fc.boolean(),
    identification: u32(),
  }).map((f): Ipv6Extension => ({ type: 44, ...f }));

// A valid chain: Hop-by-Hop only first, at most one Fragment header, nothing after the
// Fragment header of a non-first fragment.
const arbChain = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.oneof(arbOpts(43), arbOpts(60), arbAh), { maxLength: 4 }),
    fc.option(fc.tuple(arbFrag(false), fc.nat())),
  )
  .chain(([hbh, middle, frag]) =>
    (hbh ? arbOpts(0) : fc.constant(undefined)).map((h) => {
      const chain: Ipv6Extension[] = h === undefined ? [] : [h];
      chain.push(...middle);
      if (frag !== null) {
        const [f, pos] = frag;
        if (f.type === 44 && f.fragmentOffset !== 0) chain.push(f);
        else chain.splice(chain.length === 0 ? 0 : (h ? 1 : 0) + (pos % (middle.length + 1)), 0, f);
      }
      return chain;
    }),
  );

const arbPacket = fc
  .record({
    trafficClass: fc.integer({ min: 0, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    hopLimit: fc.integer({ min: 0, max: 255 }),
    src: ipv6Addr(),
    dst: ipv6Addr(),
    chain: arbChain,
    upper: arbUpper,
    upperBytes: arbBytes(0, 40),
  })
  .map((v) => {
    const ext = encodeIpv6Extensions(v.chain, v.upper);
    const payload = new Uint8Array(ext.length + v.upperBytes.length);
    payload.set(ext);
    payload.set(v.upperBytes, ext.length);
    const nextHeader = v.chain[0]?.type ?? v.upper;
    return { ...v, extLength: ext.length, bytes: encodeIpv6Packet({ ...v, nextHeader }, payload) };
  });

function sameExtension(a: Ipv6Extension, b: Ipv6Extension): void {
  assert.equal(a.type, b.type);
  if (a.type === 44 && b.type === 44) {
    assert.deepEqual([a.fragmentOffset, a.moreFragments, a.identification], [b.fragmentOffset, b.moreFragments, b.identification]);
  } else if (a.type !== 44 && b.type !== 44) {
    assert.deepEqual([...a.data], [...b.data]);
  }
}

test('encode -> decode round-trips the header and the extension chain', () => {
  fc.assert(
    fc.property(arbPacket, fc.nat(5), (p, pad) => {
      const withPad = new Uint8Array(p.bytes.length + pad);
      withPad.set(p.bytes);
      const buf = offsetCopy(withPad);
      const { header, chain } = decodeIpv6Packet(buf);
      assert.equal(header.trafficClass, p.trafficClass);
      assert.equal(header.flowLabel, p.flowLabel);
      assert.equal(header.hopLimit, p.hopLimit);
      assert.equal(header.payloadLength, p.bytes.length - 40);
      assert.deepEqual([...header.src], [...p.src]);
      assert.deepEqual([...header.dst], [...p.dst]);
      assert.equal(chain.protocol, p.upper);
      assert.equal(chain.offset, 40 + p.extLength);
      assert.equal(chain.extensionCount, p.chain.length);
      const list = decodeIpv6Extensions(buf, header.nextHeader, 40, 40 + header.payloadLength);
      assert.equal(list.extensions.length, p.chain.length);
      p.chain.forEach((e, i) => sameExtension(list.extensions[i]!, e));
      const frag = p.chain.find((e) => e.type === 44);
      assert.equal(chain.hasFragmentHeader, frag !== undefined);
      if (frag?.type === 44) {
        assert.equal(chain.fragmentOffset, frag.fragmentOffset);
        assert.equal(chain.moreFragments, frag.moreFragments);
        assert.equal(chain.fragmentId, frag.identification);
        assert.equal(isIpv6Fragment(chain), frag.moreFragments || frag.fragmentOffset !== 0);
      }
      // decode -> encode gives the same bytes
      const ext = encodeIpv6Extensions(list.extensions, chain.protocol);
      const rest = buf.subarray(chain.offset, 40 + header.payloadLength);
      const again = encodeIpv6Packet(header, Uint8Array.from([...ext, ...rest]));
      assert.deepEqual(again, p.bytes);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random, truncated and bit-flipped packets decode or give DecodeError', () => {
  fuzzDecoder(decodeIpv6Packet, arbPacket.map((p) => p.bytes), (v, input) => {
    assert.ok(v.chain.offset >= 40 && v.chain.offset <= 40 + v.header.payloadLength);
    assert.ok(40 + v.header.payloadLength <= input.length);
    assert.ok(v.chain.extensionCount <= MAX_IPV6_EXTENSION_HEADERS);
  });
});

const src = new Uint8Array(16).fill(1);
const dst = new Uint8Array(16).fill(2);
function packet(chain: Ipv6Extension[], upper: number, tail: Uint8Array = new Uint8Array(8)): Uint8Array {
  const ext = encodeIpv6Extensions(chain, upper);
  const payload = new Uint8Array(ext.length + tail.length);
  payload.set(ext);
  payload.set(tail, ext.length);
  return encodeIpv6Packet({ hopLimit: 64, src, dst, nextHeader: chain[0]?.type ?? upper }, payload);
}
const opts = (type: 0 | 43 | 60): Ipv6Extension => ({ type, data: new Uint8Array(6) });

test('Hop-by-Hop only directly after the fixed header (RFC 8200 §4.3)', () => {
  assert.equal(decodeIpv6Packet(packet([opts(0), opts(60)], 17)).chain.protocol, 17);
  expectDecodeError(() => decodeIpv6Packet(packet([opts(60), opts(0)], 17)), 'bad-value', 'ipv6-ext');
});

test('AH length rule (RFC 4302 §2.2): (Payload Len + 2) * 4, a multiple of 8 in IPv6', () => {
  const ah: Ipv6Extension = { type: 51, data: new Uint8Array(22) }; // 24 bytes: HMAC-96 ICV
  const good = packet([ah], 6, new Uint8Array(20));
  const { chain } = decodeIpv6Packet(good);
  assert.equal(chain.offset, 40 + 24);
  assert.equal(good[41], 4); // Payload Len = 24/4 - 2
  const odd = Uint8Array.from(good);
  odd[41] = 3; // 20 bytes: not a multiple of 8
  expectDecodeError(() => decodeIpv6Packet(odd), 'bad-length', 'ipv6-ext');
  const tiny = Uint8Array.from(good);
  tiny[41] = 0; // 8 bytes < 12
  expectDecodeError(() => decodeIpv6Packet(tiny), 'bad-length', 'ipv6-ext');
  const past = Uint8Array.from(good);
  past[41] = 20; // 88 bytes, past the end
  expectDecodeError(() => decodeIpv6Packet(past), 'truncated', 'ipv6-ext');
});

test('ESP and No Next Header end the chain', () => {
  const esp = decodeIpv6Packet(packet([opts(0), opts(60)], 50, Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9))).chain;
  assert.deepEqual([esp.protocol, esp.offset, esp.extensionCount], [50, 56, 2]);
  // whatever follows ESP is ciphertext, even if it looks like a broken header
  const none = decodeIpv6Packet(packet([opts(43)], 59, new Uint8Array(0))).chain;
  assert.deepEqual([none.protocol, none.offset], [59, 48]);
});

test('a non-first fragment stops the walk after its Fragment header (RFC 8200 §4.5)', () => {
  const frag: Ipv6Extension = { type: 44, fragmentOffset: 100, moreFragments: true, identification: 0xdeadbeef };
  // next header says Destination Options, but those bytes are fragment data: not parsed
  const p = packet([opts(0), frag], 60, Uint8Array.of(0xff, 0xff, 0xff));
  const c = decodeIpv6Packet(p).chain;
  assert.deepEqual([c.protocol, c.offset, c.fragmentOffset, c.moreFragments, c.fragmentId], [60, 56, 100, true, 0xdeadbeef]);
  assert.ok(isIpv6Fragment(c));
  // a first fragment continues into the rest of the chain
  const first = packet([{ ...frag, fragmentOffset: 0 }, opts(60)], 17);
  assert.deepEqual([decodeIpv6Packet(first).chain.protocol, decodeIpv6Packet(first).chain.offset], [17, 56]);
  // an atomic fragment (RFC 6946) is not a fragment
  const atomic = decodeIpv6Packet(packet([{ ...frag, fragmentOffset: 0, moreFragments: false }], 17)).chain;
  assert.equal(isIpv6Fragment(atomic), false);
  const twice = packet([{ ...frag, fragmentOffset: 0 }, { ...frag, fragmentOffset: 0 }], 17);
  expectDecodeError(() => decodeIpv6Packet(twice), 'bad-value', 'ipv6-ext');
});

test('the number of extension headers is bounded', () => {
  const many = (n: number) => [opts(0), ...Array.from({ length: n - 1 }, () => opts(60))];
  assert.equal(decodeIpv6Packet(packet(many(MAX_IPV6_EXTENSION_HEADERS), 17)).chain.extensionCount, MAX_IPV6_EXTENSION_HEADERS);
  expectDecodeError(() => decodeIpv6Packet(packet(many(MAX_IPV6_EXTENSION_HEADERS + 1), 17)), 'unsupported', 'ipv6-ext');
});

test('fixed header errors', () => {
  const p = packet([], 17);
  expectDecodeError(() => decodeIpv6Header(p.subarray(0, 39)), 'truncated', 'ipv6');
  const v4 = Uint8Array.from(p);
  v4[0] = 0x45;
  expectDecodeError(() => decodeIpv6Header(v4), 'bad-version', 'ipv6');
  expectDecodeError(() => decodeIpv6Header(p.subarray(0, p.length - 1)), 'truncated', 'ipv6');
  const jumbo = Uint8Array.from(p);
  jumbo[4] = 0;
  jumbo[5] = 0;
  jumbo[6] = 0;
  expectDecodeError(() => decodeIpv6Header(jumbo), 'unsupported', 'ipv6');
  // an extension header whose length runs past the payload
  const cut = packet([opts(60)], 17, new Uint8Array(0));
  expectDecodeError(() => walkIpv6Chain(cut, 60, 40, 44), 'truncated', 'ipv6-ext');
  expectDecodeError(() => walkIpv6Chain(cut, 60, 40, 100), 'bad-length', 'ipv6-ext');
});

test('encoders refuse impossible values', () => {
  assert.throws(() => encodeIpv6Extensions([{ type: 60, data: new Uint8Array(7) }], 17), RangeError);
  assert.throws(() => encodeIpv6Extensions([{ type: 51, data: new Uint8Array(6) }], 17), RangeError);
  assert.throws(() => encodeIpv6Extensions([{ type: 44, fragmentOffset: 0x2000, moreFragments: false, identification: 0 }], 17), RangeError);
  assert.throws(() => writeIpv6Header(new Uint8Array(40), 0, { payloadLength: 0, nextHeader: 59, hopLimit: 1, src, dst, flowLabel: 0x100000 }), RangeError);
  assert.throws(() => writeIpv6Header(new Uint8Array(39), 0, { payloadLength: 0, nextHeader: 59, hopLimit: 1, src, dst }), RangeError);
});
