// The packet engine: SPD decisions, acquire rate limit, SA choice, inbound checks in
// RFC order, lifetimes, sequence exhaustion, replay behaviour end to end.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createIpsecEngine, engineTestHooks, type IpsecEngine, type OutboundResult } from '../../src/ipsec/engine.js';
import { DataPlaneError } from '../../src/ipsec/errors.js';
import { createSaCrypto } from '../../src/ipsec/sa-crypto.js';
import { espSeal } from '../../src/ipsec/esp-out.js';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import type { Policy, SaConfig } from '../../src/ipsec/types.js';
import { icmpPacket, mirror, saConfig, tcpPacket, udpPacket } from './helpers.js';

const TWO_32 = 0x1_0000_0000;
const A = '198.51.100.1'; // gateway addresses
const B = '198.51.100.2';

function protect(id: string, priority: number, selector: Policy['selector'] = {}): Policy {
  return { id, priority, selector, action: 'protect', protect: { mode: 'tunnel', localTunnel: A, remoteTunnel: B } };
}

// An outbound SA on `sender` and its twin on `receiver`.
function pair(sender: IpsecEngine, receiver: IpsecEngine, spi: number, over: Partial<SaConfig> = {}, nowMs = 0): SaConfig {
  const out = saConfig({ spi, direction: 'out', localAddress: A, remoteAddress: B, policyId: 'p', ...over });
  sender.installSa(out, nowMs);
  receiver.installSa(mirror(out, over.replayWindow !== undefined ? { replayWindow: over.replayWindow } : {}), nowMs);
  return out;
}

function sent(r: OutboundResult): Buffer {
  assert.equal(r.kind, 'send', JSON.stringify(r));
  if (r.kind !== 'send') throw new Error('unreachable');
  return r.esp;
}

const inner = (n = 0): Buffer => udpPacket('10.0.1.5', '10.0.2.7', 4000 + n, 53, Buffer.from(`query ${n}`));

