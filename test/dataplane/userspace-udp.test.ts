// The userspace backend's UDP side with real sockets on loopback (no mocks), for both UDP
// backends: RFC 3948 classification of what arrives on the encapsulation port (keepalive,
// IKE behind the non-ESP marker, ESP, too short), inbound ESP through the real engine to
// the TUN device, replay and forgery drops, NAT keepalives sent to peers with an SA, and
// IKE sent with the marker. The peer is a plain node:dgram socket plus an independent
// engine instance that produces the ESP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { createUserspaceDataPlane, type UserspaceDataPlane } from '../../src/dataplane/userspace.js';
import type { UdpBackend, UdpEndpoint } from '../../src/io/udp.js';
import { createIpsecEngine } from '../../src/ipsec/engine.js';
import type { Policy, SaConfig } from '../../src/ipsec/types.js';
import { encodeIpv4Packet } from '../../src/wire/ipv4.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { parseIp } from '../../src/wire/address.js';

const skip = process.getuid?.() === 0 && existsSync('/dev/net/tun') ? false : 'needs root and /dev/net/tun';

async function until(what: string, f: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The protected networks: the data plane's side 10.213.0.0/24, the peer's 10.214.0.0/24.
const LOCAL_NET = { start: '10.213.0.0', end: '10.213.0.255' };
const PEER_NET = { start: '10.214.0.0', end: '10.214.0.255' };

function innerPacket(payload: string): Uint8Array {
  const src = parseIp('10.214.0.2');
  const dst = parseIp('10.213.0.1');
  return encodeIpv4Packet({ ttl: 64, protocol: 17, src, dst }, encodeUdp(40000, 9, Buffer.from(payload), { src, dst }));
}

for (const [backend, family] of [
  ['native', 4],
  ['dgram', 4],
  ['native', 6],
  ['dgram', 6],
] as const satisfies readonly (readonly [UdpBackend, 4 | 6])[]) {
  const loopback = family === 4 ? '127.0.0.1' : '::1';
  describe(`userspace data plane on ${loopback}, UDP backend ${backend}`, { skip }, () => {
    let dp: UserspaceDataPlane;
    let peer: dgram.Socket;
    let peerPort: number;
    const ikeSeen: { message: Buffer; from: UdpEndpoint }[] = [];
    const peerGot: Buffer[] = [];

    before(async () => {
      dp = await createUserspaceDataPlane({
        tunName: `kpu${process.pid % 10000}${backend[0]}${family}`,
        localAddress: loopback,
        port: 0,
        udpBackend: backend,
        manageRoutes: false,
        natKeepaliveMs: 100,
        onIke: (message, from) => ikeSeen.push({ message: Buffer.from(message), from }),
      });
      peer = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
      peer.on('message', (m) => peerGot.push(m));
      await new Promise<void>((r) => peer.bind(0, loopback, () => r()));
      peerPort = peer.address().port;
    });

    after(async () => {
      await dp?.close();
      peer?.close();
    });

    const send = (bytes: Uint8Array): Promise<void> =>
      new Promise((resolve, reject) => peer.send(bytes, dp.port, loopback, (e) => (e ? reject(e) : resolve())));
    const counter = async (name: string): Promise<number> => (await dp.counters())[name] ?? 0;

    test('binds the requested address and reports the kernel-chosen port', () => {
      assert.ok(dp.port > 0);
      assert.equal(dp.localAddress, loopback);
    });

    test('a NAT keepalive (one 0xFF byte) is counted and goes no further', async () => {
      await send(Uint8Array.of(0xff));
      await until('keepalive counted', async () => (await counter('udp.keepalive.rx')) === 1);
      assert.equal(await counter('tun.tx'), 0);
    });

    test('IKE behind the non-ESP marker reaches onIke without the marker, with its source', async () => {
      const ike = randomBytes(60);
      await send(Buffer.concat([Buffer.alloc(4), ike]));
      await until('IKE delivered', () => ikeSeen.length === 1);
      assert.deepEqual(ikeSeen[0]!.message, ike);
      assert.deepEqual(ikeSeen[0]!.from, { address: loopback, port: peerPort });
    });

    test('datagrams too short for any RFC 3948 format are counted as truncated', async () => {
      await send(Uint8Array.of(1, 2));
      await send(Uint8Array.of(0, 0, 0, 0)); // a marker with no IKE message
      await send(Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0, 0)); // less than an ESP header
      await until('three truncated', async () => (await counter('drop.udp-encap.truncated')) === 3);
    });

    test('ESP for an unknown SPI is dropped by the engine and counted', async () => {
      await send(Buffer.concat([Buffer.from([0x12, 0x34, 0x56, 0x78]), randomBytes(60)]));
      await until('unknown SPI counted', async () => (await counter('drop.unknown-spi')) === 1);
    });

    test('ESP from a peer engine is decrypted and written to the TUN; replays and forgeries are dropped', async () => {
      const spi = 0x01000000 + (randomBytes(2).readUInt16BE() << 4);
      const keyMaterial = randomBytes(20); // AES-128 key + 4-byte salt (RFC 4106 §8.1)
      const base = {
        spi,
        mode: 'tunnel' as const,
        encryption: { id: 20, keyBits: 128, keyMaterial }, // ENCR_AES_GCM_16
        esn: true,
        replayWindow: 64,
        lifetime: { soft: {}, hard: {} },
      };
      const inbound: SaConfig = {
        ...base,
        direction: 'in',
        localAddress: loopback,
        remoteAddress: loopback,
        encap: { localPort: dp.port, remotePort: peerPort },
        selector: { local: LOCAL_NET, remote: PEER_NET },
      };
      await dp.installSa(inbound);

      // The peer: an independent engine with the matching outbound SA and policy.
      const policy: Policy = {
        id: 'peer-out',
        priority: 1,
        selector: { local: PEER_NET, remote: LOCAL_NET },
        action: 'protect',
        protect: { mode: 'tunnel', remoteTunnel: loopback },
      };
      const peerEngine = createIpsecEngine();
      peerEngine.installPolicy(policy);
      peerEngine.installSa(
        {
          ...base,
          direction: 'out',
          localAddress: loopback,
          remoteAddress: loopback,
          encap: { localPort: peerPort, remotePort: dp.port },
          selector: { local: PEER_NET, remote: LOCAL_NET },
          policyId: policy.id,
        },
        Date.now(),
      );
      const r = peerEngine.protectOutbound(innerPacket('hello through ESP'), Date.now());
      assert.equal(r.kind, 'send');
      const esp = (r as { esp: Buffer }).esp;

      await send(esp);
      await until('delivered to TUN', async () => (await counter('tun.tx')) === 1);
      await send(esp); // the same sequence number again (RFC 4303 §3.4.3)
      await until('replay counted', async () => (await counter('drop.replay')) === 1);
      const forged = Buffer.from((peerEngine.protectOutbound(innerPacket('x'), Date.now()) as { esp: Buffer }).esp);
      forged[forged.length - 1]! ^= 1; // one bit of the ICV
      await send(forged);
      await until('forgery counted', async () => (await counter('drop.auth')) === 1);
      assert.equal(await counter('tun.tx'), 1);
      const sa = (await dp.listSas()).find((s) => s.spi === spi && s.direction === 'in');
      assert.equal(sa?.counters.packets, 1);
    });

    test('NAT keepalives go to the peer of every encapsulated SA (RFC 3948 §4)', async () => {
      await until('keepalive received by the peer', () => peerGot.some((m) => m.length === 1 && m[0] === 0xff));
      assert.ok((await counter('udp.keepalive.tx')) >= 1);
    });

    test('sendIke prefixes the non-ESP marker', async () => {
      const ike = randomBytes(32);
      dp.sendIke(ike, { address: loopback, port: peerPort });
      await until('IKE received by the peer', () => peerGot.some((m) => m.length === 36));
      const got = peerGot.find((m) => m.length === 36)!;
      assert.deepEqual(got.subarray(0, 4), Buffer.alloc(4));
      assert.deepEqual(got.subarray(4), ike);
    });

    test('deleting the SA stops its keepalives', async () => {
      const sas = await dp.listSas();
      for (const s of sas) assert.equal(await dp.deleteSa(s.direction, s.spi), true);
      await new Promise((r) => setTimeout(r, 150)); // let a keepalive in flight land
      const before = peerGot.length;
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(peerGot.length, before);
    });
  });
}

test('binding an address that is not configured fails with udp-bind and closes the TUN', { skip }, async () => {
  const tunName = `kpub${process.pid % 10000}`;
  await assert.rejects(
    createUserspaceDataPlane({ tunName, localAddress: '192.0.2.123', port: 0, manageRoutes: false }),
    (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'udp-bind' && /not configured/.test(e.message),
  );
  assert.equal(existsSync(`/sys/class/net/${tunName}`), false);
});
