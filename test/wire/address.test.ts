import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isIP, SocketAddress } from 'node:net';
import fc from 'fast-check';
import {
  bytesEqual,
  canonicalIp,
  compareBytes,
  formatIp,
  inRange,
  ipVersionOf,
  parseIp,
  parsePrefix,
} from '../../src/wire/address.js';
import { DecodeError } from '../../src/wire/errors.js';
import { expectDecodeError, ipv4Addr, ipv6Addr, RUNS } from './fuzz.js';

const rfc5952 = JSON.parse(readFileSync(new URL('../../../test/vectors/wire-address-rfc5952.json', import.meta.url), 'utf8')) as {
  cases: { input: string; canonical: string }[];
};

test('RFC 5952 examples format canonically', () => {
  assert.ok(rfc5952.cases.length >= 8);
  for (const c of rfc5952.cases) {
    assert.equal(canonicalIp(c.input), c.canonical, c.input);
    assert.ok(bytesEqual(parseIp(c.canonical), parseIp(c.input)));
  }
});

test('IPv4 text', () => {
  assert.deepEqual([...parseIp('192.0.2.1')], [192, 0, 2, 1]);
  assert.deepEqual([...parseIp('0.0.0.0')], [0, 0, 0, 0]);
  assert.deepEqual([...parseIp('255.255.255.255')], [255, 255, 255, 255]);
  assert.equal(formatIp(Uint8Array.of(10, 0, 0, 1)), '10.0.0.1');
  assert.equal(ipVersionOf('10.1.2.3'), 4);
  assert.equal(ipVersionOf('::1'), 6);
  assert.equal(ipVersionOf('nope'), undefined);
});

test('malformed address text is a DecodeError naming ip-address', () => {
  const bad = [
    '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.1.1.1', '1.2.3.04', '1..2.3', '1.2.3.4.', ' 1.2.3.4', '1.2.3.4 ',
    '1::2::3', ':1::', '1:::2', ':::', ':', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '12345::',
    '::g', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '::ffff:1.2.3', '::1.2.3.4:1', 'fe80::1%eth0',
    '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::ffff:01.2.3.4', '0x1.2.3.4', 'localhost', '[::1]',
  ];
  for (const s of bad) expectDecodeError(() => parseIp(s), 'bad-value', 'ip-address');
});

// Text that is, or is close to, an address: valid notations with random damage.
const addressLike = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 }),
  fc.tuple(ipv6Addr(), fc.nat(), fc.string({ unit: fc.constantFrom(...'0:1.f%'), maxLength: 2 }), fc.nat()).map(
    ([b, style, junk, at]) => {
      const t = notation(b, style);
      const i = at % (t.length + 1);
      return t.slice(0, i) + junk + t.slice(i + (style & 1));
    },
  ),
  ipv4Addr().map((b) => formatIp(b)),
);

function parseOrUndefined(s: string): Uint8Array | undefined {
  try {
    return parseIp(s);
  } catch (e) {
    assert.ok(e instanceof DecodeError, String(e));
    return undefined;
  }
}

test('parseIp accepts exactly what Node (net.isIP) accepts, zone ids aside', () => {
  fc.assert(
    fc.property(addressLike, (s) => {
      const ours = parseOrUndefined(s);
      const node = isIP(s) !== 0 && !s.includes('%');
      assert.equal(ours !== undefined, node, JSON.stringify(s));
      if (ours !== undefined) assert.equal(ours.length, isIP(s) === 4 ? 4 : 16);
    }),
    { numRuns: RUNS * 4 },
  );
});

