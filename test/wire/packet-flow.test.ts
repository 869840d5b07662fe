import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createPacketFlow, flowOf } from '../../src/wire/packet-flow.js';
import { encodeIpv4Packet, decodeIpv4Header } from '../../src/wire/ipv4.js';
import { decodeIpv6Packet, encodeIpv6Extensions, encodeIpv6Packet, type Ipv6Extension } from '../../src/wire/ipv6.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { encodeTcp } from '../../src/wire/tcp.js';
import { encodeIcmpv4, encodeIcmpv6 } from '../../src/wire/icmp.js';
import { parseIp } from '../../src/wire/address.js';
import { arbBytes, expectDecodeError, fuzzDecoder, ipv4Addr, ipv6Addr, offsetCopy, RUNS, u16 } from './fuzz.js';

interface Upper {
  protocol: number;
  bytes: (src: Uint8Array, dst: Uint8Array) => Uint8Array;
  ports: [number, number] | null; // expected srcPort/dstPort, null = no ports
}

// Upper-layer headers with the ports flowOf must find in them.
const arbUpper = (v6: boolean): fc.Arbitrary<Upper> =>
  fc.oneof(
    fc.tuple(u16(), u16(), arbBytes(0, 30)).map(([s, d, p]): Upper => ({
      protocol: 17,
      bytes: (a, b) => encodeUdp(s, d, p, { src: a, dst: b }),
      ports: [s, d],
    })),
    fc.tuple(u16(), u16(), arbBytes(0, 30)).map(([s, d, p]): Upper => ({
      protocol: 6,
      bytes: (a, b) => encodeTcp({ srcPort: s, dstPort: d, sequence: 1, acknowledgment: 2, flags: 0x10, window: 3 }, p, a, b),
      ports: [s, d],
    })),
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), arbBytes(4, 20)).map(([t, c, body]): Upper => ({
      protocol: v6 ? 58 : 1,
      bytes: (a, b) => (v6 ? encodeIcmpv6({ type: t, code: c, body }, a, b) : encodeIcmpv4({ type: t, code: c, body })),
      ports: [t, c], // RFC 4301 §4.4.1.1: type and code in the port selectors
    })),
    fc.tuple(fc.constantFrom(132, 33, 136), u16(), u16(), arbBytes(0, 20)).map(([proto, s, d, rest]): Upper => ({
      protocol: proto, // SCTP, DCCP, UDP-Lite: ports in the first 4 bytes too
      bytes: () => Uint8Array.from([s >> 8, s & 0xff, d >> 8, d & 0xff, ...rest]),
      ports: [s, d],
    })),
    fc.tuple(fc.integer({ min: 0, max: 255 }), arbBytes(3, 3), arbBytes(0, 10)).map(([mh, head, rest]): Upper => ({
      protocol: 135, // Mobility Header: MH type in byte 2
      bytes: () => Uint8Array.from([head[0]!, head[1]!, mh, ...rest]),
      ports: [mh, 0],
    })),
    fc.tuple(fc.constantFrom(50, 47, 4, 41, 89), arbBytes(0, 20)).map(([proto, body]): Upper => ({
      protocol: proto, // ESP, GRE, IPIP, IPv6-in-IP, OSPF: no ports
      bytes: () => body,
      ports: null,
    })),
  );

// fragment: null = whole packet, otherwise offset in 8-octet units and the M flag
const arbFrag = fc.option(fc.tuple(fc.integer({ min: 0, max: 0x1fff }), fc.boolean()), { freq: 2 });

const arbV4 = fc
  .tuple(ipv4Addr(), ipv4Addr(), arbUpper(false), arbFrag, fc.integer({ min: 0, max: 4 }))
  .map(([src, dst, upper, frag, optWords]) => {
    const payload = upper.bytes(src, dst);
    const bytes = encodeIpv4Packet(
      {
        ttl: 64,
        protocol: upper.protocol,
        src,
        dst,
        options: new Uint8Array(optWords * 4).fill(1), // NOPs
        fragmentOffset: frag?.[0] ?? 0,
        moreFragments: frag?.[1] ?? false,
      },
      payload,
    );
    return { version: 4 as const, src, dst, upper, frag, bytes, transportOffset: 20 + optWords * 4 };
  });

const arbExt = fc.oneof(
  fc.constantFrom<0 | 43 | 60>(43, 60).chain((type) => arbBytes(6, 6).map((data): Ipv6Extension => ({ type, data }))),
  arbBytes(14, 14).map((data): Ipv6Extension => ({ type: 51, data })),
);

const arbV6 = fc
  .tuple(ipv6Addr(), ipv6Addr(), arbUpper(true), arbFrag, fc.boolean(), fc.array(arbExt, { maxLength: 3 }), fc.nat())
  .map(([src, dst, upper, frag, hbh, exts, id]) => {
    const chain: Ipv6Extension[] = [...(hbh ? [{ type: 0 as const, data: new Uint8Array(6) }] : []), ...exts];
    if (frag !== null) {
      const f: Ipv6Extension = { type: 44, fragmentOffset: frag[0], moreFragments: frag[1], identification: id };
      if (frag[0] !== 0) chain.push(f); // nothing of the chain follows a non-first Fragment header
      else chain.splice(hbh ? 1 : 0, 0, f);
    }
    const ext = encodeIpv6Extensions(chain, upper.protocol);
    const bytes = encodeIpv6Packet(
      { hopLimit: 64, src, dst, nextHeader: chain[0]?.type ?? upper.protocol },
      Uint8Array.from([...ext, ...upper.bytes(src, dst)]),
    );
    return { version: 6 as const, src, dst, upper, frag, bytes, transportOffset: 40 + ext.length };
  });

