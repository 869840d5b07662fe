// RFC 4868 §2.7: HMAC-SHA-256/384/512 as PRF (§2.7.1, untruncated) and as truncated
// integrity transforms (§2.7.2, both the full HMAC and the ICV).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INTEG, PRF } from '../../src/crypto/types.js';
import { integrityTransform, prfTransform } from '../../src/crypto/registry.js';
import { field, hex, loadVectors, type VectorFile } from './vectors.js';

interface PrfCase {
  name: string;
  prfHmacSha256: string;
  prfHmacSha384: string;
  prfHmacSha512: string;
  [k: string]: unknown;
}
interface AuthCase {
  name: string;
  hash: 'sha256' | 'sha384' | 'sha512';
  keyHex: string;
  dataHex: string;
  prfHex: string;
  icvHex: string;
}

const prfVectors = loadVectors<VectorFile<PrfCase>>('crypto-prf-hmac-sha2-rfc4868.json');
const authVectors = loadVectors<VectorFile<AuthCase>>('crypto-integ-hmac-sha2-rfc4868.json');

const PRF_BY_FIELD = [
  ['prfHmacSha256', PRF.HMAC_SHA2_256],
  ['prfHmacSha384', PRF.HMAC_SHA2_384],
  ['prfHmacSha512', PRF.HMAC_SHA2_512],
] as const;

test('RFC 4868 §2.7.1 PRF test cases (all six, three hashes)', () => {
  assert.equal(prfVectors.cases.length, 6);
  for (const c of prfVectors.cases) {
    for (const [key, id] of PRF_BY_FIELD) {
      const prf = prfTransform(id);
      const got = prf.compute(field(c, 'key'), field(c, 'data'));
      assert.equal(got.toString('hex'), hex(c[key]).toString('hex'), `${c.name} ${prf.name}`);
      assert.equal(got.length, prf.outputBytes);
    }
  }
});

const INTEG_BY_HASH = { sha256: INTEG.HMAC_SHA2_256_128, sha384: INTEG.HMAC_SHA2_384_192, sha512: INTEG.HMAC_SHA2_512_256 };
const PRF_BY_HASH = { sha256: PRF.HMAC_SHA2_256, sha384: PRF.HMAC_SHA2_384, sha512: PRF.HMAC_SHA2_512 };

test('RFC 4868 §2.7.2 authentication test cases: full HMAC and truncated ICV', () => {
  assert.equal(authVectors.cases.length, 12);
  for (const c of authVectors.cases) {
    const key = hex(c.keyHex);
    const data = hex(c.dataHex);
    const integ = integrityTransform(INTEG_BY_HASH[c.hash]);
    assert.equal(key.length, integ.keyBytes, `${c.name}: RFC key length equals the transform key length`);
    const ctx = integ.createContext(key);
    const icv = ctx.compute(data);
    assert.equal(icv.toString('hex'), hex(c.icvHex).toString('hex'), c.name);
    assert.equal(icv.length, integ.icvBytes);
    assert.equal(ctx.verify(hex(c.icvHex), data), true, `${c.name} verifies`);
    // The same key and data through the PRF give the untruncated value (PRF-HMAC-SHA-xxx).
    const full = prfTransform(PRF_BY_HASH[c.hash]).compute(key, data);
    assert.equal(full.toString('hex'), hex(c.prfHex).toString('hex'), `${c.name} full HMAC`);
  }
});

test('integrity compute over several parts equals compute over their concatenation', () => {
  const c = authVectors.cases[0]!;
  const ctx = integrityTransform(INTEG.HMAC_SHA2_256_128).createContext(hex(c.keyHex));
  const data = hex(c.dataHex);
  assert.deepEqual(ctx.compute(data.subarray(0, 3), data.subarray(3)), hex(c.icvHex));
  assert.equal(ctx.verify(hex(c.icvHex), data.subarray(0, 5), data.subarray(5)), true);
});

test('integrity verify rejects a wrong, truncated or extended ICV', () => {
  for (const c of authVectors.cases) {
    const ctx = integrityTransform(INTEG_BY_HASH[c.hash]).createContext(hex(c.keyHex));
    const data = hex(c.dataHex);
    const icv = hex(c.icvHex);
    for (let bit = 0; bit < icv.length * 8; bit += 7) {
      const bad = Buffer.from(icv);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(ctx.verify(bad, data), false, `${c.name} bit ${bit}`);
    }
    assert.equal(ctx.verify(icv.subarray(0, icv.length - 1), data), false);
    assert.equal(ctx.verify(Buffer.concat([icv, Buffer.from([0])]), data), false);
    assert.equal(ctx.verify(icv, Buffer.concat([data, Buffer.from([0])])), false, 'data changed');
  }
});
