import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  foldSum,
  internetChecksum,
  onesComplementSum,
  pseudoHeaderSum,
  transportChecksum,
  verifyInternetChecksum,
  verifyTransportChecksum,
} from '../../src/wire/checksum.js';
import { fromHex, ipv4Addr, ipv6Addr, offsetCopy, RUNS } from './fuzz.js';

const vectors = JSON.parse(readFileSync(new URL('../../../test/vectors/wire-checksum-rfc1071.json', import.meta.url), 'utf8')) as {
  cases: { name: string; data: string; checksum: string }[];
};

// A second, differently built implementation: fold after every word (RFC 1071 §4.1 style),
// from a byte copy padded to even length.
function reference(data: Uint8Array): number {
  const b = new Uint8Array(data.length + (data.length & 1));
  b.set(data);
  let s = 0;
  for (let i = 0; i < b.length; i += 2) {
    s += b[i]! * 256 + b[i + 1]!;
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

test('RFC 1071 numerical examples', () => {
  assert.ok(vectors.cases.length >= 4);
  for (const c of vectors.cases) {
    const got = internetChecksum(fromHex(c.data));
    assert.equal(got.toString(16).padStart(4, '0'), c.checksum, c.name);
    // Appending the checksum (even-length data) makes the whole verify.
    if (c.data.length % 4 === 0) assert.ok(verifyInternetChecksum(fromHex(c.data + c.checksum)), c.name);
  }
});

test('checksum equals an independently written fold-as-you-go implementation', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(5), (data, skip) => {
      const view = offsetCopy(data, skip + 1);
      assert.equal(internetChecksum(view), reference(data));
      const start = Math.min(skip, data.length);
      assert.equal(internetChecksum(view, start), reference(data.subarray(start)));
    }),
    { numRuns: RUNS },
  );
});

test('a stored checksum verifies and every single-bit flip breaks it', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }).map((a) => (a.length & 1 ? a.subarray(1) : a)), (body) => {
      const msg = new Uint8Array(body.length + 2);
      msg.set(body, 2);
      const c = internetChecksum(msg);
      msg[0] = c >> 8;
      msg[1] = c & 0xff;
      assert.ok(verifyInternetChecksum(msg));
      for (let bit = 0; bit < msg.length * 8; bit++) {
        const m = Uint8Array.from(msg);
        m[bit >> 3]! ^= 0x80 >> (bit & 7);
        assert.equal(verifyInternetChecksum(m), false, `bit ${bit}`);
      }
    }),
    { numRuns: 200 },
  );
});

test('foldSum folds carries of large sums', () => {
  assert.equal(foldSum(0x2ddf0), 0xddf2); // RFC 1071 §3: 2ddf0 -> ddf0 + 2
  assert.equal(foldSum(0xffff), 0xffff);
  assert.equal(foldSum(0x1fffe), 0xffff);
  // 2^33 + 5 = 0x2_0000_0005: folds to 0x0002 + 0x0000 + 0x0005 -> 7
  assert.equal(foldSum(2 ** 33 + 5), 7);
  const big = new Uint8Array(200000).fill(0xff);
  assert.equal(onesComplementSum(big), 100000 * 0xffff);
  assert.equal(foldSum(onesComplementSum(big)), 0xffff);
});

// The pseudo-headers as the RFCs draw them, built byte by byte.
function pseudoV4(src: Uint8Array, dst: Uint8Array, proto: number, len: number): Uint8Array {
  return Uint8Array.from([...src, ...dst, 0, proto, len >> 8, len & 0xff]); // RFC 768
}
function pseudoV6(src: Uint8Array, dst: Uint8Array, proto: number, len: number): Uint8Array {
  return Uint8Array.from([...src, ...dst, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, 0, 0, 0, proto]); // RFC 8200 §8.1
}

test('transport checksum equals the checksum over an explicit pseudo-header (IPv4 and IPv6)', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.tuple(ipv4Addr(), ipv4Addr()), fc.tuple(ipv6Addr(), ipv6Addr())),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ minLength: 8, maxLength: 600 }),
      fc.constantFrom(2, 6, 16),
      ([src, dst], proto, seg, field) => {
        if (field + 2 > seg.length) return;
        const pseudo = src.length === 4 ? pseudoV4(src, dst, proto, seg.length) : pseudoV6(src, dst, proto, seg.length);
        const zeroed = Uint8Array.from(seg);
        zeroed[field] = 0;
        zeroed[field + 1] = 0;
        const expected = reference(Uint8Array.from([...pseudo, ...zeroed]));
        // field content is ignored
        assert.equal(transportChecksum(src, dst, proto, offsetCopy(seg), 0, seg.length, field), expected);
        assert.equal(foldSum(pseudoHeaderSum(src, dst, proto, seg.length)), foldSum(onesComplementSum(pseudo)));
        zeroed[field] = expected >> 8;
        zeroed[field + 1] = expected & 0xff;
        assert.ok(verifyTransportChecksum(src, dst, proto, zeroed, 0, zeroed.length));
        zeroed[field + 1]! ^= 1;
        assert.equal(verifyTransportChecksum(src, dst, proto, zeroed, 0, zeroed.length), false);
      },
    ),
    { numRuns: RUNS },
  );
});

test('IPv6 pseudo-header carries a 32-bit upper-layer length', () => {
  const src = new Uint8Array(16);
  const dst = new Uint8Array(16);
  assert.equal(pseudoHeaderSum(src, dst, 17, 0x12345), 17 + 0x2345 + 0x1);
});
