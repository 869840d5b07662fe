// Shared builders for the ipsec tests: SA configs for every algorithm and small IP
// packets built with the wire encoders (not hand-written bytes).
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import { parseIp } from '../../src/wire/address.js';
import { encodeIpv4Packet } from '../../src/wire/ipv4.js';
import { encodeIpv6Packet } from '../../src/wire/ipv6.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { encodeTcp } from '../../src/wire/tcp.js';
import { encodeIcmpv4, encodeIcmpv6 } from '../../src/wire/icmp.js';
import type { SaConfig, TrafficSelector } from '../../src/ipsec/types.js';
import { createMemoryDataPlane, MemoryWire, type MemoryDataPlane } from '../../src/ipsec/memory-dataplane.js';

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

export function loadVectors<T>(name: string): { source: string; cases: T[] } {
  return JSON.parse(readFileSync(new URL(`../../../test/vectors/${name}`, import.meta.url), 'utf8')) as { source: string; cases: T[] };
}

export interface Suite {
  readonly label: string;
  readonly encryption: { id: number; keyBits: number; keyMaterialBytes: number };
  readonly integrity?: { id: number; keyBytes: number };
  readonly testOnly?: boolean;
}

// Every algorithm combination the registry offers for ESP.
export const SUITES: Suite[] = [
  ...[128, 192, 256].flatMap((bits) =>
    [
      [INTEG.HMAC_SHA1_96, 20, 'sha1'],
      [INTEG.HMAC_SHA2_256_128, 32, 'sha256'],
      [INTEG.HMAC_SHA2_384_192, 48, 'sha384'],
      [INTEG.HMAC_SHA2_512_256, 64, 'sha512'],
    ].map(([id, keyBytes, name]) => ({
      label: `aes${bits}-${name}`,
      encryption: { id: ENCR.AES_CBC, keyBits: bits, keyMaterialBytes: bits / 8 },
      integrity: { id: id as number, keyBytes: keyBytes as number },
    })),
  ),
  ...[
    [ENCR.AES_GCM_8, 8],
    [ENCR.AES_GCM_12, 12],
    [ENCR.AES_GCM_16, 16],
  ].flatMap(([id, icv]) =>
    [128, 192, 256].map((bits) => ({
      label: `aes${bits}gcm${icv}`,
      encryption: { id: id!, keyBits: bits, keyMaterialBytes: bits / 8 + 4 },
    })),
  ),
  { label: 'chacha20poly1305', encryption: { id: ENCR.CHACHA20_POLY1305, keyBits: 256, keyMaterialBytes: 36 } },
  {
    label: 'null-sha256',
    encryption: { id: ENCR.NULL, keyBits: 0, keyMaterialBytes: 0 },
    integrity: { id: INTEG.HMAC_SHA2_256_128, keyBytes: 32 },
    testOnly: true,
  },
];

export interface Keys {
  readonly encryption: SaConfig['encryption'];
  readonly integrity: SaConfig['integrity'];
}

export function keysFor(suite: Suite): Keys {
  return {
    encryption: {
      id: suite.encryption.id,
      keyBits: suite.encryption.keyBits,
      keyMaterial: randomBytes(suite.encryption.keyMaterialBytes),
    },
    integrity: suite.integrity === undefined ? undefined : { id: suite.integrity.id, key: randomBytes(suite.integrity.keyBytes) },
  };
}

export function saConfig(over: Partial<SaConfig> & Pick<SaConfig, 'spi' | 'direction'>): SaConfig {
  const keys = keysFor(SUITES.find((s) => s.label === 'aes128gcm16')!);
  return {
    mode: 'tunnel',
    localAddress: '192.0.2.1',
    remoteAddress: '192.0.2.2',
    encryption: keys.encryption,
    esn: false,
    replayWindow: 64,
    lifetime: { soft: {}, hard: {} },
    selector: {},
    ...over,
  };
}

// The inbound twin of an outbound SA: same keys and SPI, addresses and selector mirrored.
export function mirror(out: SaConfig, over: Partial<SaConfig> = {}): SaConfig {
  const sel = out.selector;
  const mirrored: TrafficSelector = {
    ...(sel.remote !== undefined ? { local: sel.remote } : {}),
    ...(sel.local !== undefined ? { remote: sel.local } : {}),
    ...(sel.protocol !== undefined ? { protocol: sel.protocol } : {}),
    ...(sel.remotePorts !== undefined ? { localPorts: sel.remotePorts } : {}),
    ...(sel.localPorts !== undefined ? { remotePorts: sel.localPorts } : {}),
  };
  const { policyId: _policyId, ...rest } = out;
  return {
    ...rest,
    direction: 'in',
    localAddress: out.remoteAddress,
    remoteAddress: out.localAddress,
    selector: mirrored,
    ...over,
  };
}

