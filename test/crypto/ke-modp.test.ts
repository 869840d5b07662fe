// MODP groups 14/15/16 (RFC 3526): primes against the RFC text, agreement, the exact
// arithmetic of fromPrivate against BigInt, and peer-value validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiffieHellman } from 'node:crypto';
import { CryptoError, KE } from '../../src/crypto/types.js';
import { keyExchangeTransform } from '../../src/crypto/registry.js';
import { hex, loadVectors, type VectorFile } from './vectors.js';

interface ModpCase {
  group: number;
  section: string;
  bits: number;
  generator: number;
  primeRows: string[];
}

const vectors = loadVectors<VectorFile<ModpCase>>('crypto-modp-rfc3526.json');
const invalidPublic = (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-public-value';

function toBig(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
}
function toBytes(x: bigint, len: number): Buffer {
  return Buffer.from(x.toString(16).padStart(len * 2, '0'), 'hex');
}
function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

// The prime as printed in RFC 3526 (rows of the "Its hexadecimal value is:" block).
function rfcPrime(c: ModpCase): Buffer {
  return hex(c.primeRows.join(''));
}

test('RFC 3526 prime hex, as transcribed, has the stated size and shape', () => {
  for (const c of vectors.cases) {
    const p = rfcPrime(c);
    assert.equal(p.length * 8, c.bits, `group ${c.group}`);
    // §3-§5: p = 2^n - 2^(n-64) - 1 + 2^64 * {...}: top and bottom 64 bits all ones.
    assert.equal(p.subarray(0, 8).toString('hex'), 'ffffffffffffffff');
    assert.equal(p.subarray(-8).toString('hex'), 'ffffffffffffffff');
  }
});

test('groups 14, 15, 16 use exactly the RFC 3526 primes with generator 2', () => {
  for (const c of vectors.cases) {
    const ke = keyExchangeTransform(c.group);
    const p = rfcPrime(c);
    assert.equal(ke.publicBytes, p.length, `group ${c.group} KE length = prime length`);
    // g^2 = 4 pins the generator; 2^bits mod p = 2^bits - p (as p > 2^(bits-1)) pins p.
    assert.equal(toBig(ke.fromPrivate(Buffer.from([2])).publicKey), 4n, 'g^2 = 4: generator 2');
    const x = BigInt(c.bits);
    const gx = toBig(ke.fromPrivate(toBytes(x, 2)).publicKey);
    assert.equal(gx, (1n << x) - toBig(p), `group ${c.group}: 2^${c.bits} mod p matches the RFC prime`);
  }
});

test('fresh key pairs agree in every MODP group; secrets are prime-length', () => {
  for (const id of [KE.MODP_2048, KE.MODP_3072, KE.MODP_4096]) {
    const ke = keyExchangeTransform(id);
    const a = ke.generate();
    const b = ke.generate();
    assert.equal(a.publicKey.length, ke.publicBytes);
    const s = a.computeSecret(b.publicKey);
    assert.equal(s.length, ke.publicBytes);
    assert.deepEqual(s, b.computeSecret(a.publicKey));
    assert.notDeepEqual(a.publicKey, b.publicKey);
  }
});

test('fromPrivate public values and shared secrets match independent BigInt arithmetic', () => {
  for (const c of vectors.cases) {
    const ke = keyExchangeTransform(c.group);
    const p = toBig(rfcPrime(c));
    const xBytes = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const yBytes = Buffer.from('fedcba9876543210fedcba98', 'hex');
    const a = ke.fromPrivate(xBytes);
    const b = ke.fromPrivate(yBytes);
    const gx = modPow(2n, toBig(xBytes), p);
    const gy = modPow(2n, toBig(yBytes), p);
    assert.deepEqual(a.publicKey, toBytes(gx, ke.publicBytes), `group ${c.group} g^x`);
    assert.deepEqual(b.publicKey, toBytes(gy, ke.publicBytes), `group ${c.group} g^y`);
    const expected = toBytes(modPow(gy, toBig(xBytes), p), ke.publicBytes);
    assert.deepEqual(a.computeSecret(b.publicKey), expected, `group ${c.group} g^xy`);
  }
});

test('a secret with leading zero bytes keeps the prime length (RFC 7296 §2.14)', () => {
  // Peer value 2 (g itself) and private 2: secret = 4, i.e. 255 zero bytes then 0x04.
  const ke = keyExchangeTransform(KE.MODP_2048);
  const two = toBytes(2n, ke.publicBytes);
  const s = ke.fromPrivate(Buffer.from([2])).computeSecret(two);
  assert.equal(s.length, 256);
  assert.equal(toBig(s), 4n);
});

test('peer values 0, 1, p-1, p, p+1, all-ones and wrong lengths are refused', () => {
  for (const c of vectors.cases) {
    const ke = keyExchangeTransform(c.group);
    const mine = ke.generate();
    const p = toBig(rfcPrime(c));
    const len = ke.publicBytes;
    for (const bad of [0n, 1n, p - 1n, p, p + 1n, (1n << BigInt(len * 8)) - 1n]) {
      assert.throws(() => mine.computeSecret(toBytes(bad, len)), invalidPublic, `group ${c.group} value ${bad.toString(16).slice(0, 8)}`);
    }
    // The extremes that are still valid: 2 and p-2.
    assert.doesNotThrow(() => mine.computeSecret(toBytes(2n, len)));
    assert.doesNotThrow(() => mine.computeSecret(toBytes(p - 2n, len)));
    // RFC 7296 §3.4: the value is zero-padded to the prime length, so shorter/longer is wrong.
    const valid = ke.generate().publicKey;
    assert.throws(() => mine.computeSecret(valid.subarray(1)), invalidPublic, 'too short');
    assert.throws(() => mine.computeSecret(Buffer.concat([Buffer.from([0]), valid])), invalidPublic, 'too long');
    assert.throws(() => mine.computeSecret(Buffer.from([5])), invalidPublic, 'one byte');
    assert.throws(() => mine.computeSecret(Buffer.alloc(0)), invalidPublic, 'empty');
  }
});

test('private exponents outside [2, p-2] are refused', () => {
  const ke = keyExchangeTransform(KE.MODP_2048);
  for (const bad of [Buffer.alloc(0), Buffer.from([0]), Buffer.from([1]), Buffer.alloc(256, 0xff)]) {
    assert.throws(() => ke.fromPrivate(bad), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-private-value');
  }
});

test('node agrees: a DH object built from the RFC prime and our public value derives the same secret', () => {
  for (const c of vectors.cases) {
    const ke = keyExchangeTransform(c.group);
    const other = createDiffieHellman(rfcPrime(c), Buffer.from([c.generator]));
    other.generateKeys();
    const mine = ke.generate();
    const theirs = other.computeSecret(mine.publicKey);
    assert.equal(toBig(mine.computeSecret(toBytes(toBig(other.getPublicKey()), ke.publicBytes))), toBig(theirs));
  }
});
