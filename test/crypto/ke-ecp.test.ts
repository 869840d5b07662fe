// ECP groups 19/20/21 (RFC 5903) against the §8 test vectors, plus point validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError } from '../../src/crypto/types.js';
import { keyExchangeTransform } from '../../src/crypto/registry.js';
import { hex, loadVectors, type VectorFile } from './vectors.js';

interface EcpCase {
  group: number;
  section: string;
  i: string;
  gix: string;
  giy: string;
  r: string;
  grx: string;
  gry: string;
  girx: string;
  giry: string;
}

const vectors = loadVectors<VectorFile<EcpCase>>('crypto-ecp-rfc5903.json');
const invalidPublic = (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-public-value';

test('RFC 5903 §8.1-8.3: g^i, g^r as x || y and the shared secret girx, both directions', () => {
  assert.deepEqual(
    vectors.cases.map((c) => c.group),
    [19, 20, 21],
  );
  for (const c of vectors.cases) {
    const ke = keyExchangeTransform(c.group);
    const gi = Buffer.concat([hex(c.gix), hex(c.giy)]);
    const gr = Buffer.concat([hex(c.grx), hex(c.gry)]);
    assert.equal(ke.publicBytes, gi.length, `§${c.section} KE data length`);
    const initiator = ke.fromPrivate(hex(c.i));
    const responder = ke.fromPrivate(hex(c.r));
    assert.equal(initiator.publicKey.toString('hex'), gi.toString('hex'), `§${c.section} g^i`);
    assert.equal(responder.publicKey.toString('hex'), gr.toString('hex'), `§${c.section} g^r`);
    assert.equal(initiator.computeSecret(gr).toString('hex'), hex(c.girx).toString('hex'), `§${c.section} initiator secret`);
    assert.equal(responder.computeSecret(gi).toString('hex'), hex(c.girx).toString('hex'), `§${c.section} responder secret`);
    // g^ir itself is a valid point: its x || y is accepted as a peer value.
    assert.doesNotThrow(() => initiator.computeSecret(Buffer.concat([hex(c.girx), hex(c.giry)])));
  }
});

test('fresh ECP key pairs agree and have RFC 5903 §7 sizes', () => {
  for (const [id, coord] of [
    [19, 32],
    [20, 48],
    [21, 66],
  ] as const) {
    const ke = keyExchangeTransform(id);
    const a = ke.generate();
    const b = ke.generate();
    assert.equal(a.publicKey.length, 2 * coord);
    const s = a.computeSecret(b.publicKey);
    assert.equal(s.length, coord);
    assert.deepEqual(s, b.computeSecret(a.publicKey));
  }
});

test('points not on the curve, the all-zero value and wrong lengths are CryptoErrors', () => {
  for (const c of vectors.cases) {
    const ke = keyExchangeTransform(c.group);
    const mine = ke.generate();
    const gr = Buffer.concat([hex(c.grx), hex(c.gry)]);
    const offCurve = Buffer.from(gr);
    offCurve[offCurve.length - 1]! ^= 1; // y changed: no longer on the curve
    assert.throws(() => mine.computeSecret(offCurve), invalidPublic, `group ${c.group} off-curve`);
    assert.throws(() => mine.computeSecret(Buffer.alloc(ke.publicBytes)), invalidPublic, `group ${c.group} zero`);
    assert.throws(() => mine.computeSecret(Buffer.alloc(ke.publicBytes, 0xaa)), invalidPublic, `group ${c.group} 0xaa`);
    assert.throws(() => mine.computeSecret(Buffer.concat([Buffer.from([4]), gr])), invalidPublic, 'SEC 1 0x04 prefix is not the IKE encoding');
    assert.throws(() => mine.computeSecret(gr.subarray(1)), invalidPublic, 'one byte short');
    assert.throws(() => mine.computeSecret(Buffer.alloc(0)), invalidPublic, 'empty');
  }
});

test('private scalars outside [1, n-1] are CryptoErrors', () => {
  for (const id of [19, 20, 21]) {
    const ke = keyExchangeTransform(id);
    assert.throws(() => ke.fromPrivate(Buffer.alloc(ke.publicBytes / 2)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.invalid-private-value');
  }
});
