// Key derivation, ephemeral X25519 values and per-key state of the keyroll channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deriveEspKeyMaterial, deriveGenerationKey, keyFingerprint, type GenerationKeyInput } from '../../src/keyroll/kdf.js';
import { restoreEphemeral } from '../../src/keyroll/ephemeral.js';
import { ChannelKey, SEQUENCE_RESERVE } from '../../src/keyroll/channel-key.js';
import { CryptoError, KE, keyExchangeTransform } from '../../src/crypto/index.js';
import { Prng } from '../../src/sim/prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// prf+ written out from RFC 7296 §2.13 with HMAC-SHA-256 straight from node:crypto, as an
// independent check of the construction documented in kdf.ts.
function prfPlus(key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let n = 1; Buffer.concat(out).length < length; n++) {
    t = createHmac('sha256', key).update(Buffer.concat([t, seed, Buffer.from([n])])).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

function lp(b: Uint8Array): Buffer {
  const l = Buffer.alloc(2);
  l.writeUInt16BE(b.length, 0);
  return Buffer.concat([l, b]);
}

const prng = Prng.fromSeed(2002);
const base: GenerationKeyInput = {
  seed: prng.bytes(32),
  dhSecret: prng.bytes(32),
  kind: 'rotation',
  generation: 7,
  spi: 0x1234_5678,
  deviceId: 'gw-kyoto-3',
  receiverPublic: prng.bytes(32),
  senderPublic: prng.bytes(32),
};

test('generation key = prf+(prf(seed, DH), label | kind | generation | SPI | device | publics) as documented', () => {
  const skeyseed = createHmac('sha256', base.seed).update(base.dhSecret!).digest();
  const info = Buffer.concat([
    Buffer.from('keyplane keyroll key v1'),
    Buffer.from([2]),
    u32(base.generation),
    u32(base.spi),
    lp(Buffer.from(base.deviceId)),
    lp(base.receiverPublic!),
    lp(base.senderPublic!),
  ]);
  assert.deepEqual(deriveGenerationKey(base), prfPlus(skeyseed, info, 32));
  // Without forward secrecy the DH input is empty.
  const plain = { ...base, dhSecret: null, receiverPublic: null, senderPublic: null };
  const info2 = Buffer.concat([Buffer.from('keyplane keyroll key v1'), Buffer.from([2]), u32(7), u32(base.spi), lp(Buffer.from(base.deviceId)), lp(Buffer.alloc(0)), lp(Buffer.alloc(0))]);
  assert.deepEqual(deriveGenerationKey(plain), prfPlus(createHmac('sha256', base.seed).update(Buffer.alloc(0)).digest(), info2, 32));
});

test('every input of the generation key matters (no key reuse across devices, generations, SPIs)', () => {
  const k = deriveGenerationKey(base).toString('hex');
  const variants: Partial<GenerationKeyInput>[] = [
    { seed: prng.bytes(32) },
    { dhSecret: prng.bytes(32) },
    { dhSecret: null },
    { kind: 'init' },
    { generation: 8 },
    { spi: 0x1234_5679 },
    { deviceId: 'gw-kyoto-4' },
    { receiverPublic: prng.bytes(32) },
    { senderPublic: prng.bytes(32) },
  ];
  const seen = new Set([k]);
  for (const v of variants) seen.add(deriveGenerationKey({ ...base, ...v }).toString('hex'));
  assert.equal(seen.size, variants.length + 1);
});

test('ESP keying material: 36 bytes (AES-256 + salt, RFC 4106 §8.1), different per direction and SPI', () => {
  const key = deriveGenerationKey(base);
  const s2r = deriveEspKeyMaterial(key, 1001, 's2r');
  const r2s = deriveEspKeyMaterial(key, 1001, 'r2s');
  assert.equal(s2r.length, 36);
  assert.deepEqual(s2r, prfPlus(key, Buffer.concat([Buffer.from('keyplane keyroll esp v1'), Buffer.from([1]), u32(1001)]), 36));
  assert.notDeepEqual(s2r, r2s, 'one key per direction: AES-GCM nonces of the two ends can never collide');
  assert.notDeepEqual(s2r, deriveEspKeyMaterial(key, 1002, 's2r'));
});

test('fingerprints: stable, 16 hex digits, differ per key', () => {
  const a = keyFingerprint(Buffer.alloc(32, 1));
  assert.match(a, /^[0-9a-f]{16}$/);
  assert.equal(keyFingerprint(Buffer.alloc(32, 1)), a);
  assert.notEqual(keyFingerprint(Buffer.alloc(32, 2)), a);
});

interface Rfc7748Dh {
  curve: string;
  alicePrivateHex: string;
  alicePublicHex: string;
  bobPrivateHex: string;
  bobPublicHex: string;
  sharedHex: string;
}

test('ephemeral X25519 (raw-key import path) reproduces RFC 7748 §6.1 and agrees with the crypto registry', () => {
  const v = JSON.parse(readFileSync(new URL('../../../test/vectors/crypto-x25519-x448-rfc7748.json', import.meta.url), 'utf8')) as {
    diffieHellman: Rfc7748Dh[];
  };
  const c = v.diffieHellman.find((x) => x.curve === 'x25519')!;
  const alice = restoreEphemeral(hex(c.alicePrivateHex));
  const bob = restoreEphemeral(hex(c.bobPrivateHex));
  assert.equal(alice.publicKey.toString('hex'), c.alicePublicHex);
  assert.equal(bob.publicKey.toString('hex'), c.bobPublicHex);
  assert.equal(alice.computeSecret(bob.publicKey).toString('hex'), c.sharedHex);
  assert.equal(bob.computeSecret(alice.publicKey).toString('hex'), c.sharedHex);
  const registry = keyExchangeTransform(KE.CURVE25519);
  for (let i = 0; i < 20; i++) {
    const d = prng.bytes(32);
    const mine = restoreEphemeral(d);
    const theirs = registry.fromPrivate(d);
    assert.deepEqual(mine.publicKey, theirs.publicKey);
    const peer = registry.generate();
    assert.deepEqual(mine.computeSecret(peer.publicKey), peer.computeSecret(mine.publicKey));
  }
});

test('ephemeral X25519 rejects bad peer values (wrong length, small-order points: RFC 7748 §6.1, RFC 8031 §2)', () => {
  const e = restoreEphemeral(prng.bytes(32));
  assert.throws(() => e.computeSecret(Buffer.alloc(31, 9)), CryptoError);
  assert.throws(() => e.computeSecret(Buffer.alloc(32)), CryptoError); // u = 0
  const one = Buffer.alloc(32);
  one[0] = 1;
  assert.throws(() => e.computeSecret(one), CryptoError); // u = 1
});

test('channel key: sequence numbers are reserved in blocks and a restored window rejects what came before', () => {
  const k = new ChannelKey(Buffer.alloc(32, 3), 4000, 1, false, 's2r', 64);
  assert.deepEqual(k.nextSequence(), { seq: 1, persist: true });
  assert.equal(k.sendSeqReserved, 1 + SEQUENCE_RESERVE);
  for (let i = 2; i <= SEQUENCE_RESERVE + 1; i++) assert.equal(k.nextSequence()!.persist, false);
  assert.deepEqual(k.nextSequence(), { seq: SEQUENCE_RESERVE + 2, persist: true });
  k.restoreReceiveTop(500);
  const w = k.replayWindow();
  for (const seq of [500, 499, 437]) assert.ok(w.check(seq) < 0, `${seq} counts as received`);
  assert.ok(w.check(501) >= 0);
  k.sendSeq = 0xffff_fffe;
  k.sendSeqReserved = 0xffff_ffff;
  assert.equal(k.nextSequence()?.seq, 0xffff_ffff);
  assert.equal(k.nextSequence(), null, 'the 32-bit space is used up: RFC 4303 §3.3.3');
});