describe('SPD', () => {
  test('first match by priority, then insertion order; DISCARD, BYPASS, no match', () => {
    const e = createIpsecEngine();
    e.installPolicy({ id: 'late-bypass', priority: 10, selector: { protocol: 17 }, action: 'bypass' });
    e.installPolicy({ id: 'dns-discard', priority: 5, selector: { protocol: 17, remotePorts: { start: 53, end: 53 } }, action: 'discard' });
    e.installPolicy({ id: 'same-prio-second', priority: 10, selector: {}, action: 'discard' });
    assert.deepEqual(e.listPolicies().map((p) => p.id), ['dns-discard', 'late-bypass', 'same-prio-second']);
    assert.deepEqual(e.protectOutbound(inner(), 0), { kind: 'drop', reason: 'policy-discard' });
    assert.deepEqual(e.protectOutbound(udpPacket('10.0.1.5', '10.0.2.7', 1, 54, Buffer.alloc(4)), 0), { kind: 'bypass' });
    assert.deepEqual(e.protectOutbound(tcpPacket('10.0.1.5', '10.0.2.7', 1, 53, Buffer.alloc(4)), 0), {
      kind: 'drop',
      reason: 'policy-discard',
    });
    assert.ok(e.deletePolicy('same-prio-second'));
    assert.ok(!e.deletePolicy('same-prio-second'));
    assert.deepEqual(e.protectOutbound(tcpPacket('10.0.1.5', '10.0.2.7', 1, 53, Buffer.alloc(4)), 0), { kind: 'drop', reason: 'no-policy' });
    const c = e.counters.snapshot();
    assert.equal(c['drop.policy-discard'], 2);
    assert.equal(c['drop.no-policy'], 1);
    assert.equal(c['tx.bypass'], 1);
  });

  test('selectors: address ranges, IPv6, ICMP type/code, fragments without ports', () => {
    const e = createIpsecEngine();
    e.installPolicy({
      id: 'v4-range',
      priority: 1,
      selector: { local: { start: '10.0.1.0', end: '10.0.1.255' }, remote: { start: '10.0.2.0', end: '10.0.2.9' } },
      action: 'bypass',
    });
    e.installPolicy({
      id: 'v6-echo',
      priority: 2,
      selector: { remote: { start: '2001:db8::', end: '2001:db8::ffff' }, protocol: 58, localPorts: { start: 128, end: 128 } },
      action: 'bypass',
    });
    e.installPolicy({ id: 'rest', priority: 3, selector: {}, action: 'discard' });
    assert.equal(e.protectOutbound(inner(), 0).kind, 'bypass');
    assert.equal(e.protectOutbound(udpPacket('10.0.1.5', '10.0.2.10', 1, 2, Buffer.alloc(0)), 0).kind, 'drop');
    assert.equal(e.protectOutbound(udpPacket('10.0.0.255', '10.0.2.9', 1, 2, Buffer.alloc(0)), 0).kind, 'drop');
    assert.equal(e.protectOutbound(icmpPacket('2001:db8:1::1', '2001:db8::5', 128, 0, Buffer.alloc(8)), 0).kind, 'bypass');
    assert.equal(e.protectOutbound(icmpPacket('2001:db8:1::1', '2001:db8::5', 129, 0, Buffer.alloc(8)), 0).kind, 'drop');
    assert.equal(e.protectOutbound(icmpPacket('2001:db8:1::1', '2001:db8:1::5', 128, 0, Buffer.alloc(8)), 0).kind, 'drop');
    // A non-first IPv4 fragment has no ports: a port selector cannot match it.
    const e2 = createIpsecEngine();
    e2.installPolicy({ id: 'dns', priority: 1, selector: { protocol: 17, remotePorts: { start: 53, end: 53 } }, action: 'bypass' });
    e2.installPolicy({ id: 'udp-any', priority: 2, selector: { protocol: 17 }, action: 'discard' });
    const frag = Buffer.from(inner());
    frag[7] = 10; // fragment offset 10 (8-octet units)
    frag.writeUInt16BE(0, 10);
    assert.equal(e2.protectOutbound(inner(), 0).kind, 'bypass');
    assert.deepEqual(e2.protectOutbound(frag, 0), { kind: 'drop', reason: 'policy-discard' });
  });

  test('bad policies are refused with DataPlaneError', () => {
    const e = createIpsecEngine();
    e.installPolicy({ id: 'x', priority: 1, selector: {}, action: 'bypass' });
    const cases: [Policy, string][] = [
      [{ id: 'x', priority: 1, selector: {}, action: 'bypass' }, 'policy-exists'],
      [{ id: 'y', priority: 1, selector: { local: { start: '10.0.0.9', end: '10.0.0.1' } }, action: 'bypass' }, 'bad-policy'],
      [{ id: 'y', priority: 1, selector: { local: { start: '10.0.0.1', end: '::1' } }, action: 'bypass' }, 'bad-policy'],
      [
        { id: 'y', priority: 1, selector: { local: { start: '10.0.0.1', end: '10.0.0.1' }, remote: { start: '::', end: '::1' } }, action: 'bypass' },
        'bad-policy',
      ],
      [{ id: 'y', priority: 1, selector: { localPorts: { start: 1, end: 2 } }, action: 'bypass' }, 'bad-policy'],
      [{ id: 'y', priority: 1, selector: { protocol: 6, localPorts: { start: 9, end: 2 } }, action: 'bypass' }, 'bad-policy'],
      [{ id: 'y', priority: 1, selector: { protocol: 1, localPorts: { start: 0, end: 256 } }, action: 'bypass' }, 'bad-policy'],
      [{ id: 'y', priority: 1, selector: {}, action: 'protect' }, 'bad-policy'],
      [{ id: 'y', priority: 1, selector: {}, action: 'protect', protect: { mode: 'tunnel', remoteTunnel: 'gw' } }, 'bad-policy'],
    ];
    for (const [policy, code] of cases) {
      assert.throws(
        () => e.installPolicy(policy),
        (err: unknown) => err instanceof DataPlaneError && err.code === code,
        JSON.stringify(policy),
      );
    }
    assert.equal(e.listPolicies().length, 1);
  });
});