export function udpPacket(src: string, dst: string, srcPort: number, dstPort: number, data: Uint8Array): Buffer {
  const s = parseIp(src);
  const d = parseIp(dst);
  const udp = encodeUdp(srcPort, dstPort, data, { src: s, dst: d });
  return Buffer.from(
    s.length === 4
      ? encodeIpv4Packet({ ttl: 64, protocol: 17, src: s, dst: d, identification: 0x1234 }, udp)
      : encodeIpv6Packet({ hopLimit: 64, nextHeader: 17, src: s, dst: d }, udp),
  );
}

export function tcpPacket(src: string, dst: string, srcPort: number, dstPort: number, data: Uint8Array): Buffer {
  const s = parseIp(src);
  const d = parseIp(dst);
  const tcp = encodeTcp({ srcPort, dstPort, sequence: 1, acknowledgment: 0, flags: 0x02, window: 65535 }, data, s, d);
  return Buffer.from(
    s.length === 4
      ? encodeIpv4Packet({ ttl: 64, protocol: 6, src: s, dst: d }, tcp)
      : encodeIpv6Packet({ hopLimit: 64, nextHeader: 6, src: s, dst: d }, tcp),
  );
}

export function icmpPacket(src: string, dst: string, type: number, code: number, body: Uint8Array): Buffer {
  const s = parseIp(src);
  const d = parseIp(dst);
  return Buffer.from(
    s.length === 4
      ? encodeIpv4Packet({ ttl: 64, protocol: 1, src: s, dst: d }, encodeIcmpv4({ type, code, body }))
      : encodeIpv6Packet({ hopLimit: 64, nextHeader: 58, src: s, dst: d }, encodeIcmpv6({ type, code, body }, s, d)),
  );
}

// Two memory data planes on one wire, each protecting its inner /24 towards the other's:
// A = gateway 192.0.2.1 for 10.0.1.0/24, B = gateway 192.0.2.2 for 10.0.2.0/24 (UDP 4500).
export interface TwoPlanes {
  readonly wire: MemoryWire;
  readonly a: MemoryDataPlane;
  readonly b: MemoryDataPlane;
  readonly clock: { nowMs: number };
  readonly aToB: SaConfig;
  readonly bToA: SaConfig;
}

// With family 6 the protected networks are fd00:1::/64 and fd00:2::/64 (outer still IPv4).
export async function twoPlanes(over: Partial<SaConfig> = {}, suiteLabel = 'aes128gcm16', family: 4 | 6 = 4): Promise<TwoPlanes> {
  const wire = new MemoryWire();
  const clock = { nowMs: 0 };
  const nowMs = () => clock.nowMs;
  const a = createMemoryDataPlane({ wire, addresses: ['192.0.2.1'], nowMs });
  const b = createMemoryDataPlane({ wire, addresses: ['192.0.2.2'], nowMs });
  const net = (n: number) =>
    family === 4 ? { start: `10.0.${n}.0`, end: `10.0.${n}.255` } : { start: `fd00:${n}::`, end: `fd00:${n}::ffff:ffff:ffff:ffff` };
  const netA = net(1);
  const netB = net(2);
  const suite = SUITES.find((s) => s.label === suiteLabel)!;
  const make = (spi: number, local: string, remote: string, sel: TrafficSelector, policyId: string): SaConfig => {
    const keys = keysFor(suite);
    return {
      spi,
      direction: 'out',
      mode: 'tunnel',
      localAddress: local,
      remoteAddress: remote,
      encap: { localPort: 4500, remotePort: 4500 },
      encryption: keys.encryption,
      integrity: keys.integrity,
      esn: false,
      replayWindow: 1024,
      lifetime: { soft: {}, hard: {} },
      selector: sel,
      policyId,
      allowTestOnlyAlgorithms: suite.testOnly === true,
      ...over,
    };
  };
  const aToB = make(0xa0b0, '192.0.2.1', '192.0.2.2', { local: netA, remote: netB }, 'a-to-b');
  const bToA = make(0xb0a0, '192.0.2.2', '192.0.2.1', { local: netB, remote: netA }, 'b-to-a');
  await a.installPolicy({ id: 'a-to-b', priority: 1, selector: aToB.selector, action: 'protect', protect: { mode: 'tunnel', remoteTunnel: '192.0.2.2' } });
  await b.installPolicy({ id: 'b-to-a', priority: 1, selector: bToA.selector, action: 'protect', protect: { mode: 'tunnel', remoteTunnel: '192.0.2.1' } });
  await a.installSa(aToB);
  await b.installSa(mirror(aToB));
  await b.installSa(bToA);
  await a.installSa(mirror(bToA));
  return { wire, a, b, clock, aToB, bToA };
}
