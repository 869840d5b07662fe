// Published ESP packets through the native AEAD context, byte for byte, with the node:crypto
// context as the control: draft-mcgrew-gcm-test-01 §4 (16 AES-GCM ESP packets, 32-bit
// and 64-bit ESN) and RFC 7634 Appendix A (ChaCha20-Poly1305). The SA's keyed state comes
// from createSaCrypto; only its encryption context is swapped for the one under test, so
// the ESP framing (espSeal / espOpen, in place in the packet buffer) is the production code.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ENCR } from '../../src/crypto/types.js';
import { encryptionTransform } from '../../src/crypto/registry.js';
import { aeadContext } from '../../src/crypto/encr-aead.js';
import { NativeAeadContext } from '../../src/crypto/native-aead.js';
import { createSaCrypto, type SaCrypto } from '../../src/ipsec/sa-crypto.js';
import { espSeal } from '../../src/ipsec/esp-out.js';
import { espOpen } from '../../src/ipsec/esp-in.js';
import { parseEspTrailer } from '../../src/wire/esp.js';
import type { SaConfig } from '../../src/ipsec/types.js';
import { hex, loadVectors } from './vectors.js';

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
  nonce: string;
  plaintext: string;
  ciphertext: string;
  aad: string;
  tag: string;
  espPacket: string;
}

function sa(spi: number, esn: boolean, id: number, keyBits: number, keyMaterial: Buffer): SaConfig {
  return {
    spi,
    direction: 'in',
    mode: 'tunnel',
    localAddress: '192.0.2.1',
    remoteAddress: '192.0.2.2',
    encryption: { id, keyBits, keyMaterial },
    esn,
    replayWindow: 64,
    lifetime: { soft: {}, hard: {} },
    selector: {},
  };
}

// The SA's crypto state with its encryption context replaced by the native or node one.
function saCrypto(config: SaConfig, native: boolean): SaCrypto {
  const t = encryptionTransform(config.encryption.id, config.encryption.keyBits);
  const enc = aeadContext(t, config.encryption.keyMaterial, { native });
  assert.equal(enc instanceof NativeAeadContext, native);
  return { ...createSaCrypto(config), enc };
}

for (const native of [true, false]) {
  const label = native ? 'native context' : 'node:crypto context';

  describe(`draft-mcgrew-gcm-test-01 §4 AES-GCM ESP packets, ${label}`, () => {
    const vectors = loadVectors<{ cases: GcmCase[] }>('esp-aes-gcm.json');
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
        // RFC 4106 §8.1: key material = key || salt; §4: nonce = salt || explicit IV.
        const c = saCrypto(sa(spi, esn, ENCR.AES_GCM_16, key.length * 8, Buffer.concat([key, nonce.subarray(0, 4)])), native);
        const plaintext = espOpen(c, packet, seqHigh);
        assert.ok(plaintext !== null, 'ICV must verify');
        assert.equal(plaintext.toString('hex'), v.plaintext);
        // The cipher-level view of the same packet: AAD and ciphertext || tag as listed.
        assert.equal(c.enc.encrypt(nonce.subarray(4), hex(v.aad), hex(v.plaintext)).toString('hex'), v.ctextTag);
        if (spi !== 0) {
          // RFC 4303 §2.1: SPI 0 is never sent (case 4 can only be decrypted).
          const t = parseEspTrailer(plaintext);
          const sealed = espSeal(c, plaintext.subarray(0, t.payloadLength), t.nextHeader, seqHigh, seqLow, nonce.subarray(4));
          assert.equal(sealed.toString('hex'), v.packet);
        }
        if (esn) assert.equal(espOpen(c, packet, (seqHigh + 1) >>> 0), null, 'wrong ESN high half');
        for (const at of [5, 16, packet.length - 1]) {
          const bad = Buffer.from(packet);
          bad[at]! ^= 0x01;
          assert.equal(espOpen(c, bad, seqHigh), null, `flip at ${at}`);
        }
      });
    }
  });

  test(`RFC 7634 Appendix A ChaCha20-Poly1305 ESP packet, ${label}`, () => {
    const v = loadVectors<{ cases: ChachaCase[] }>('esp-chacha20-poly1305.json').cases[0]!;
    const esp = hex(v.espPacket).subarray(20); // after the outer IPv4 header
    const c = saCrypto(sa(parseInt(v.spi, 16), false, ENCR.CHACHA20_POLY1305, 256, hex(v.keyMaterial)), native);
    const plaintext = espOpen(c, esp, 0);
    assert.ok(plaintext !== null);
    assert.equal(plaintext.toString('hex'), v.plaintext);
    const t = parseEspTrailer(plaintext);
    const sealed = espSeal(c, plaintext.subarray(0, t.payloadLength), t.nextHeader, 0, v.seq, hex(v.nonce).subarray(4));
    assert.equal(sealed.toString('hex'), esp.toString('hex'));
    assert.equal(sealed.subarray(16, sealed.length - 16).toString('hex'), v.ciphertext);
    assert.equal(sealed.subarray(sealed.length - 16).toString('hex'), v.tag);
    const bad = Buffer.from(esp);
    bad[bad.length - 1]! ^= 0x40;
    assert.equal(espOpen(c, bad, 0), null);
  });
}
