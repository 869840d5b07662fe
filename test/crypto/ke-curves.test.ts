// Curve25519 / Curve448 (KE 31 / 32, RFC 8031) against RFC 7748 §5.2 and §6.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, KE, type KeyExchangeTransform } from '../../src/crypto/types.js';
import { keyExchangeTransform } from '../../src/crypto/registry.js';
import { hex, loadVectors } from './vectors.js';

interface Rfc7748 {
  scalarMult: { curve: 'x25519' | 'x448'; scalarHex: string; uHex: string; outHex: string }[];
  iterated: { curve: 'x25519' | 'x448'; startHex: string; after1Hex: string; after1000Hex: string }[];
  diffieHellman: {
    curve: 'x25519' | 'x448';
    section: string;
    alicePrivateHex: string;
    alicePublicHex: string;
    bobPrivateHex: string;
    bobPublicHex: string;
    sharedHex: string;
  }[];
}

const v = loadVectors<Rfc7748>('crypto-x25519-x448-rfc7748.json');
const CURVE: Record<'x25519' | 'x448', KeyExchangeTransform> = {
  x25519: keyExchangeTransform(KE.CURVE25519),
  x448: keyExchangeTransform(KE.CURVE448),
};

test('RFC 7748 §6.1 and §6.2 Diffie-Hellman vectors', () => {
  assert.equal(v.diffieHellman.length, 2);
  for (const c of v.diffieHellman) {
    const ke = CURVE[c.curve];
    const alice = ke.fromPrivate(hex(c.alicePrivateHex));
    const bob = ke.fromPrivate(hex(c.bobPrivateHex));
    assert.equal(alice.publicKey.toString('hex'), hex(c.alicePublicHex).toString('hex'), `§${c.section} Alice public`);
    assert.equal(bob.publicKey.toString('hex'), hex(c.bobPublicHex).toString('hex'), `§${c.section} Bob public`);
    assert.equal(alice.publicKey.length, ke.publicBytes);
    assert.equal(alice.computeSecret(hex(c.bobPublicHex)).toString('hex'), hex(c.sharedHex).toString('hex'), `§${c.section} K (Alice)`);
    assert.equal(bob.computeSecret(hex(c.alicePublicHex)).toString('hex'), hex(c.sharedHex).toString('hex'), `§${c.section} K (Bob)`);
  }
});

test('RFC 7748 §5.2 scalar multiplication vectors (including a u with the top bit set)', () => {
  assert.equal(v.scalarMult.length, 4);
  for (const c of v.scalarMult) {
    const out = CURVE[c.curve].fromPrivate(hex(c.scalarHex)).computeSecret(hex(c.uHex));
    assert.equal(out.toString('hex'), hex(c.outHex).toString('hex'), `${c.curve} ${c.scalarHex.slice(0, 8)}`);
  }
});

test('RFC 7748 §5.2 iterated vectors after 1 and 1,000 iterations', () => {
  for (const c of v.iterated) {
    const ke = CURVE[c.curve];
    let k = hex(c.startHex);
    let u = hex(c.startHex);
    for (let i = 1; i <= 1000; i++) {
      const next = ke.fromPrivate(k).computeSecret(u);
      u = k;
      k = next;
      if (i === 1) assert.equal(k.toString('hex'), hex(c.after1Hex).toString('hex'), `${c.curve} after one iteration`);
    }
    assert.equal(k.toString('hex'), hex(c.after1000Hex).toString('hex'), `${c.curve} after 1,000 iterations`);
  }
});

test('fresh X25519 and X448 key pairs agree', () => {
  for (const ke of Object.values(CURVE)) {
    const a = ke.generate();
    const b = ke.generate();
    assert.equal(a.publicKey.length, ke.publicBytes);
    assert.notDeepEqual(a.publicKey, b.publicKey);
    assert.deepEqual(a.computeSecret(b.publicKey), b.computeSecret(a.publicKey));
  }
});

test('a peer value giving an all-zero secret (small-order u = 0 or 1) is a CryptoError (RFC 8031 §2)', () => {
  for (const ke of Object.values(CURVE)) {
    const mine = ke.generate();
    const zero = Buffer.alloc(ke.publicBytes);
    const one = Buffer.alloc(ke.publicBytes);
    one[0] = 1; // little-endian u = 1
    for (const peer of [zero, one]) {
      assert.throws(
        () => mine.computeSecret(peer),
        (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-public-value',
        `${ke.name} u=${peer[0]}`,
      );
    }
  }
});

test('peer values and private keys of the wrong length are CryptoErrors', () => {
  for (const ke of Object.values(CURVE)) {
    const mine = ke.generate();
    for (const len of [0, ke.publicBytes - 1, ke.publicBytes + 1, 65]) {
      assert.throws(() => mine.computeSecret(Buffer.alloc(len, 9)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-public-value');
      assert.throws(() => ke.fromPrivate(Buffer.alloc(len, 9)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-private-value');
    }
  }
});