test('flowOf finds addresses, protocol and ports of generated IPv4 and IPv6 packets', () => {
  const out = createPacketFlow();
  fc.assert(
    fc.property(fc.oneof(arbV4, arbV6), (p) => {
      const f = flowOf(offsetCopy(p.bytes), out);
      assert.equal(f, out, 'the passed object is reused');
      assert.equal(f.version, p.version);
      assert.deepEqual([...f.src], [...p.src]);
      assert.deepEqual([...f.dst], [...p.dst]);
      assert.equal(f.protocol, p.upper.protocol);
      assert.equal(f.transportOffset, p.transportOffset);
      assert.equal(f.packetLength, p.bytes.length);
      const fragment = p.frag !== null && (p.frag[0] !== 0 || p.frag[1]);
      assert.equal(f.isFragment, fragment);
      const nonFirst = p.frag !== null && p.frag[0] !== 0;
      const expected = nonFirst || p.upper.ports === null ? [0, 0, false] : [...p.upper.ports, true];
      assert.deepEqual([f.srcPort, f.dstPort, f.hasPorts], expected);
    }),
    { numRuns: RUNS },
  );
});

test('address fields are views into the packet, not copies', () => {
  const pkt = encodeIpv4Packet({ ttl: 1, protocol: 17, src: parseIp('10.0.0.1'), dst: parseIp('10.0.0.2') }, encodeUdp(1, 2, new Uint8Array(0)));
  const f = flowOf(pkt);
  assert.equal(f.src.buffer, pkt.buffer);
  assert.equal(f.src.byteOffset, pkt.byteOffset + 12);
  assert.equal(f.dst.byteOffset, pkt.byteOffset + 16);
});

test('fuzz: flowOf returns a flow or throws DecodeError; a flow agrees with the full decoders', () => {
  fuzzDecoder(flowOf, fc.oneof(arbV4, arbV6).map((p) => p.bytes), (f, input) => {
    if (f.version === 4) {
      const h = decodeIpv4Header(input, { verifyChecksum: false });
      assert.deepEqual([h.protocol, h.headerLength, h.totalLength], [f.protocol, f.transportOffset, f.packetLength]);
    } else {
      const { header, chain } = decodeIpv6Packet(input);
      assert.deepEqual([chain.protocol, chain.offset, 40 + header.payloadLength], [f.protocol, f.transportOffset, f.packetLength]);
    }
    if (f.hasPorts && (f.protocol === 6 || f.protocol === 17)) {
      const off = f.transportOffset;
      assert.equal(f.srcPort, (input[off]! << 8) | input[off + 1]!);
    }
  });
});

test('malformed packets: the error names the layer that is wrong', () => {
  expectDecodeError(() => flowOf(new Uint8Array(0)), 'truncated', 'ip');
  expectDecodeError(() => flowOf(Uint8Array.of(0x50, 0, 0, 0)), 'bad-version', 'ip');
  const v4 = encodeIpv4Packet({ ttl: 1, protocol: 17, src: new Uint8Array(4), dst: new Uint8Array(4) }, Uint8Array.of(0, 1, 0));
  expectDecodeError(() => flowOf(v4), 'truncated', 'udp'); // 3 bytes cannot hold the ports
  expectDecodeError(() => flowOf(v4.subarray(0, 19)), 'truncated', 'ipv4');
  expectDecodeError(() => flowOf(v4.subarray(0, 22)), 'truncated', 'ipv4'); // total length says 23
  const ihl = Uint8Array.from(v4);
  ihl[0] = 0x43;
  expectDecodeError(() => flowOf(ihl), 'bad-length', 'ipv4');
  const v6 = encodeIpv6Packet({ hopLimit: 1, nextHeader: 58, src: new Uint8Array(16), dst: new Uint8Array(16) }, Uint8Array.of(128));
  expectDecodeError(() => flowOf(v6), 'truncated', 'icmpv6');
  expectDecodeError(() => flowOf(v6.subarray(0, 40)), 'truncated', 'ipv6');
  const badExt = encodeIpv6Packet({ hopLimit: 1, nextHeader: 60, src: new Uint8Array(16), dst: new Uint8Array(16) }, Uint8Array.of(17, 1, 0, 0, 0, 0, 0, 0));
  expectDecodeError(() => flowOf(badExt), 'truncated', 'ipv6-ext');
  // a non-first fragment needs no transport bytes at all
  const frag = encodeIpv4Packet({ ttl: 1, protocol: 6, src: new Uint8Array(4), dst: new Uint8Array(4), fragmentOffset: 3 }, new Uint8Array(0));
  const f = flowOf(frag);
  assert.deepEqual([f.isFragment, f.hasPorts, f.protocol], [true, false, 6]);
});

test('ICMP echo request: type 8 code 0 (IPv4), type 128 code 0 (IPv6) as the port selectors', () => {
  const a4 = parseIp('192.0.2.1');
  const p4 = encodeIpv4Packet({ ttl: 64, protocol: 1, src: a4, dst: a4 }, encodeIcmpv4({ type: 8, code: 0, body: new Uint8Array(8) }));
  assert.deepEqual([flowOf(p4).srcPort, flowOf(p4).dstPort], [8, 0]);
  const a6 = parseIp('2001:db8::1');
  const p6 = encodeIpv6Packet({ hopLimit: 64, nextHeader: 58, src: a6, dst: a6 }, encodeIcmpv6({ type: 128, code: 0, body: new Uint8Array(8) }, a6, a6));
  assert.deepEqual([flowOf(p6).protocol, flowOf(p6).srcPort, flowOf(p6).dstPort], [58, 128, 0]);
});
