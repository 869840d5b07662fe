// Property tests: nothing a peer or a local application sends can make the engine throw;
// every rejected packet is a counted drop; random inner packets cross two memory data
// planes unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createIpsecEngine, type IpsecEngine } from '../../src/ipsec/engine.js';
import { encodeIpv4Packet } from '../../src/wire/ipv4.js';
import { encodeIpv6Packet } from '../../src/wire/ipv6.js';
import { parseIp } from '../../src/wire/address.js';
import { SUITES, keysFor, mirror, twoPlanes, icmpPacket, tcpPacket, udpPacket } from './helpers.js';
import type { SaConfig } from '../../src/ipsec/types.js';

const SPIS = [0x1001, 0x1002, 0x1003, 0x1004];

// A receiver with several SA flavours (AEAD, CBC+HMAC with ESN, ChaCha, transport) and a
// sender holding their outbound twins.
function engines(): { s: IpsecEngine; r: IpsecEngine; outs: SaConfig[] } {
  const s = createIpsecEngine();
  const r = createIpsecEngine();
  const flavours: [string, Partial<SaConfig>][] = [
    ['aes128gcm16', {}],
    ['aes256-sha256', { esn: true }],
    ['chacha20poly1305', { replayWindow: 0 }],
    ['aes128gcm8', { mode: 'transport', localAddress: '10.0.1.5', remoteAddress: '10.0.2.7' }],
  ];
  const outs = flavours.map(([label, over], i) => {
    const keys = keysFor(SUITES.find((x) => x.label === label)!);
    const out: SaConfig = {
      spi: SPIS[i]!,
      direction: 'out',
      mode: 'tunnel',
      localAddress: '192.0.2.1',
      remoteAddress: '192.0.2.2',
      encryption: keys.encryption,
      integrity: keys.integrity,
      esn: false,
      replayWindow: 64,
      lifetime: { soft: {}, hard: {} },
      selector: {},
      policyId: `p${i}`,
      ...over,
    };
    s.installSa(out, 0);
    r.installSa(mirror(out), 0);
    return out;
  });
  return { s, r, outs };
}

function dropTotal(e: IpsecEngine): number {
  return Object.entries(e.counters.snapshot())
    .filter(([k]) => k.startsWith('drop.'))
    .reduce((sum, [, v]) => sum + v, 0);
}

test('random bytes into processInbound: never throws, always a counted drop', () => {
  const { r } = engines();
  let calls = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.option(fc.constantFrom(...SPIS)), (bytes, spi) => {
      const packet = Buffer.from(bytes);
      if (spi !== null && packet.length >= 4) packet.writeUInt32BE(spi, 0);
      const result = r.processInbound(packet, 0);
      calls++;
      assert.equal(result.kind, 'drop');
    }),
    { numRuns: 1000 },
  );
  assert.equal(r.counters.get('rx.esp'), calls);
  assert.equal(dropTotal(r), calls);
});

test('mutated genuine packets: never throw, never deliver anything but the original', () => {
  const { s, r } = engines();
  const tunnel = { mode: 'tunnel' as const, remoteTunnel: '192.0.2.2' };
  s.installPolicy({ id: 'p0', priority: 1, selector: { protocol: 17 }, action: 'protect', protect: tunnel });
  s.installPolicy({ id: 'p1', priority: 2, selector: { protocol: 6 }, action: 'protect', protect: tunnel });
  s.installPolicy({ id: 'p2', priority: 3, selector: { protocol: 1 }, action: 'protect', protect: tunnel });
  const packets = [
    udpPacket('10.0.1.5', '10.0.2.7', 1, 2, Buffer.from('payload')),
    tcpPacket('10.0.1.5', '10.0.2.7', 3, 4, Buffer.alloc(100, 1)),
    icmpPacket('10.0.1.5', '10.0.2.7', 8, 0, Buffer.alloc(30, 2)),
  ];
  let delivered = 0;
  fc.assert(
    fc.property(
      fc.nat(2),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.option(fc.nat()),
      (which, flips, cut) => {
        const out = s.protectOutbound(packets[which]!, 0);
        assert.equal(out.kind, 'send');
        if (out.kind !== 'send') return;
        const bad = Buffer.from(out.esp);
        for (const [at, x] of flips) bad[at % bad.length]! ^= x;
        const input = cut === null ? bad : bad.subarray(0, cut % (bad.length + 1));
        const result = r.processInbound(input, 0);
        // Two flips of the same bit cancel out: only then may the packet get through.
        if (result.kind === 'deliver') {
          assert.ok(input.equals(out.esp), `a mutated packet was delivered: ${input.toString('hex')}`);
          delivered++;
        }
      },
    ),
    { numRuns: 400 },
  );
  assert.equal(r.counters.get('rx.delivered'), delivered);
  assert.equal(dropTotal(r) + delivered, r.counters.get('rx.esp'));
});

