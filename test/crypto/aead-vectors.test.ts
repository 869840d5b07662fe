// Known-answer tests for the raw AEAD contexts: RFC 8439 §2.8.2 for ChaCha20-Poly1305
// (ENCR 28) and McGrew-Viega GCM test cases 4/10/16 for AES-GCM (ENCR 18/19/20). In both,
// the 12-byte nonce splits into the 4-byte salt (end of the keying material, RFC 4106 §8.1,
// RFC 7634 §4) and the 8-byte explicit IV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENCR } from '../../src/crypto/types.js';
import { encryptionTransform } from '../../src/crypto/registry.js';
import { field, hex, loadVectors, type VectorFile } from './vectors.js';

interface ChachaCase {
  name: string;
  keyHex: string;
  constantHex: string;
  ivHex: string;
  aadHex: string;
  ciphertextHex: string;
  tagHex: string;
  [k: string]: unknown;
}
interface GcmCase {
  testCase: number;
  keyHex: string;
  ivHex: string;
  plaintextHex: string;
  aadHex: string;
  ciphertextHex: string;
  tagHex: string;
}

const chacha = loadVectors<VectorFile<ChachaCase>>('crypto-chacha20-poly1305-rfc8439.json');
const gcm = loadVectors<VectorFile<GcmCase>>('crypto-aes-gcm-mcgrew-viega.json');

test('RFC 8439 §2.8.2 AEAD_CHACHA20_POLY1305 through ENCR_CHACHA20_POLY1305 (salt = constant)', () => {
  const c = chacha.cases[0]!;
  const t = encryptionTransform(ENCR.CHACHA20_POLY1305);
  const keyMaterial = Buffer.concat([hex(c.keyHex), hex(c.constantHex)]);
  assert.equal(keyMaterial.length, t.keyMaterialBytes);
  const ctx = t.createContext(keyMaterial);
  const pt = field(c, 'plaintext');
  const expected = Buffer.concat([hex(c.ciphertextHex), hex(c.tagHex)]);
  const sealed = ctx.encrypt(hex(c.ivHex), hex(c.aadHex), pt);
  assert.equal(sealed.toString('hex'), expected.toString('hex'));
  assert.deepEqual(ctx.decrypt(hex(c.ivHex), hex(c.aadHex), expected), pt);
});

const GCM_IDS = { 8: ENCR.AES_GCM_8, 12: ENCR.AES_GCM_12, 16: ENCR.AES_GCM_16 } as const;

test('GCM spec test cases 4, 10, 16 through ENCR_AES_GCM_16, _12 and _8 (ICV = leading tag bytes)', () => {
  assert.deepEqual(
    gcm.cases.map((c) => c.testCase),
    [4, 10, 16],
  );
  for (const c of gcm.cases) {
    const key = hex(c.keyHex);
    const nonce = hex(c.ivHex);
    const salt = nonce.subarray(0, 4);
    const iv = nonce.subarray(4);
    const pt = hex(c.plaintextHex);
    const aad = hex(c.aadHex);
    const tag = hex(c.tagHex);
    for (const icvBytes of [16, 12, 8] as const) {
      const t = encryptionTransform(GCM_IDS[icvBytes], key.length * 8);
      assert.equal(t.icvBytes, icvBytes);
      const ctx = t.createContext(Buffer.concat([key, salt]));
      // NIST SP 800-38D §5.2.1.2: a shorter tag is the leading bits of the full tag.
      const expected = Buffer.concat([hex(c.ciphertextHex), tag.subarray(0, icvBytes)]);
      const sealed = ctx.encrypt(iv, aad, pt);
      assert.equal(sealed.toString('hex'), expected.toString('hex'), `test case ${c.testCase} ${t.name}`);
      assert.deepEqual(ctx.decrypt(iv, aad, expected), pt, `test case ${c.testCase} ${t.name} decrypt`);
    }
  }
});

test('AEAD known answers fail closed: any bit flipped in ciphertext, ICV, AAD or IV gives null', () => {
  const c = gcm.cases[0]!;
  const nonce = hex(c.ivHex);
  const ctx = encryptionTransform(ENCR.AES_GCM_16, 128).createContext(Buffer.concat([hex(c.keyHex), nonce.subarray(0, 4)]));
  const iv = nonce.subarray(4);
  const aad = hex(c.aadHex);
  const sealed = Buffer.concat([hex(c.ciphertextHex), hex(c.tagHex)]);
  for (let bit = 0; bit < sealed.length * 8; bit += 13) {
    const bad = Buffer.from(sealed);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(ctx.decrypt(iv, aad, bad), null, `ciphertext bit ${bit}`);
  }
  for (let bit = 0; bit < aad.length * 8; bit += 5) {
    const bad = Buffer.from(aad);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(ctx.decrypt(iv, bad, sealed), null, `aad bit ${bit}`);
  }
  for (let bit = 0; bit < 64; bit += 3) {
    const bad = Buffer.from(iv);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(ctx.decrypt(bad, aad, sealed), null, `iv bit ${bit}`);
  }
});
