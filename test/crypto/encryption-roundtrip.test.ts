// Round trips for every encryption transform and key size with random keys, IVs, AAD and
// data (fast-check), tamper detection for the AEADs, and the caller-bug errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CryptoError, type EncryptionTransform } from '../../src/crypto/types.js';
import { encryptionByName, listEncryptionTransforms } from '../../src/crypto/registry.js';
import { randomBytes } from '../../src/crypto/random.js';

const ALL: EncryptionTransform[] = listEncryptionTransforms().map((info) => encryptionByName(info.name, { allowTestOnly: true }));

function isCryptoError(code: string) {
  return (e: unknown) => e instanceof CryptoError && e.code === code;
}

test('the registry holds all 14 encryption transforms', () => {
  assert.deepEqual(
    ALL.map((t) => t.name).sort(),
    [
      'aes128', 'aes128gcm12', 'aes128gcm16', 'aes128gcm8',
      'aes192', 'aes192gcm12', 'aes192gcm16', 'aes192gcm8',
      'aes256', 'aes256gcm12', 'aes256gcm16', 'aes256gcm8',
      'chacha20poly1305', 'null',
    ],
  );
});

for (const t of ALL) {
  test(`${t.name}: random round trips (plaintext padded to ${t.blockBytes})`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: t.keyMaterialBytes, maxLength: t.keyMaterialBytes }),
        fc.uint8Array({ minLength: t.ivBytes, maxLength: t.ivBytes }),
        fc.uint8Array({ maxLength: 12 }),
        fc.uint8Array({ maxLength: 300 }),
        (key, iv, aad, raw) => {
          const pt = raw.subarray(0, raw.length - (raw.length % t.blockBytes));
          const ctx = t.createContext(key);
          const sealed = ctx.encrypt(iv, aad, pt);
          assert.equal(sealed.length, pt.length + t.icvBytes);
          const opened = ctx.decrypt(iv, aad, sealed);
          assert.ok(opened !== null);
          assert.deepEqual(new Uint8Array(opened), pt);
          // A second context built from the same key material agrees (keys imported correctly).
          assert.deepEqual(t.createContext(key).decrypt(iv, aad, sealed), opened);
        },
      ),
      { numRuns: 200 },
    );
  });

  test(`${t.name}: wrong key material length is a CryptoError`, () => {
    for (const len of [t.keyMaterialBytes - 1, t.keyMaterialBytes + 1, t.keyMaterialBytes + 4]) {
      if (len < 0) continue;
      assert.throws(() => t.createContext(Buffer.alloc(len)), isCryptoError('crypto.bad-key-length'), `${len} bytes`);
    }
  });

  test(`${t.name}: wrong IV length is a CryptoError`, () => {
    const ctx = t.createContext(randomBytes(t.keyMaterialBytes));
    const pt = Buffer.alloc(t.blockBytes * 2);
    for (const len of [t.ivBytes + 1, t.ivBytes === 0 ? 4 : t.ivBytes - 1]) {
      assert.throws(() => ctx.encrypt(Buffer.alloc(len), Buffer.alloc(0), pt), isCryptoError('crypto.bad-iv-length'));
      assert.throws(() => ctx.decrypt(Buffer.alloc(len), Buffer.alloc(0), pt), isCryptoError('crypto.bad-iv-length'));
    }
  });
}

