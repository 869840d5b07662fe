// RFC 2202 §3: HMAC-SHA-1 test cases, as PRF_HMAC_SHA1 (full 160-bit output) and, where
// the key has the RFC 2404 length of 20 bytes, as AUTH_HMAC_SHA1_96 (first 96 bits).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INTEG, PRF } from '../../src/crypto/types.js';
import { integrityTransform, prfTransform } from '../../src/crypto/registry.js';
import { field, hex, loadVectors, type VectorFile } from './vectors.js';

interface Sha1Case {
  testCase: number;
  digestHex: string;
  digest96Hex?: string;
  [k: string]: unknown;
}

const vectors = loadVectors<VectorFile<Sha1Case>>('crypto-hmac-sha1-rfc2202.json');

test('RFC 2202 HMAC-SHA-1 test cases 1-7 through PRF_HMAC_SHA1', () => {
  assert.equal(vectors.cases.length, 7);
  const prf = prfTransform(PRF.HMAC_SHA1);
  for (const c of vectors.cases) {
    const got = prf.compute(field(c, 'key'), field(c, 'data'));
    assert.equal(got.toString('hex'), hex(c.digestHex).toString('hex'), `test case ${c.testCase}`);
  }
});

test('RFC 2202 cases with 20-byte keys through AUTH_HMAC_SHA1_96 (RFC 2404: ICV = first 96 bits)', () => {
  const integ = integrityTransform(INTEG.HMAC_SHA1_96);
  assert.equal(integ.keyBytes, 20);
  assert.equal(integ.icvBytes, 12);
  let checked = 0;
  for (const c of vectors.cases) {
    const key = field(c, 'key');
    if (key.length !== integ.keyBytes) continue;
    const ctx = integ.createContext(key);
    const data = field(c, 'data');
    const icv = ctx.compute(data);
    assert.deepEqual(icv, hex(c.digestHex).subarray(0, 12), `test case ${c.testCase}`);
    if (c.digest96Hex !== undefined) assert.deepEqual(icv, hex(c.digest96Hex), `test case ${c.testCase} digest-96`);
    assert.equal(ctx.verify(icv, data), true);
    checked++;
  }
  assert.equal(checked, 3, 'cases 1, 3 and 5 have 20-byte keys');
});
