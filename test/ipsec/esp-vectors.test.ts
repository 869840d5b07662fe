// Published ESP packets, decrypted and re-encrypted byte for byte:
// - RFC 7634 Appendix A (ChaCha20-Poly1305, tunnel mode, complete IPv4 packet),
// - draft-mcgrew-gcm-test-01 §4 (AES-GCM, 32-bit and 64-bit ESN sequence numbers),
// - RFC 3602 §4 cases 5-8 (AES-CBC ESP packets, transport and tunnel mode).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ENCR } from '../../src/crypto/types.js';
import { createSaCrypto } from '../../src/ipsec/sa-crypto.js';
import { espSeal } from '../../src/ipsec/esp-out.js';
import { espOpen, espLengthProblem } from '../../src/ipsec/esp-in.js';
import { createIpsecEngine, engineTestHooks } from '../../src/ipsec/engine.js';
import { parseEspTrailer } from '../../src/wire/esp.js';
import { decodeIpv4Header, writeIpv4Header } from '../../src/wire/ipv4.js';
import { parseIp, formatIp } from '../../src/wire/address.js';
import { hex, loadVectors, saConfig } from './helpers.js';

interface GcmCase {
  name: string;
  key: string;
  spi: string;
  seq: string;
  nonce: string;
  plaintext: string;
  aad: string;
  ctextTag: string;
  packet: string;
}

interface ChachaCase {
  name: string;
  keyMaterial: string;
  spi: string;
  seq: number;
  localGateway: string;
  peerGateway: string;
  nonce: string;
  sourcePacket: string;
  plaintext: string;
  ciphertext: string;
  aad: string;
  tag: string;
  espPacket: string;
}

interface CbcCase {
  name: string;
  mode: 'transport' | 'tunnel';
  key: string;
  spi: string;
  source: string;
  destination: string;
  seq: number;
  iv: string;
  originalIpHeader: string;
  data: string;
  nextHeader: string;
  preEncryption: string;
  postIpHeader: string;
  spiSeq: string;
  encrypted: string;
}

// The outer IPv4 header a raw-ESP sender writes: identification, TTL and flags of the
// vector's packet (whose header starts `vectorPacket`), our length, protocol 50, checksum.
function rebuildOuterHeader(vectorPacket: Uint8Array, espLength: number): Buffer {
  const h = decodeIpv4Header(vectorPacket);
  const out = Buffer.alloc(20);
  writeIpv4Header(out, 0, {
    totalLength: 20 + espLength,
    identification: h.identification,
    dontFragment: h.dontFragment,
    ttl: h.ttl,
    protocol: 50,
    src: h.src,
    dst: h.dst,
    dscp: h.dscp,
    ecn: h.ecn,
  });
  return out;
}

describe('draft-mcgrew-gcm-test-01 AES-GCM ESP packets', () => {
  const vectors = loadVectors<GcmCase>('esp-aes-gcm.json');
  assert.equal(vectors.cases.length, 16);
  for (const v of vectors.cases) {
    test(v.name, () => {
      const key = hex(v.key);
      const nonce = hex(v.nonce);
      const packet = hex(v.packet);
      const esn = v.seq.length === 16;
      const seqHigh = esn ? parseInt(v.seq.slice(0, 8), 16) : 0;
      const seqLow = parseInt(v.seq.slice(-8), 16);
      const spi = parseInt(v.spi, 16);
      // RFC 4106 §4: nonce = salt || explicit IV; §8.1: key material = key || salt.
      const salt = nonce.subarray(0, 4);
      const iv = nonce.subarray(4);
      const c = createSaCrypto(
        saConfig({
          spi, // createSaCrypto does not police the SPI range (installSa does): case 4 uses SPI 0
          direction: 'in',
          esn,
          encryption: { id: ENCR.AES_GCM_16, keyBits: key.length * 8, keyMaterial: Buffer.concat([key, salt]) },
        }),
      );
      // The AAD the vector lists is what the SA authenticates: SPI || [seq high ||] seq low.
      assert.equal(hex(v.aad).length, esn ? 12 : 8);
      assert.equal(espLengthProblem(c, packet.length), null);
      const plaintext = espOpen(c, packet, seqHigh);
      assert.ok(plaintext !== null, 'ICV must verify');
      assert.equal(plaintext.toString('hex'), v.plaintext);
      const trailer = parseEspTrailer(plaintext);
      const payload = plaintext.subarray(0, trailer.payloadLength);
      if (spi === 0) {
        // RFC 4303 §2.1: SPI 0 is never sent; this vector can only be decrypted.
        assert.throws(() => espSeal(c, payload, trailer.nextHeader, seqHigh, seqLow, iv), RangeError);
      } else {
        const sealed = espSeal(c, payload, trailer.nextHeader, seqHigh, seqLow, iv);
        assert.equal(sealed.toString('hex'), v.packet);
      }
      // Wrong ESN high half, a flipped ciphertext bit, a flipped tag bit: all rejected.
      if (esn) assert.equal(espOpen(c, packet, (seqHigh + 1) >>> 0), null);
      for (const at of [16, packet.length - 1, 5]) {
        const bad = Buffer.from(packet);
        bad[at]! ^= 0x01;
        assert.equal(espOpen(c, bad, seqHigh), null, `flip at ${at}`);
      }
    });
  }
});