describe('outbound SA choice and acquire', () => {
  test('PROTECT without SA acquires once per second per policy', () => {
    const e = createIpsecEngine();
    e.installPolicy(protect('p', 1, { protocol: 17 }));
    e.installPolicy(protect('q', 2));
    assert.deepEqual(e.protectOutbound(inner(), 1000), { kind: 'acquire', policyId: 'p' });
    assert.deepEqual(e.protectOutbound(inner(), 1500), { kind: 'drop', reason: 'acquire-pending' });
    assert.deepEqual(e.protectOutbound(inner(), 1999), { kind: 'drop', reason: 'acquire-pending' });
    assert.deepEqual(e.protectOutbound(tcpPacket('10.0.1.5', '10.0.2.7', 1, 2, Buffer.alloc(1)), 1999), { kind: 'acquire', policyId: 'q' });
    assert.deepEqual(e.protectOutbound(inner(), 2000), { kind: 'acquire', policyId: 'p' });
    assert.equal(e.counters.get('tx.acquire'), 3);
    assert.equal(e.counters.get('drop.acquire-pending'), 2);
    const r = createIpsecEngine();
    pair(e, r, 0x1000);
    assert.equal(e.protectOutbound(inner(), 2100).kind, 'send');
  });

  test('the newest outbound SA of a policy is used (make-before-break)', () => {
    const s = createIpsecEngine();
    const r = createIpsecEngine();
    s.installPolicy(protect('p', 1));
    pair(s, r, 0x1000);
    assert.equal(sent(s.protectOutbound(inner(), 0)).readUInt32BE(0), 0x1000);
    pair(s, r, 0x2000);
    assert.equal(sent(s.protectOutbound(inner(), 0)).readUInt32BE(0), 0x2000);
    // Updating the old SA does not make it the newest.
    s.updateSa(saConfig({ spi: 0x1000, direction: 'out', localAddress: A, remoteAddress: B, policyId: 'p' }), 0);
    assert.equal(sent(s.protectOutbound(inner(), 0)).readUInt32BE(0), 0x2000);
    assert.ok(s.deleteSa('out', 0x2000));
    assert.ok(!s.deleteSa('out', 0x2000));
    assert.equal(sent(s.protectOutbound(inner(), 0)).readUInt32BE(0), 0x1000);
    assert.ok(s.deleteSa('out', 0x1000));
    assert.equal(s.protectOutbound(inner(), 0).kind, 'acquire');
  });

  test('install errors', () => {
    const e = createIpsecEngine();
    const ok = saConfig({ spi: 0x1234, direction: 'in' });
    e.installSa(ok, 0);
    const is = (code: string) => (err: unknown) => err instanceof DataPlaneError && err.code === code;
    assert.throws(() => e.installSa(ok, 0), is('sa-exists'));
    e.installSa({ ...ok, direction: 'out' }, 0); // same SPI, other direction: fine
    assert.throws(() => e.installSa({ ...ok, spi: 255 }, 0), is('bad-sa'));
    assert.throws(() => e.installSa({ ...ok, spi: 2 ** 32 }, 0), is('bad-sa'));
    assert.throws(() => e.installSa({ ...ok, spi: 0x99, localAddress: 'x' }, 0), is('bad-sa'));
    assert.throws(() => e.installSa({ ...ok, spi: 0x999, remoteAddress: '::1' }, 0), is('bad-sa'));
    assert.throws(() => e.installSa({ ...ok, spi: 0x999, replayWindow: 5 }, 0), is('bad-sa'));
    assert.throws(() => e.installSa({ ...ok, spi: 0x999, lifetime: { soft: { bytes: -1 }, hard: {} } }, 0), is('bad-sa'));
    const shortKey = { ...ok.encryption, keyMaterial: new Uint8Array(16) };
    assert.throws(() => e.installSa({ ...ok, spi: 0x999, encryption: shortKey }, 0), /20 bytes of key material/);
    const nullEnc = { id: ENCR.NULL, keyBits: 0, keyMaterial: new Uint8Array(0) };
    const integ = { id: INTEG.HMAC_SHA2_256_128, key: new Uint8Array(32) };
    assert.throws(() => e.installSa({ ...ok, spi: 0x999, encryption: nullEnc, integrity: integ }, 0), /test/);
    e.installSa({ ...ok, spi: 0x999, encryption: nullEnc, integrity: integ, allowTestOnlyAlgorithms: true }, 0);
    const cbc = { id: ENCR.AES_CBC, keyBits: 128, keyMaterial: new Uint8Array(16) };
    assert.throws(() => e.installSa({ ...ok, spi: 0x998, encryption: cbc }, 0), /integrity/);
    assert.throws(() => e.installSa({ ...ok, spi: 0x997, integrity: integ }, 0), /AEAD/);
    assert.throws(() => e.updateSa({ ...ok, spi: 0x4321 }, 0), is('sa-not-found'));
    assert.throws(() => e.updateSa({ ...ok, esn: true }, 0), is('bad-sa'));
    assert.throws(() => createIpsecEngine({ defaultReplayWindow: 32 }), DataPlaneError);
    assert.equal(e.listSas().length, 3);
  });
});

