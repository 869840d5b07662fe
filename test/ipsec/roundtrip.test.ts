// Every algorithm x tunnel/transport x IPv4/IPv6 inner and outer x ESN on/off: packets
// cross from one engine to another unchanged, and a flipped bit anywhere after the SPI
// is an authentication failure that leaves the SA able to take the genuine packet.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createIpsecEngine, type OutboundResult } from '../../src/ipsec/engine.js';
import type { SaConfig } from '../../src/ipsec/types.js';
import { SUITES, icmpPacket, keysFor, mirror, tcpPacket, udpPacket } from './helpers.js';

const OUTER = {
  4: ['192.0.2.1', '192.0.2.2'],
  6: ['2001:db8:ffff::1', '2001:db8:ffff::2'],
} as const;
const INNER = {
  4: ['10.0.1.5', '10.0.2.7'],
  6: ['fd00:1::5', 'fd00:2::7'],
} as const;

function esp(r: OutboundResult): Buffer {
  assert.equal(r.kind, 'send', JSON.stringify(r));
  return (r as { esp: Buffer }).esp;
}

describe('round trips', () => {
  for (const suite of SUITES) {
    test(suite.label, () => {
      let combos = 0;
      for (const mode of ['tunnel', 'transport'] as const) {
        for (const innerFamily of [4, 6] as const) {
          for (const outerFamily of [4, 6] as const) {
            if (mode === 'transport' && innerFamily !== outerFamily) continue;
            for (const esn of [false, true]) {
              combos++;
              const [local, remote] = OUTER[outerFamily];
              const [src, dst] = mode === 'tunnel' ? INNER[innerFamily] : OUTER[outerFamily];
              const keys = keysFor(suite);
              const out: SaConfig = {
                spi: 0x10000 + combos,
                direction: 'out',
                mode,
                localAddress: local,
                remoteAddress: remote,
                encryption: keys.encryption,
                integrity: keys.integrity,
                esn,
                replayWindow: 64,
                lifetime: { soft: {}, hard: {} },
                selector: { local: { start: src, end: src }, remote: { start: dst, end: dst } },
                policyId: 'p',
                allowTestOnlyAlgorithms: suite.testOnly === true,
              };
              const s = createIpsecEngine();
              const r = createIpsecEngine();
              s.installPolicy({ id: 'p', priority: 1, selector: out.selector, action: 'protect', protect: { mode, remoteTunnel: remote } });
              s.installSa(out, 0);
              r.installSa(mirror(out), 0);
              const label = `${suite.label} ${mode} inner v${innerFamily} outer v${outerFamily} esn ${esn}`;
              const packets = [
                udpPacket(src, dst, 1000, 2000, Buffer.alloc(0)),
                udpPacket(src, dst, 1000, 2000, Buffer.from('x')),
                udpPacket(src, dst, 1000, 2000, Buffer.alloc(1400, 0xab)),
                tcpPacket(src, dst, 40000, 443, Buffer.from('hello, world')),
                icmpPacket(src, dst, innerFamily === 4 ? 8 : 128, 0, Buffer.from('ping data 0123')),
              ];
              const sentEsp: Buffer[] = [];
              for (const p of packets) {
                const e = esp(s.protectOutbound(p, 0));
                sentEsp.push(e);
                const got = r.processInbound(e, 0);
                assert.equal(got.kind, 'deliver', `${label}: ${JSON.stringify(got)}`);
                if (got.kind !== 'deliver') continue;
                if (mode === 'tunnel') {
                  assert.ok(got.packet.equals(p), label);
                } else {
                  // Rebuilt header (TTL 64, id 0, same addresses): compare the payload.
                  const hl = innerFamily === 4 ? 20 : 40;
                  assert.ok(got.packet.subarray(hl).equals(p.subarray(hl)), label);
                  assert.ok(got.packet.subarray(innerFamily === 4 ? 12 : 8, hl).equals(p.subarray(innerFamily === 4 ? 12 : 8, hl)));
                }
              }
              // Explicit IVs: AEAD uses the sequence number, CBC random ones.
              const ivBytes = suite.encryption.id === 12 ? 16 : suite.encryption.id === 11 ? 0 : 8;
              const ivs = new Set(sentEsp.map((e) => e.subarray(8, 8 + ivBytes).toString('hex')));
              if (ivBytes > 0) assert.equal(ivs.size, sentEsp.length, `${label}: IVs repeat`);
              if (ivBytes === 8) assert.equal(sentEsp[2]!.readUInt32BE(12), 3);

              // Tampering: every byte after the SPI, one bit each.
              const fresh = esp(s.protectOutbound(packets[1]!, 0));
              for (let i = 4; i < fresh.length; i++) {
                const bad = Buffer.from(fresh);
                bad[i]! ^= 0x10;
                assert.deepEqual(r.processInbound(bad, 0), { kind: 'drop', reason: 'auth' }, `${label}: byte ${i}`);
              }
              assert.equal(r.processInbound(fresh, 0).kind, 'deliver', `${label}: genuine packet after forgeries`);
              assert.equal(r.listSas()[0]!.counters.authFailures, fresh.length - 4);
              assert.equal(r.listSas()[0]!.counters.packets, packets.length + 1);
            }
          }
        }
      }
      assert.equal(combos, 12);
    });
  }
});