describe('RFC 7634 Appendix A ChaCha20-Poly1305 ESP packet', () => {
  const v = loadVectors<ChachaCase>('esp-chacha20-poly1305.json').cases[0]!;
  const packet = hex(v.espPacket);
  const esp = packet.subarray(20);
  const spi = parseInt(v.spi, 16);
  const iv = hex(v.nonce).subarray(4);
  const keyMaterial = hex(v.keyMaterial);
  const common = {
    spi,
    mode: 'tunnel' as const,
    encryption: { id: ENCR.CHACHA20_POLY1305, keyBits: 256, keyMaterial },
    esn: false,
  };

  test('ESP layer: decrypts to the plaintext and re-encrypts to the same bytes', () => {
    const c = createSaCrypto(saConfig({ ...common, direction: 'in' }));
    const plaintext = espOpen(c, esp, 0);
    assert.ok(plaintext !== null);
    assert.equal(plaintext.toString('hex'), v.plaintext);
    const t = parseEspTrailer(plaintext);
    assert.equal(t.nextHeader, 4);
    const sealed = espSeal(c, plaintext.subarray(0, t.payloadLength), t.nextHeader, 0, v.seq, iv);
    assert.equal(sealed.toString('hex'), esp.toString('hex'));
    assert.equal(sealed.subarray(16, sealed.length - 16).toString('hex'), v.ciphertext);
    assert.equal(sealed.subarray(sealed.length - 16).toString('hex'), v.tag);
  });

  test('engine: the source packet goes out as the complete ESP packet and comes back', () => {
    const now = 1_000;
    const sender = createIpsecEngine();
    sender.installPolicy({
      id: 'p',
      priority: 1,
      selector: {},
      action: 'protect',
      protect: { mode: 'tunnel', localTunnel: v.localGateway, remoteTunnel: v.peerGateway },
    });
    sender.installSa(
      saConfig({ ...common, direction: 'out', localAddress: v.localGateway, remoteAddress: v.peerGateway, policyId: 'p' }),
      now,
    );
    const hooks = engineTestHooks(sender);
    hooks.setLastSentSequence(spi, 0, v.seq - 1); // "The next sequence number is 5"
    hooks.forceIv(spi, iv);
    const out = sender.protectOutbound(hex(v.sourcePacket), now);
    assert.equal(out.kind, 'send');
    if (out.kind !== 'send') return;
    assert.equal(out.esp.toString('hex'), esp.toString('hex'));
    assert.equal(out.localAddress, v.localGateway);
    assert.equal(out.remoteAddress, v.peerGateway);
    const outer = rebuildOuterHeader(packet, out.esp.length);
    const full = Buffer.concat([outer, out.esp]);
    assert.equal(formatIp(decodeIpv4Header(full).src), out.localAddress);
    assert.equal(full.toString('hex'), v.espPacket);

    const receiver = createIpsecEngine();
    receiver.installSa(saConfig({ ...common, direction: 'in', localAddress: v.peerGateway, remoteAddress: v.localGateway }), now);
    const got = receiver.processInbound(esp, now);
    assert.equal(got.kind, 'deliver');
    if (got.kind === 'deliver') assert.equal(got.packet.toString('hex'), v.sourcePacket);
    // The same packet again is a replay.
    assert.deepEqual(receiver.processInbound(esp, now), { kind: 'drop', reason: 'replay' });
  });
});