describe('inbound processing', () => {
  test('drop reasons in RFC order', () => {
    const s = createIpsecEngine();
    const r = createIpsecEngine();
    s.installPolicy(protect('p', 1));
    const cfg = pair(s, r, 0x1000);
    const esp = sent(s.protectOutbound(inner(), 0));
    const drop = (reason: string) => ({ kind: 'drop', reason });
    assert.deepEqual(r.processInbound(esp.subarray(0, 7), 0), drop('truncated'));
    assert.deepEqual(r.processInbound(esp.subarray(0, 8 + 8 + 16 + 1), 0), drop('truncated'));
    const unknown = Buffer.from(esp);
    unknown.writeUInt32BE(0x1001, 0);
    assert.deepEqual(r.processInbound(unknown, 0), drop('unknown-spi'));
    const forged = Buffer.from(esp);
    forged[20]! ^= 0x80;
    assert.deepEqual(r.processInbound(forged, 0), drop('auth'));
    assert.equal(r.processInbound(esp, 0).kind, 'deliver');
    assert.deepEqual(r.processInbound(esp, 0), drop('replay'));

    // Hand-sealed packets with the same keys: valid ICV, bad content.
    const c = createSaCrypto(cfg);
    const seal = (payload: Uint8Array, nh: number, seq: number) => espSeal(c, payload, nh, 0, seq);
    assert.deepEqual(r.processInbound(seal(new Uint8Array(0), 59, 10), 0), drop('dummy'));
    assert.deepEqual(r.processInbound(seal(inner(), 6, 11), 0), drop('bad-next-header'));
    assert.deepEqual(r.processInbound(seal(inner(), 41, 12), 0), drop('bad-next-header'));
    assert.deepEqual(r.processInbound(seal(Buffer.from('not an ip packet'), 4, 13), 0), drop('inner-malformed'));
    // Padding must be 1, 2, 3, ... (RFC 4303 §2.4). Seal by hand: payload | pad | 2 | 4.
    const manualSeal = (pad: number[], seq: number) => {
      const hdr = Buffer.alloc(8);
      hdr.writeUInt32BE(0x1000, 0);
      hdr.writeUInt32BE(seq, 4);
      const iv = Buffer.alloc(8);
      iv.writeUInt32BE(seq, 4);
      const pt = Buffer.concat([inner(), Buffer.from([...pad, pad.length, 4])]);
      return Buffer.concat([hdr, iv, c.enc.encrypt(iv, hdr, pt)]);
    };
    assert.deepEqual(r.processInbound(manualSeal([9, 9], 14), 0), drop('padding'));
    assert.deepEqual(r.processInbound(manualSeal([2, 1], 15), 0), drop('padding'));
    assert.equal(r.processInbound(manualSeal([1, 2], 16), 0).kind, 'deliver', 'the hand-sealed format itself is right');
    const counters = r.counters.snapshot();
    for (const reason of ['truncated', 'unknown-spi', 'auth', 'replay', 'dummy', 'bad-next-header', 'inner-malformed', 'padding']) {
      assert.ok((counters[`drop.${reason}`] ?? 0) >= 1, reason);
    }
    const st = r.listSas()[0]!;
    assert.equal(st.counters.authFailures, 1);
    assert.equal(st.counters.replayDrops, 1);
  });

  test('selector check after decryption (RFC 4301 §5.2)', () => {
    const s = createIpsecEngine();
    const r = createIpsecEngine();
    s.installPolicy(protect('p', 1));
    // The sender's SA allows anything; the receiver's only 10.0.1.0/24 -> 10.0.2.0/24 UDP to 53.
    const out = saConfig({ spi: 0x1000, direction: 'out', localAddress: A, remoteAddress: B, policyId: 'p' });
    s.installSa(out, 0);
    r.installSa(
      mirror(out, {
        selector: {
          local: { start: '10.0.2.0', end: '10.0.2.255' },
          remote: { start: '10.0.1.0', end: '10.0.1.255' },
          protocol: 17,
          localPorts: { start: 53, end: 53 },
        },
      }),
      0,
    );
    assert.equal(r.processInbound(sent(s.protectOutbound(inner(), 0)), 0).kind, 'deliver');
    const outside = [
      udpPacket('10.0.3.5', '10.0.2.7', 1, 53, Buffer.alloc(1)),
      udpPacket('10.0.1.5', '10.0.9.7', 1, 53, Buffer.alloc(1)),
      udpPacket('10.0.1.5', '10.0.2.7', 53, 54, Buffer.alloc(1)),
      tcpPacket('10.0.1.5', '10.0.2.7', 1, 53, Buffer.alloc(1)),
      udpPacket('2001:db8::1', '2001:db8::2', 1, 53, Buffer.alloc(1)),
    ];
    for (const p of outside) assert.deepEqual(r.processInbound(sent(s.protectOutbound(p, 0)), 0), { kind: 'drop', reason: 'selector' });
    assert.equal(r.counters.get('drop.selector'), outside.length);
  });

  test('a forged packet with a high sequence number does not move the window', () => {
    const s = createIpsecEngine();
    const r = createIpsecEngine();
    s.installPolicy(protect('p', 1));
    pair(s, r, 0x1000, { replayWindow: 64 });
    const first = sent(s.protectOutbound(inner(1), 0));
    const hooks = engineTestHooks(s);
    hooks.setLastSentSequence(0x1000, 0, 999);
    const later = sent(s.protectOutbound(inner(2), 0));
    const forged = Buffer.from(later);
    forged[forged.length - 1]! ^= 1;
    assert.deepEqual(r.processInbound(forged, 0), { kind: 'drop', reason: 'auth' });
    assert.deepEqual(engineTestHooks(r).replayTop(0x1000), [0, 0]);
    // Seq 1 is far outside a window anchored at 1000, yet still accepted: nothing moved.
    assert.equal(r.processInbound(first, 0).kind, 'deliver');
    assert.equal(r.processInbound(later, 0).kind, 'deliver');
    assert.deepEqual(engineTestHooks(r).replayTop(0x1000), [0, 1000]);
  });

  test('ESN rollover across 2^32 end to end, with reordering and replays', () => {
    for (const suite of ['gcm', 'cbc'] as const) {
      const s = createIpsecEngine();
      const r = createIpsecEngine();
      s.installPolicy(protect('p', 1));
      const over: Partial<SaConfig> =
        suite === 'gcm'
          ? { esn: true, replayWindow: 128 }
          : {
              esn: true,
              replayWindow: 128,
              encryption: { id: ENCR.AES_CBC, keyBits: 256, keyMaterial: Buffer.alloc(32, 7) },
              integrity: { id: INTEG.HMAC_SHA2_256_128, key: Buffer.alloc(32, 9) },
            };
      pair(s, r, 0x1000, over);
      engineTestHooks(s).setLastSentSequence(0x1000, 0, TWO_32 - 6);
      const packets = Array.from({ length: 12 }, (_, i) => sent(s.protectOutbound(inner(i), 0)));
      // Low halves on the wire: ...fffa .. ffff, then 0, 1, ... (ESN high half not sent).
      assert.deepEqual(
        packets.map((p) => p.readUInt32BE(4)),
        [TWO_32 - 5, TWO_32 - 4, TWO_32 - 3, TWO_32 - 2, TWO_32 - 1, 0, 1, 2, 3, 4, 5, 6],
      );
      const order = [0, 1, 6, 2, 7, 5, 3, 4, 11, 8, 10, 9];
      for (const i of order) assert.equal(r.processInbound(packets[i]!, 0).kind, 'deliver', `${suite} packet ${i}`);
      assert.deepEqual(engineTestHooks(r).replayTop(0x1000), [1, 6]);
      for (const i of [0, 4, 5, 11]) assert.deepEqual(r.processInbound(packets[i]!, 0), { kind: 'drop', reason: 'replay' });
      // Without ESN the same counter would have stopped at 2^32-1.
    }
  });

  test('transport mode IPv4 and IPv6: header rebuilt from the SA addresses', () => {
    for (const [local, remote] of [
      ['192.0.2.10', '192.0.2.20'],
      ['2001:db8::10', '2001:db8::20'],
    ] as const) {
      const s = createIpsecEngine();
      const r = createIpsecEngine();
      s.installPolicy({ id: 'p', priority: 1, selector: {}, action: 'protect', protect: { mode: 'transport', remoteTunnel: remote } });
      const out = saConfig({ spi: 0x1000, direction: 'out', mode: 'transport', localAddress: local, remoteAddress: remote, policyId: 'p' });
      s.installSa(out, 0);
      r.installSa(mirror(out), 0);
      const p = tcpPacket(local, remote, 1234, 80, Buffer.from('GET /'));
      const got = r.processInbound(sent(s.protectOutbound(p, 0)), 0);
      assert.equal(got.kind, 'deliver');
      if (got.kind !== 'deliver') continue;
      const hl = local.includes(':') ? 40 : 20;
      assert.equal(got.packet.subarray(hl).toString('hex'), p.subarray(hl).toString('hex'));
      assert.equal(got.packet.length, p.length);
      // A fragment cannot be sent in transport mode.
      if (hl === 20) {
        const frag = Buffer.from(p);
        frag[6] = 0x20; // MF
        assert.deepEqual(s.protectOutbound(frag, 0), { kind: 'drop', reason: 'transport-fragment' });
      }
    }
  });
});