test('random bytes into protectOutbound: never throws', () => {
  const { s } = engines();
  s.installPolicy({ id: 'p0', priority: 1, selector: { protocol: 17 }, action: 'protect', protect: { mode: 'tunnel', remoteTunnel: '192.0.2.2' } });
  s.installPolicy({ id: 'p3', priority: 2, selector: { protocol: 6 }, action: 'protect', protect: { mode: 'transport', remoteTunnel: '10.0.2.7' } });
  s.installPolicy({ id: 'b', priority: 3, selector: { protocol: 1 }, action: 'bypass' });
  s.installPolicy({ id: 'none', priority: 4, selector: { protocol: 47 }, action: 'protect', protect: { mode: 'tunnel', remoteTunnel: '192.0.2.9' } });
  s.installPolicy({ id: 'd', priority: 5, selector: {}, action: 'discard' });
  const kinds = new Set<string>();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 120 }),
        // Plausible headers: version nibble 4 or 6 with random rest.
        fc.tuple(fc.constantFrom(0x45, 0x46, 0x60), fc.uint8Array({ minLength: 0, maxLength: 100 }), fc.constantFrom(1, 6, 17, 47, 0, 44)).map(
          ([b0, rest, proto]) => {
            const p = Uint8Array.from([b0, ...rest]);
            if (p.length > 9 && b0 !== 0x60) p[9] = proto;
            if (p.length > 6 && b0 === 0x60) p[6] = proto;
            return p;
          },
        ),
      ),
      (bytes) => {
        kinds.add(s.protectOutbound(bytes, 0).kind);
      },
    ),
    { numRuns: 1000 },
  );
  assert.ok(kinds.has('drop'));
});

// Random well-formed inner packets inside the protected subnets.
const innerPacket = fc.record({
  v6: fc.boolean(),
  srcHost: fc.integer({ min: 1, max: 254 }),
  dstHost: fc.integer({ min: 1, max: 254 }),
  proto: fc.constantFrom('udp', 'tcp', 'icmp', 'raw'),
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  payload: fc.uint8Array({ maxLength: 1400 }),
});
type InnerSpec = typeof innerPacket extends fc.Arbitrary<infer T> ? T : never;

function buildInner(g: InnerSpec, fromNet: number, toNet: number): Buffer {
  const src = g.v6 ? `fd00:${fromNet}::${g.srcHost.toString(16)}` : `10.0.${fromNet}.${g.srcHost}`;
  const dst = g.v6 ? `fd00:${toNet}::${g.dstHost.toString(16)}` : `10.0.${toNet}.${g.dstHost}`;
  if (g.proto === 'udp') return udpPacket(src, dst, g.srcPort, g.dstPort, g.payload);
  if (g.proto === 'tcp') return tcpPacket(src, dst, g.srcPort, g.dstPort, g.payload);
  // An echo request body holds at least identifier and sequence number (4 bytes).
  if (g.proto === 'icmp') return icmpPacket(src, dst, g.v6 ? 128 : 8, 0, Buffer.concat([Buffer.alloc(4), g.payload]));
  const s = parseIp(src);
  const d = parseIp(dst);
  return Buffer.from(
    g.v6
      ? encodeIpv6Packet({ hopLimit: 9, nextHeader: 253, src: s, dst: d }, g.payload)
      : encodeIpv4Packet({ ttl: 9, protocol: 253, src: s, dst: d }, g.payload),
  );
}

test('random inner packets round-trip through two memory data planes', async () => {
  const v4 = await twoPlanes();
  const v6 = await twoPlanes({}, 'chacha20poly1305', 6);
  const received: { plane: string; packet: Buffer }[] = [];
  for (const [name, pair] of [
    ['v4', v4],
    ['v6', v6],
  ] as const) {
    pair.a.onInner((p) => received.push({ plane: `${name}-a`, packet: p }));
    pair.b.onInner((p) => received.push({ plane: `${name}-b`, packet: p }));
  }
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(innerPacket, fc.boolean(), async (gen, reverse) => {
      const pair = gen.v6 ? v6 : v4;
      const from = reverse ? pair.b : pair.a;
      const packet = reverse ? buildInner(gen, 2, 1) : buildInner(gen, 1, 2);
      received.length = 0;
      const result = from.sendInner(packet);
      sent++;
      assert.equal(result.kind, 'send', JSON.stringify(result));
      assert.equal(received.length, 1);
      assert.equal(received[0]!.plane, `${gen.v6 ? 'v6' : 'v4'}-${reverse ? 'a' : 'b'}`);
      assert.ok(received[0]!.packet.equals(packet));
    }),
    { numRuns: 300 },
  );
  let delivered = 0;
  for (const pair of [v4, v6]) {
    for (const plane of [pair.a, pair.b]) {
      const c = await plane.counters();
      assert.deepEqual(Object.keys(c).filter((k) => k.startsWith('drop.')), [], JSON.stringify(c));
      delivered += c['rx.delivered'] ?? 0;
    }
  }
  assert.equal(delivered, sent);
});
