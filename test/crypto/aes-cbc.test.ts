// RFC 3602 §4: AES-CBC-128 test vectors, cases 1-4 raw and cases 5-8 (ESP packets) as raw
// cipher checks on the encrypted part of the packet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, ENCR } from '../../src/crypto/types.js';
import { encryptionTransform } from '../../src/crypto/registry.js';
import { field, hex, loadVectors, type VectorFile } from './vectors.js';

interface CbcCase {
  case: number;
  keyHex: string;
  espHex?: string;
  payloadHex?: string;
  nextHeader?: number;
  [k: string]: unknown;
}

const vectors = loadVectors<VectorFile<CbcCase>>('crypto-aes-cbc-rfc3602.json');
const aes128 = encryptionTransform(ENCR.AES_CBC, 128);

test('RFC 3602 cases 1-4: encrypt and decrypt', () => {
  const raw = vectors.cases.filter((c) => c.espHex === undefined);
  assert.equal(raw.length, 4);
  for (const c of raw) {
    const ctx = aes128.createContext(hex(c.keyHex));
    const iv = field(c, 'iv');
    const pt = field(c, 'plaintext');
    const ct = field(c, 'ciphertext');
    assert.equal(ctx.encrypt(iv, Buffer.alloc(0), pt).toString('hex'), ct.toString('hex'), `case ${c.case} encrypt`);
    assert.deepEqual(ctx.decrypt(iv, Buffer.alloc(0), ct), pt, `case ${c.case} decrypt`);
  }
});

// RFC 3602 §4 cases 5-8: SPI (4) | sequence (4) | IV (16) | encrypted data. The plaintext is
// the payload followed by the RFC 4303 §2.4 default padding 1, 2, 3, ..., pad length and
// next header, which is what the RFC's "Pre-encryption Data with padding" shows.
test('RFC 3602 cases 5-8 (ESP packets): the encrypted data decrypts to payload + padding and back', () => {
  const esp = vectors.cases.filter((c) => c.espHex !== undefined);
  assert.equal(esp.length, 4);
  for (const c of esp) {
    const packet = hex(c.espHex!);
    const iv = packet.subarray(8, 24);
    const ct = packet.subarray(24);
    const payload = hex(c.payloadHex!);
    const padLength = ct.length - payload.length - 2;
    assert.ok(padLength >= 0 && padLength < 16, `case ${c.case}: sane padding length`);
    const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
    const expected = Buffer.concat([payload, padding, Buffer.from([padLength, c.nextHeader!])]);
    if (typeof c.plaintextHex === 'string') assert.deepEqual(expected, hex(c.plaintextHex), `case ${c.case} RFC plaintext`);
    const ctx = aes128.createContext(hex(c.keyHex));
    assert.equal(ctx.decrypt(iv, Buffer.alloc(0), ct)?.toString('hex'), expected.toString('hex'), `case ${c.case} decrypt`);
    assert.equal(ctx.encrypt(iv, Buffer.alloc(0), expected).toString('hex'), ct.toString('hex'), `case ${c.case} encrypt`);
  }
});

test('AES-CBC refuses misaligned input and wrong IV lengths with CryptoError', () => {
  const ctx = aes128.createContext(Buffer.alloc(16, 1));
  const iv = Buffer.alloc(16);
  for (const bad of [1, 15, 17, 33]) {
    assert.throws(() => ctx.encrypt(iv, Buffer.alloc(0), Buffer.alloc(bad)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.misaligned-input');
    assert.throws(() => ctx.decrypt(iv, Buffer.alloc(0), Buffer.alloc(bad)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.misaligned-input');
  }
  for (const bad of [0, 8, 15, 17]) {
    assert.throws(() => ctx.encrypt(Buffer.alloc(bad), Buffer.alloc(0), Buffer.alloc(16)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-iv-length');
  }
  assert.equal(ctx.encrypt(iv, Buffer.alloc(0), Buffer.alloc(0)).length, 0, 'empty input is aligned');
});