// A random valid IPv6 notation of b: leading zeros, case, "::" placement, mixed IPv4 tail.
function notation(b: Uint8Array, style: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    let g = ((b[i]! << 8) | b[i + 1]!).toString(16);
    if (style & 2) g = g.padStart(4, '0');
    if (style & 4) g = g.toUpperCase();
    groups.push(g);
  }
  if (style & 8) groups.splice(6, 2, `${b[12]}.${b[13]}.${b[14]}.${b[15]}`);
  // compress one run of zero groups (not necessarily the longest: any run is valid input)
  const zero = (g: string) => /^0+$/.test(g);
  const runs: [number, number][] = [];
  for (let i = 0; i < groups.length; ) {
    if (!zero(groups[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && zero(groups[j]!)) j++;
    runs.push([i, j]);
    i = j;
  }
  if (runs.length > 0 && style & 16) {
    const [i, j] = runs[(style >> 5) % runs.length]!;
    return `${groups.slice(0, i).join(':')}::${groups.slice(j).join(':')}`;
  }
  return groups.join(':');
}

const sparseV6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((gs) => Uint8Array.from(gs.flatMap((g) => [g >> 8, g & 0xff])));

test('every valid notation of an address parses to its bytes; format -> parse round-trips', () => {
  fc.assert(
    fc.property(fc.oneof(sparseV6, ipv6Addr()), fc.nat(), (b, style) => {
      assert.ok(bytesEqual(parseIp(notation(b, style)), b), notation(b, style));
      const text = formatIp(b);
      assert.ok(bytesEqual(parseIp(text), b));
      assert.equal(canonicalIp(text), text); // canonical is a fixed point
      assert.equal(text, text.toLowerCase());
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(ipv4Addr(), (b) => {
      assert.ok(bytesEqual(parseIp(formatIp(b)), b));
    }),
    { numRuns: 100 },
  );
});

test('formatIp matches libuv inet_ntop (node:net SocketAddress)', () => {
  fc.assert(
    fc.property(fc.oneof(sparseV6, ipv6Addr()), (b) => {
      // libuv also writes ::/96 addresses ("IPv4-compatible", deprecated by RFC 4291
      // §2.5.5.1) in mixed notation; RFC 5952 §5 asks for that only for well-known
      // prefixes still in use, so that one shape is left out of the comparison.
      if (b.subarray(0, 12).every((x) => x === 0) && (b[12] !== 0 || b[13] !== 0)) return;
      const ours = formatIp(b);
      const theirs = new SocketAddress({ address: ours, family: 'ipv6' }).address;
      assert.equal(ours, theirs);
      // and from an uncompressed, upper-case spelling
      assert.equal(new SocketAddress({ address: notation(b, 2 | 4), family: 'ipv6' }).address, ours);
    }),
    { numRuns: RUNS },
  );
});

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

test('parsePrefix gives the network and broadcast ends of the prefix', () => {
  const p = parsePrefix('10.0.0.0/24');
  assert.equal(p.version, 4);
  assert.equal(p.prefixLength, 24);
  assert.equal(formatIp(p.start), '10.0.0.0');
  assert.equal(formatIp(p.end), '10.0.0.255');
  const q = parsePrefix('2001:db8::/32');
  assert.equal(formatIp(q.end), '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
  const all = parsePrefix('0.0.0.0/0');
  assert.equal(formatIp(all.end), '255.255.255.255');
  const host = parsePrefix('192.0.2.7');
  assert.equal(host.prefixLength, 32);
  assert.ok(bytesEqual(host.start, host.end));
  fc.assert(
    fc.property(fc.oneof(ipv4Addr(), ipv6Addr()), fc.nat(), (addr, n) => {
      const bits = addr.length * 8;
      const len = n % (bits + 1);
      const hostMask = (1n << BigInt(bits - len)) - 1n;
      const net = toBig(addr) & ~hostMask;
      const start = new Uint8Array(addr.length);
      for (let i = 0; i < addr.length; i++) start[i] = Number((net >> BigInt(8 * (addr.length - 1 - i))) & 0xffn);
      const pre = parsePrefix(`${formatIp(start)}/${len}`);
      assert.equal(pre.prefixLength, len);
      assert.equal(toBig(pre.start), net);
      assert.equal(toBig(pre.end), net | hostMask);
      if ((toBig(addr) & hostMask) !== 0n) {
        expectDecodeError(() => parsePrefix(`${formatIp(addr)}/${len}`), 'bad-value', 'ip-prefix');
      }
    }),
    { numRuns: RUNS },
  );
});

test('malformed prefixes are DecodeErrors', () => {
  for (const s of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/01', '10.0.0.0/-1', '10.0.0.0/2 ', '::/129', '10.0.0.1/24', 'x/8']) {
    assert.throws(() => parsePrefix(s), DecodeError, s);
  }
  expectDecodeError(() => parsePrefix('10.0.0.1/24'), 'bad-value', 'ip-prefix');
  expectDecodeError(() => parsePrefix('10.0.0.0/33'), 'bad-value', 'ip-prefix');
  expectDecodeError(() => parsePrefix('10.0.0/8'), 'bad-value', 'ip-address');
});

test('compareBytes is numeric order for equal lengths; inRange is inclusive and per family', () => {
  fc.assert(
    fc.property(fc.oneof(fc.tuple(ipv4Addr(), ipv4Addr()), fc.tuple(ipv6Addr(), ipv6Addr())), ([a, b]) => {
      const c = compareBytes(a, b);
      const big = toBig(a) < toBig(b) ? -1 : toBig(a) > toBig(b) ? 1 : 0;
      assert.equal(Math.sign(c), big);
      assert.equal(bytesEqual(a, b), big === 0);
      const [lo, hi] = big <= 0 ? [a, b] : [b, a];
      assert.ok(inRange(lo, lo, hi) && inRange(hi, lo, hi));
    }),
    { numRuns: RUNS },
  );
  assert.ok(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0)) < 0);
  const p = parsePrefix('10.1.0.0/16');
  assert.ok(inRange(parseIp('10.1.255.255'), p.start, p.end));
  assert.ok(!inRange(parseIp('10.2.0.0'), p.start, p.end));
  assert.ok(!inRange(parseIp('::a01:0'), p.start, p.end)); // other family never matches
});