describe('lifetimes and sequence exhaustion', () => {
  test('packet and byte limits: soft fires once, hard removes the SA', () => {
    const s = createIpsecEngine();
    const r = createIpsecEngine();
    s.installPolicy(protect('p', 1));
    const p = inner();
    pair(s, r, 0x1000, { lifetime: { soft: { packets: 3 }, hard: { packets: 5 } } });
    const esps: Buffer[] = [];
    for (let i = 0; i < 2; i++) esps.push(sent(s.protectOutbound(p, 10)));
    assert.deepEqual(s.tick(10), []);
    esps.push(sent(s.protectOutbound(p, 11)));
    assert.deepEqual(s.tick(12), [{ type: 'soft-expire', spi: 0x1000, direction: 'out', atMs: 11 }]);
    esps.push(sent(s.protectOutbound(p, 13)));
    assert.deepEqual(s.tick(13), [], 'soft fires once');
    assert.equal(s.listSas()[0]!.softExpired, true);
    esps.push(sent(s.protectOutbound(p, 14)));
    assert.deepEqual(s.tick(15), [{ type: 'hard-expire', spi: 0x1000, direction: 'out', atMs: 14 }]);
    assert.deepEqual(s.listSas(), []);
    assert.equal(s.protectOutbound(p, 16).kind, 'acquire');
    // The receiver counts the same way on its side.
    for (const e of esps) assert.equal(r.processInbound(e, 20).kind, 'deliver');
    const events = r.tick(21);
    assert.deepEqual(
      events.map((e) => e.type),
      ['soft-expire', 'hard-expire'],
    );
    assert.deepEqual(r.listSas(), []);

    // Bytes: inner bytes (the protected payload) count.
    const s2 = createIpsecEngine();
    s2.installPolicy(protect('p', 1));
    pair(s2, createIpsecEngine(), 0x2000, { lifetime: { soft: { bytes: p.length * 2 }, hard: { bytes: p.length * 3 + 1 } } });
    sent(s2.protectOutbound(p, 0));
    assert.deepEqual(s2.tick(0), []);
    sent(s2.protectOutbound(p, 0));
    assert.deepEqual(s2.tick(0).map((e) => e.type), ['soft-expire']);
    sent(s2.protectOutbound(p, 0));
    assert.deepEqual(s2.tick(0), []);
    assert.equal(s2.listSas()[0]!.counters.bytes, p.length * 3);
    sent(s2.protectOutbound(p, 0));
    assert.deepEqual(s2.tick(0).map((e) => e.type), ['hard-expire']);
  });

  test('time limits run from install (and restart on update)', () => {
    const e = createIpsecEngine();
    e.installSa(saConfig({ spi: 0x1000, direction: 'in', lifetime: { soft: { seconds: 10 }, hard: { seconds: 15 } } }), 1000);
    assert.deepEqual(e.tick(10_999), []);
    assert.deepEqual(e.tick(11_000), [{ type: 'soft-expire', spi: 0x1000, direction: 'in', atMs: 11_000 }]);
    assert.deepEqual(e.tick(12_000), []);
    // Renewal: a new lifetime counts from the update.
    e.updateSa(saConfig({ spi: 0x1000, direction: 'in', lifetime: { soft: { seconds: 10 }, hard: { seconds: 15 } } }), 12_000);
    assert.equal(e.listSas()[0]!.softExpired, false);
    assert.deepEqual(e.tick(16_000), []);
    assert.deepEqual(e.tick(22_000).map((x) => x.type), ['soft-expire']);
    assert.deepEqual(e.tick(27_000), [{ type: 'hard-expire', spi: 0x1000, direction: 'in', atMs: 27_000 }]);
    assert.equal(e.listSas().length, 0);
    assert.equal(e.counters.get('sa.hard-expire'), 1);
  });

  test('a hard time limit applies on the packet path even before tick runs', () => {
    const s = createIpsecEngine();
    const r = createIpsecEngine();
    s.installPolicy(protect('p', 1));
    pair(s, r, 0x1000, { lifetime: { soft: {}, hard: { seconds: 1 } } });
    const esp = sent(s.protectOutbound(inner(), 500));
    assert.deepEqual(r.processInbound(esp, 1000), { kind: 'drop', reason: 'sa-expired' });
    assert.equal(s.protectOutbound(inner(), 1000).kind, 'acquire');
    assert.deepEqual(s.tick(1000).map((e) => e.type), ['hard-expire']);
  });

  test('sequence exhaustion: 2^32-1 is the last without ESN, 2^64-1 with', () => {
    for (const esn of [false, true]) {
      const s = createIpsecEngine();
      const r = createIpsecEngine();
      s.installPolicy(protect('p', 1));
      pair(s, r, 0x1000, { esn });
      const high = esn ? 0xffff_ffff : 0;
      engineTestHooks(s).setLastSentSequence(0x1000, high, 0xffff_fffd);
      const a = sent(s.protectOutbound(inner(), 0));
      const b = sent(s.protectOutbound(inner(), 0));
      assert.equal(b.readUInt32BE(4), 0xffff_ffff);
      assert.deepEqual(s.protectOutbound(inner(), 0), { kind: 'drop', reason: 'seq-exhausted' });
      assert.deepEqual(s.protectOutbound(inner(), 0), { kind: 'drop', reason: 'seq-exhausted' });
      assert.equal(s.counters.get('drop.seq-exhausted'), 2);
      assert.deepEqual(s.tick(0), [{ type: 'soft-expire', spi: 0x1000, direction: 'out', atMs: 0 }], 'rekey requested once');
      // The receiver accepts the last legal numbers (its window starts far below).
      if (!esn) {
        assert.equal(r.processInbound(a, 0).kind, 'deliver');
        assert.equal(r.processInbound(b, 0).kind, 'deliver');
      }
    }
  });
});
