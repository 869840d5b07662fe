// Address ranges -> CIDR prefixes for routes: exact cover, aligned blocks, the fewest
// prefixes, both families.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatPrefix, prefixContains, rangeToPrefixes } from '../../src/dataplane/prefixes.js';
import { formatIp, parseIp } from '../../src/wire/address.js';

const big = (text: string): bigint => parseIp(text).reduce((v, b) => (v << 8n) | BigInt(b), 0n);
const v4 = (n: number): string => formatIp(Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));

test('known ranges', () => {
  const f = (s: string, e: string): string[] => rangeToPrefixes(s, e).map(formatPrefix);
  assert.deepEqual(f('10.9.0.0', '10.9.0.5'), ['10.9.0.0/30', '10.9.0.4/31']);
  assert.deepEqual(f('10.2.0.0', '10.2.0.255'), ['10.2.0.0/24']);
  assert.deepEqual(f('10.0.0.1', '10.0.0.1'), ['10.0.0.1/32']);
  assert.deepEqual(f('0.0.0.0', '255.255.255.255'), ['0.0.0.0/0']);
  assert.deepEqual(f('10.0.0.255', '10.0.1.0'), ['10.0.0.255/32', '10.0.1.0/32']);
  assert.deepEqual(f('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), ['::/0']);
  assert.deepEqual(f('fd00:2::', 'fd00:2::ffff:ffff:ffff:ffff'), ['fd00:2::/64']);
  assert.deepEqual(f('2001:db8::1', '2001:db8::2'), ['2001:db8::1/128', '2001:db8::2/128']);
});

test('bad ranges are refused', () => {
  assert.throws(() => rangeToPrefixes('10.0.0.2', '10.0.0.1'), RangeError);
  assert.throws(() => rangeToPrefixes('10.0.0.1', '::1'), RangeError);
  assert.throws(() => rangeToPrefixes('10.0.0', '10.0.0.1'), (e: unknown) => (e as { code?: string }).code === 'decode.bad-value');
});

test('property: the prefixes tile the range exactly, aligned, and no two could merge', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (x, y) => {
      const [s, e] = x <= y ? [x, y] : [y, x];
      const prefixes = rangeToPrefixes(v4(s), v4(e));
      let next = BigInt(s);
      for (const [i, p] of prefixes.entries()) {
        const start = big(p.address);
        const size = 1n << BigInt(32 - p.length);
        assert.equal(start, next, 'contiguous');
        assert.equal(start % size, 0n, 'aligned');
        assert.ok(prefixContains(p, v4(Number(start + size - 1n))));
        const prev = prefixes[i - 1];
        if (prev && prev.length === p.length) {
          // Two equal neighbours forming an aligned block of twice the size is not minimal.
          assert.notEqual(big(prev.address) % (size * 2n), 0n, 'mergeable neighbours');
        }
        next = start + size;
      }
      assert.equal(next, BigInt(e) + 1n, 'ends at the end of the range');
      assert.ok(prefixes.length <= 62);
    }),
    { numRuns: 500 },
  );
});