describe('RFC 3602 AES-CBC ESP packets (encryption only, test-only SA)', () => {
  const vectors = loadVectors<CbcCase>('esp-aes-cbc.json');
  for (const v of vectors.cases) {
    test(v.name, () => {
      const spi = parseInt(v.spi, 16);
      const iv = hex(v.iv);
      const expectedEsp = Buffer.concat([hex(v.spiSeq), iv, hex(v.encrypted)]);
      const original = Buffer.concat([hex(v.originalIpHeader), hex(v.data)]);
      const common = {
        spi,
        mode: v.mode,
        encryption: { id: ENCR.AES_CBC, keyBits: 128, keyMaterial: hex(v.key) },
        allowTestOnlyAlgorithms: true,
        esn: false,
      };
      // Without the opt-in, encryption-only ESP is refused.
      assert.throws(() => createSaCrypto(saConfig({ ...common, direction: 'in', allowTestOnlyAlgorithms: false })), /integrity/);

      // ESP layer.
      const c = createSaCrypto(saConfig({ ...common, direction: 'out' }));
      const payload = v.mode === 'tunnel' ? original : hex(v.data);
      const sealed = espSeal(c, payload, parseInt(v.nextHeader, 16), 0, v.seq, iv);
      assert.equal(sealed.toString('hex'), expectedEsp.toString('hex'));
      assert.equal(espOpen(c, expectedEsp, 0)!.toString('hex'), v.preEncryption);

      // Engine, outbound: whole original IP packet in, the RFC's ESP packet out.
      const now = 5;
      const sender = createIpsecEngine();
      sender.installPolicy({ id: 'p', priority: 0, selector: {}, action: 'protect', protect: { mode: v.mode, remoteTunnel: v.destination } });
      sender.installSa(saConfig({ ...common, direction: 'out', localAddress: v.source, remoteAddress: v.destination, policyId: 'p' }), now);
      const hooks = engineTestHooks(sender);
      hooks.setLastSentSequence(spi, 0, v.seq - 1);
      hooks.forceIv(spi, iv);
      const out = sender.protectOutbound(original, now);
      assert.equal(out.kind, 'send');
      if (out.kind !== 'send') return;
      assert.equal(out.esp.toString('hex'), expectedEsp.toString('hex'));
      if (v.mode === 'transport') {
        // Transport mode keeps the original header, protocol 50, new length (RFC 4303 §3.1.1).
        assert.equal(rebuildOuterHeader(original, out.esp.length).toString('hex'), v.postIpHeader);
      }

      // Engine, inbound.
      const receiver = createIpsecEngine();
      receiver.installSa(saConfig({ ...common, direction: 'in', localAddress: v.destination, remoteAddress: v.source }), now);
      const got = receiver.processInbound(expectedEsp, now);
      assert.equal(got.kind, 'deliver');
      if (got.kind !== 'deliver') return;
      if (v.mode === 'tunnel') {
        assert.equal(got.packet.toString('hex'), original.toString('hex'));
      } else {
        // The header is rebuilt from the SA's addresses; the payload is the original one.
        const h = decodeIpv4Header(got.packet);
        assert.deepEqual([formatIp(h.src), formatIp(h.dst), h.protocol], [v.source, v.destination, 1]);
        assert.equal(got.packet.subarray(h.headerLength).toString('hex'), v.data);
        assert.deepEqual(h.src, parseIp(v.source));
      }
    });
  }
});
