// The registry: lookups by IANA ID and by strongSwan keyword, aliases, the test-only
// gate for ENCR_NULL, and the 'crypto.unknown-transform' errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, ENCR, INTEG, KE, PRF } from '../../src/crypto/types.js';
import {
  encryptionByName,
  encryptionTransform,
  integrityByName,
  integrityTransform,
  keyExchangeByName,
  keyExchangeTransform,
  listAllTransforms,
  listEncryptionTransforms,
  listIntegrityTransforms,
  listKeyExchangeTransforms,
  listPrfTransforms,
  prfByName,
  prfTransform,
} from '../../src/crypto/registry.js';

function unknown(pattern: RegExp) {
  return (e: unknown) => e instanceof CryptoError && e.code === 'crypto.unknown-transform' && pattern.test(e.message);
}

test('encryption by ID and key size', () => {
  assert.equal(encryptionTransform(ENCR.AES_CBC, 128).name, 'aes128');
  assert.equal(encryptionTransform(ENCR.AES_CBC, 192).name, 'aes192');
  assert.equal(encryptionTransform(ENCR.AES_CBC, 256).name, 'aes256');
  for (const [id, icv] of [
    [ENCR.AES_GCM_8, 8],
    [ENCR.AES_GCM_12, 12],
    [ENCR.AES_GCM_16, 16],
  ] as const) {
    for (const bits of [128, 192, 256]) {
      const t = encryptionTransform(id, bits);
      assert.equal(t.name, `aes${bits}gcm${icv}`);
      assert.equal(t.icvBytes, icv);
      assert.equal(t.keyBits, bits);
    }
  }
  // Fixed-size key: no Key Length attribute in IKE (RFC 7634 §4), so 0 / omitted / 256.
  for (const bits of [undefined, 0, 256]) assert.equal(encryptionTransform(ENCR.CHACHA20_POLY1305, bits).name, 'chacha20poly1305');
  assert.equal(encryptionTransform(ENCR.NULL, 0, { allowTestOnly: true }).name, 'null');
});

test('encryption by strongSwan keyword, including the ICV-in-bits GCM aliases', () => {
  const pairs: [string, string][] = [
    ['aes128', 'aes128'],
    ['aes192', 'aes192'],
    ['aes256', 'aes256'],
    ['aes128gcm8', 'aes128gcm8'],
    ['aes128gcm64', 'aes128gcm8'],
    ['aes128gcm12', 'aes128gcm12'],
    ['aes128gcm96', 'aes128gcm12'],
    ['aes128gcm16', 'aes128gcm16'],
    ['aes128gcm128', 'aes128gcm16'],
    ['aes256gcm128', 'aes256gcm16'],
    ['aes192gcm64', 'aes192gcm8'],
    ['AES256GCM16', 'aes256gcm16'],
    ['chacha20poly1305', 'chacha20poly1305'],
  ];
  for (const [keyword, name] of pairs) assert.equal(encryptionByName(keyword).name, name, keyword);
  assert.equal(encryptionByName('aes128gcm64').id, ENCR.AES_GCM_8);
  assert.equal(encryptionByName('aes256gcm96').id, ENCR.AES_GCM_12);
});

test('NULL is refused without {allowTestOnly: true}, by ID and by name', () => {
  const refused = (e: unknown) => e instanceof CryptoError && e.code === 'crypto.test-only' && /allowTestOnly/.test(e.message);
  assert.throws(() => encryptionTransform(ENCR.NULL), refused);
  assert.throws(() => encryptionTransform(ENCR.NULL, 0, {}), refused);
  assert.throws(() => encryptionTransform(ENCR.NULL, 0, { allowTestOnly: false }), refused);
  assert.throws(() => encryptionByName('null'), refused);
  assert.equal(encryptionByName('null', { allowTestOnly: true }).testOnly, true);
  // The opt-in does not change what non-test transforms return.
  assert.equal(encryptionByName('aes128', { allowTestOnly: true }).name, 'aes128');
});

