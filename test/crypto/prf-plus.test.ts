// prf+ (RFC 7296 §2.13) against an independent, written-out HMAC chain:
//   T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), ...
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { CryptoError, PRF } from '../../src/crypto/types.js';
import { prfTransform } from '../../src/crypto/registry.js';
import { prfPlus, PRF_PLUS_MAX_BLOCKS } from '../../src/crypto/prf.js';

const HASH = { [PRF.HMAC_SHA1]: 'sha1', [PRF.HMAC_SHA2_256]: 'sha256', [PRF.HMAC_SHA2_384]: 'sha384', [PRF.HMAC_SHA2_512]: 'sha512' };

// The reference: each Tn written out with node:crypto directly, not through the PRF object.
function referenceChain(hash: string, key: Uint8Array, seed: Uint8Array, blocks: number): Buffer {
  const ts: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let n = 1; n <= blocks; n++) {
    const h = createHmac(hash, key);
    h.update(prev);
    h.update(seed);
    h.update(Buffer.from([n]));
    prev = h.digest();
    ts.push(prev);
  }
  return Buffer.concat(ts);
}

test('prf+ T1 alone is prf(K, S | 0x01)', () => {
  const prf = prfTransform(PRF.HMAC_SHA2_256);
  const key = Buffer.from('key');
  const seed = Buffer.from('seed');
  const t1 = createHmac('sha256', key).update(Buffer.concat([seed, Buffer.from([1])])).digest();
  assert.deepEqual(prfPlus(prf, key, seed, 32), t1);
  assert.deepEqual(prfPlus(prf, key, seed, 10), t1.subarray(0, 10));
});

test('prf+ equals the step-by-step HMAC chain for every PRF, key, seed and length', () => {
  for (const id of [PRF.HMAC_SHA1, PRF.HMAC_SHA2_256, PRF.HMAC_SHA2_384, PRF.HMAC_SHA2_512]) {
    const prf = prfTransform(id);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 120 }),
        fc.integer({ min: 0, max: prf.outputBytes * 6 + 3 }),
        (key, seed, length) => {
          const blocks = Math.ceil(length / prf.outputBytes);
          const expected = referenceChain(HASH[id], key, seed, blocks).subarray(0, length);
          const got = prfPlus(prf, key, seed, length);
          assert.equal(got.length, length);
          assert.deepEqual(got, expected);
        },
      ),
      { numRuns: 150 },
    );
  }
});

test('prf+ is a prefix-stable stream: shorter outputs are prefixes of longer ones', () => {
  const prf = prfTransform(PRF.HMAC_SHA1);
  const long = prfPlus(prf, Buffer.from('K'), Buffer.from('S'), 200);
  for (const n of [0, 1, 19, 20, 21, 40, 199]) assert.deepEqual(prfPlus(prf, Buffer.from('K'), Buffer.from('S'), n), long.subarray(0, n));
});

test('prf+ allows exactly 255 blocks and refuses more (RFC 7296 §2.13)', () => {
  const prf = prfTransform(PRF.HMAC_SHA2_256);
  const key = Buffer.from('k');
  const seed = Buffer.from('s');
  const max = PRF_PLUS_MAX_BLOCKS * prf.outputBytes;
  const out = prfPlus(prf, key, seed, max);
  assert.equal(out.length, max);
  assert.deepEqual(out, referenceChain('sha256', key, seed, 255));
  assert.throws(
    () => prfPlus(prf, key, seed, max + 1),
    (e: unknown) => e instanceof CryptoError && e.code === 'crypto.prf-plus-too-long' && /255/.test(e.message),
  );
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => prfPlus(prf, key, seed, bad), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-argument');
  }
});