for (const t of ALL.filter((t) => t.aead)) {
  test(`${t.name}: flipping any one bit of ciphertext, ICV, AAD or IV gives null (never throws)`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: t.keyMaterialBytes, maxLength: t.keyMaterialBytes }),
        fc.uint8Array({ minLength: t.ivBytes, maxLength: t.ivBytes }),
        fc.uint8Array({ minLength: 1, maxLength: 16 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.nat(),
        fc.constantFrom('body', 'aad', 'iv'),
        (key, iv, aad, pt, bitSeed, where) => {
          const ctx = t.createContext(key);
          const sealed = ctx.encrypt(iv, aad, pt);
          const flip = (buf: Uint8Array): Buffer => {
            const copy = Buffer.from(buf);
            const bit = bitSeed % (copy.length * 8);
            copy[bit >> 3]! ^= 1 << (bit & 7);
            return copy;
          };
          if (where === 'body') assert.equal(ctx.decrypt(iv, aad, flip(sealed)), null);
          if (where === 'aad') assert.equal(ctx.decrypt(iv, flip(aad), sealed), null);
          if (where === 'iv') assert.equal(ctx.decrypt(flip(iv), aad, sealed), null);
        },
      ),
      { numRuns: 300 },
    );
  });

  test(`${t.name}: truncated or extended input and the wrong key give null`, () => {
    const key = randomBytes(t.keyMaterialBytes);
    const ctx = t.createContext(key);
    const iv = randomBytes(t.ivBytes);
    const sealed = ctx.encrypt(iv, Buffer.alloc(0), randomBytes(40));
    assert.equal(ctx.decrypt(iv, Buffer.alloc(0), sealed.subarray(0, sealed.length - 1)), null);
    assert.equal(ctx.decrypt(iv, Buffer.alloc(0), Buffer.concat([sealed, Buffer.from([0])])), null);
    assert.equal(ctx.decrypt(iv, Buffer.alloc(0), sealed.subarray(0, t.icvBytes - 1)), null, 'shorter than the ICV');
    assert.equal(ctx.decrypt(iv, Buffer.alloc(0), Buffer.alloc(0)), null, 'empty');
    const other = Buffer.from(key);
    other[other.length - 1]! ^= 1; // salt differs: a different nonce
    assert.equal(t.createContext(other).decrypt(iv, Buffer.alloc(0), sealed), null, 'salt differs');
    other[other.length - 1]! ^= 1;
    other[0]! ^= 1; // key differs
    assert.equal(t.createContext(other).decrypt(iv, Buffer.alloc(0), sealed), null, 'key differs');
  });

  test(`${t.name}: an empty plaintext still carries and checks an ICV`, () => {
    const ctx = t.createContext(randomBytes(t.keyMaterialBytes));
    const iv = randomBytes(t.ivBytes);
    const sealed = ctx.encrypt(iv, Buffer.from('aad'), Buffer.alloc(0));
    assert.equal(sealed.length, t.icvBytes);
    assert.deepEqual(ctx.decrypt(iv, Buffer.from('aad'), sealed), Buffer.alloc(0));
    assert.equal(ctx.decrypt(iv, Buffer.from('aae'), sealed), null);
  });
}

test('contexts keep their own copy of the key: wiping the caller buffer changes nothing', () => {
  for (const t of ALL.filter((x) => x.keyMaterialBytes > 0)) {
    const key = randomBytes(t.keyMaterialBytes);
    const iv = randomBytes(t.ivBytes);
    const pt = randomBytes(t.blockBytes * 3);
    const reference = t.createContext(Buffer.from(key)).encrypt(iv, Buffer.alloc(0), pt);
    const ctx = t.createContext(key);
    key.fill(0);
    assert.deepEqual(ctx.encrypt(iv, Buffer.alloc(0), pt), reference, t.name);
  }
});

test('the transform parameters follow the RFCs', () => {
  const byName = new Map(ALL.map((t) => [t.name, t]));
  const expect = (name: string, p: Partial<EncryptionTransform>) => {
    const t = byName.get(name)!;
    for (const [k, v] of Object.entries(p)) assert.equal(t[k as keyof EncryptionTransform], v, `${name}.${k}`);
  };
  // RFC 3602: 16-byte IV and block, key only.
  expect('aes128', { id: 12, keyBits: 128, keyMaterialBytes: 16, ivBytes: 16, blockBytes: 16, icvBytes: 0, aead: false });
  expect('aes256', { id: 12, keyBits: 256, keyMaterialBytes: 32 });
  // RFC 4106: key + 4-byte salt, 8-byte IV, ICV 8/12/16 for IDs 18/19/20.
  expect('aes128gcm8', { id: 18, keyMaterialBytes: 20, ivBytes: 8, icvBytes: 8, aead: true, blockBytes: 4 });
  expect('aes192gcm12', { id: 19, keyMaterialBytes: 28, icvBytes: 12 });
  expect('aes256gcm16', { id: 20, keyMaterialBytes: 36, icvBytes: 16 });
  // RFC 7634: 32-byte key + 4-byte salt, 8-byte IV, 16-byte tag.
  expect('chacha20poly1305', { id: 28, keyBits: 256, keyMaterialBytes: 36, ivBytes: 8, icvBytes: 16, aead: true });
  expect('null', { id: 11, keyBits: 0, keyMaterialBytes: 0, ivBytes: 0, icvBytes: 0, testOnly: true });
  assert.deepEqual(
    ALL.filter((t) => t.testOnly).map((t) => t.name),
    ['null'],
  );
});

test('NULL encryption returns the data unchanged and in fresh memory', () => {
  const t = encryptionByName('null', { allowTestOnly: true });
  const ctx = t.createContext(Buffer.alloc(0));
  const pt = Buffer.from('plain text!!');
  const out = ctx.encrypt(Buffer.alloc(0), Buffer.alloc(0), pt);
  assert.deepEqual(out, pt);
  out[0] = 0;
  assert.equal(pt[0], 0x70, 'input untouched');
});