test('unknown encryption IDs, key sizes and names list what is supported', () => {
  assert.throws(() => encryptionTransform(3), unknown(/unknown encryption transform ID 3.*12 \(aes128\/aes192\/aes256.*28 \(chacha20poly1305\)/));
  assert.throws(() => encryptionTransform(ENCR.AES_CBC, 64), unknown(/64-bit key.*128, 192, 256/));
  assert.throws(() => encryptionTransform(ENCR.AES_CBC), unknown(/needs a key size.*128, 192, 256/));
  assert.throws(() => encryptionTransform(ENCR.AES_GCM_16, 0), unknown(/supported key sizes/));
  assert.throws(() => encryptionTransform(ENCR.CHACHA20_POLY1305, 128), unknown(/256/));
  assert.throws(() => encryptionByName('aes128ccm16'), unknown(/"aes128ccm16".*aes128gcm16\|aes128gcm128/));
  assert.throws(() => encryptionByName(''), unknown(/supported/));
});

test('integrity by ID and name', () => {
  const expected: [number, string, number, number][] = [
    [INTEG.HMAC_SHA1_96, 'sha1', 20, 12],
    [INTEG.HMAC_SHA2_256_128, 'sha256', 32, 16],
    [INTEG.HMAC_SHA2_384_192, 'sha384', 48, 24],
    [INTEG.HMAC_SHA2_512_256, 'sha512', 64, 32],
  ];
  for (const [id, name, keyBytes, icvBytes] of expected) {
    const t = integrityTransform(id);
    assert.equal(t.name, name);
    assert.equal(t.keyBytes, keyBytes, `${name} key (RFC 2404 / RFC 4868 §2.1.1)`);
    assert.equal(t.icvBytes, icvBytes);
    assert.equal(integrityByName(name), t);
  }
  assert.equal(integrityByName('sha1_96').id, INTEG.HMAC_SHA1_96);
  assert.equal(integrityByName('sha2_256').id, INTEG.HMAC_SHA2_256_128);
  assert.throws(() => integrityTransform(INTEG.NONE), unknown(/unknown integrity transform ID 0; supported: 2 \(sha1\), 12 \(sha256\)/));
  assert.throws(() => integrityTransform(5), unknown(/ID 5/));
  assert.throws(() => integrityByName('md5'), unknown(/"md5".*sha1\|sha1_96/));
  for (const t of [integrityTransform(INTEG.HMAC_SHA2_256_128)]) {
    assert.throws(() => t.createContext(Buffer.alloc(31)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-key-length');
    assert.throws(() => t.createContext(Buffer.alloc(64)), (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-key-length');
  }
});

test('PRF by ID and name', () => {
  const expected: [number, string, number][] = [
    [PRF.HMAC_SHA1, 'prfsha1', 20],
    [PRF.HMAC_SHA2_256, 'prfsha256', 32],
    [PRF.HMAC_SHA2_384, 'prfsha384', 48],
    [PRF.HMAC_SHA2_512, 'prfsha512', 64],
  ];
  for (const [id, name, out] of expected) {
    const t = prfTransform(id);
    assert.equal(t.name, name);
    assert.equal(t.outputBytes, out);
    assert.equal(t.keyBytes, out);
    assert.equal(prfByName(name), t);
  }
  assert.throws(() => prfTransform(1), unknown(/unknown PRF transform ID 1; supported: 2 \(prfsha1\)/));
  assert.throws(() => prfByName('prfmd5'), unknown(/prfsha256/));
});

test('key exchange by ID and name, with curve aliases', () => {
  const expected: [number, string, number][] = [
    [KE.MODP_2048, 'modp2048', 256],
    [KE.MODP_3072, 'modp3072', 384],
    [KE.MODP_4096, 'modp4096', 512],
    [KE.ECP_256, 'ecp256', 64],
    [KE.ECP_384, 'ecp384', 96],
    [KE.ECP_521, 'ecp521', 132],
    [KE.CURVE25519, 'x25519', 32],
    [KE.CURVE448, 'x448', 56],
  ];
  for (const [id, name, publicBytes] of expected) {
    const t = keyExchangeTransform(id);
    assert.equal(t.name, name);
    assert.equal(t.publicBytes, publicBytes, `${name} KE data length`);
    assert.equal(keyExchangeByName(name), t);
  }
  assert.equal(keyExchangeByName('curve25519').id, KE.CURVE25519);
  assert.equal(keyExchangeByName('curve448').id, KE.CURVE448);
  assert.throws(() => keyExchangeTransform(2), unknown(/unknown key exchange transform ID 2; supported: 14 \(modp2048\)/));
  assert.throws(() => keyExchangeByName('modp1024'), unknown(/"modp1024".*x25519\|curve25519/));
});

test('list functions cover every transform once, with consistent IDs and names', () => {
  const all = listAllTransforms();
  assert.equal(listEncryptionTransforms().length, 14);
  assert.equal(listIntegrityTransforms().length, 4);
  assert.equal(listPrfTransforms().length, 4);
  assert.equal(listKeyExchangeTransforms().length, 8);
  assert.equal(all.length, 30);
  const keys = new Set(all.map((i) => `${i.type}:${i.name}`));
  assert.equal(keys.size, all.length, 'names unique per type');
  for (const info of listEncryptionTransforms()) {
    const t = encryptionTransform(info.id, info.keyBits ?? undefined, { allowTestOnly: true });
    assert.equal(t.name, info.name);
    for (const alias of info.aliases) assert.equal(encryptionByName(alias).name, info.name);
  }
  assert.deepEqual(
    all.filter((i) => i.testOnly).map((i) => i.name),
    ['null'],
  );
  for (const i of all) assert.ok(i.description.length > 0);
});
