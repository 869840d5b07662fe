// The native AEAD context (native/esp_aead.c via src/crypto/native-aead.ts) against the
// node:crypto context (src/crypto/encr-aead.ts), transform by transform, in one process:
// identical bytes for random inputs, each opens what the other sealed, the RFC / GCM-spec
// known answers, tampering gives null, caller bugs give the same typed errors, and the
// registry picks the native context by default and the node:crypto one with
// KEYPLANE_NATIVE_CRYPTO=0.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CryptoError, ENCR, type EncryptionContext, type EncryptionTransform } from '../../src/crypto/types.js';
import { CryptoErrorCode } from '../../src/crypto/error-codes.js';
import { encryptionByName, listEncryptionTransforms } from '../../src/crypto/registry.js';
import { aeadContext } from '../../src/crypto/encr-aead.js';
import { NativeAeadContext, loadNativeAead, nativeAeadStatus } from '../../src/crypto/native-aead.js';
import { field, hex, loadVectors, type VectorFile } from './vectors.js';

// Every AEAD transform of the registry (AES-GCM 128/192/256 x ICV 8/12/16, ChaCha20-Poly1305).
const AEADS: EncryptionTransform[] = listEncryptionTransforms()
  .filter((i) => !i.testOnly)
  .map((i) => encryptionByName(i.name))
  .filter((t) => t.aead);

const both = (t: EncryptionTransform, km: Uint8Array): { native: EncryptionContext; node: EncryptionContext } => ({
  native: aeadContext(t, km, { native: true }),
  node: aeadContext(t, km, { native: false }),
});

test('the addon is built and loads (npm install builds it with binding.gyp)', () => {
  const s = nativeAeadStatus();
  assert.equal(s.available, true, `native AEAD addon not available: ${s.reason ?? ''}`);
  assert.ok(loadNativeAead() !== null);
  assert.equal(AEADS.length, 10);
  for (const t of AEADS) {
    const c = both(t, randomBytes(t.keyMaterialBytes));
    assert.ok(c.native instanceof NativeAeadContext, t.name);
    assert.ok(!(c.node instanceof NativeAeadContext), t.name);
  }
});

describe('native and node:crypto contexts agree on random inputs', () => {
  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  for (const t of AEADS) {
    test(`${t.name}: same ciphertext || ICV, and each opens the other's`, () => {
      fc.assert(
        fc.property(bytes(t.keyMaterialBytes, t.keyMaterialBytes), bytes(8, 8), bytes(0, 24), bytes(0, 1600), (km, iv, aad, pt) => {
          const { native, node } = both(t, km);
          const a = native.encrypt(iv, aad, pt);
          const b = node.encrypt(iv, aad, pt);
          assert.equal(a.length, pt.length + t.icvBytes);
          assert.equal(a.toString('hex'), b.toString('hex'));
          assert.deepEqual(node.decrypt(iv, aad, a), Buffer.from(pt));
          assert.deepEqual(native.decrypt(iv, aad, b), Buffer.from(pt));
        }),
        { numRuns: 60 },
      );
    });

    test(`${t.name}: encryptTo with split parts at an offset writes the same bytes and nothing else`, () => {
      fc.assert(
        fc.property(
          bytes(t.keyMaterialBytes, t.keyMaterialBytes),
          bytes(8, 8),
          bytes(0, 12),
          fc.array(bytes(0, 300), { minLength: 0, maxLength: 11 }),
          fc.nat(40),
          fc.nat(40),
          (km, iv, aad, parts, before, after) => {
            const { native, node } = both(t, km);
            const total = parts.reduce((n, p) => n + p.length, 0);
            const outA = Buffer.alloc(before + total + t.icvBytes + after, 0xa5);
            const outB = Buffer.alloc(outA.length, 0xa5);
            assert.equal(native.encryptTo(iv, aad, parts, outA, before), total + t.icvBytes);
            assert.equal(node.encryptTo(iv, aad, parts, outB, before), total + t.icvBytes);
            assert.equal(outA.toString('hex'), outB.toString('hex'));
            assert.ok(outA.subarray(0, before).every((x) => x === 0xa5), 'bytes before the output untouched');
            assert.ok(outA.subarray(before + total + t.icvBytes).every((x) => x === 0xa5), 'bytes after the output untouched');
            assert.equal(outA.subarray(before, before + total + t.icvBytes).toString('hex'), native.encrypt(iv, aad, Buffer.concat(parts)).toString('hex'));
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('overlapping buffers: as if every input were read before any output is written', () => {
  const t = encryptionByName('aes128gcm16');
  test('encryptTo in place and with the plaintext shifted against the output by -40..+40 bytes', () => {
    const km = randomBytes(t.keyMaterialBytes);
    const { native } = both(t, km);
    const iv = randomBytes(8);
    const aad = randomBytes(8);
    const pt = randomBytes(200);
    const expected = native.encrypt(iv, aad, pt).toString('hex');
    for (let shift = -40; shift <= 40; shift++) {
      const buf = Buffer.alloc(400, 0x11);
      const outOff = 100;
      buf.set(pt, outOff + shift);
      const view = buf.subarray(outOff + shift, outOff + shift + pt.length);
      native.encryptTo(iv, aad, [view], buf, outOff);
      assert.equal(buf.subarray(outOff, outOff + pt.length + 16).toString('hex'), expected, `shift ${shift}`);
      // Two parts: the first in place (shift >= 0) or elsewhere (shift < 0, where its
      // output then lands on the start of the second part, which must be read first).
      const buf2 = Buffer.alloc(400, 0x22);
      const first = shift >= 0 ? buf2.subarray(outOff, outOff + 50) : Buffer.from(pt.subarray(0, 50));
      first.set(pt.subarray(0, 50));
      buf2.set(pt.subarray(50), outOff + 50 + shift);
      native.encryptTo(iv, aad, [first, buf2.subarray(outOff + 50 + shift, outOff + shift + 200)], buf2, outOff);
      assert.equal(buf2.subarray(outOff, outOff + pt.length + 16).toString('hex'), expected, `two parts, shift ${shift}`);
    }
  });

  test('decryptTo in place and shifted; the tag may sit where the plaintext goes', () => {
    const km = randomBytes(t.keyMaterialBytes);
    const ctx = aeadContext(t, km, { native: true }) as NativeAeadContext;
    const iv = randomBytes(8);
    const aad = randomBytes(12);
    const pt = randomBytes(120);
    const sealed = ctx.encrypt(iv, aad, pt);
    for (let shift = -30; shift <= 30; shift++) {
      const buf = Buffer.alloc(400, 0x33);
      buf.set(sealed, 100 + shift);
      const n = ctx.decryptTo(iv, aad, buf.subarray(100 + shift, 100 + shift + sealed.length), buf, 100);
      assert.equal(n, pt.length, `shift ${shift}`);
      assert.deepEqual(buf.subarray(100, 100 + pt.length), pt, `shift ${shift}`);
    }
  });

  test('decryptTo with a bad tag zeroes the output range and returns null', () => {
    const ctx = aeadContext(t, randomBytes(t.keyMaterialBytes), { native: true }) as NativeAeadContext;
    const iv = randomBytes(8);
    const sealed = ctx.encrypt(iv, Buffer.alloc(0), randomBytes(64));
    sealed[sealed.length - 1]! ^= 0x80;
    const out = Buffer.alloc(80, 0xff);
    assert.equal(ctx.decryptTo(iv, Buffer.alloc(0), sealed, out, 8), null);
    assert.ok(out.subarray(8, 72).every((x) => x === 0), 'no unauthenticated plaintext left behind');
    assert.ok(out.subarray(0, 8).every((x) => x === 0xff) && out.subarray(72).every((x) => x === 0xff));
  });
});

interface ChachaCase {
  keyHex: string;
  constantHex: string;
  ivHex: string;
  aadHex: string;
  ciphertextHex: string;
  tagHex: string;
  [k: string]: unknown;
}
interface GcmCase {
  testCase: number;
  keyHex: string;
  ivHex: string;
  plaintextHex: string;
  aadHex: string;
  ciphertextHex: string;
  tagHex: string;
}

describe('known answers through the native context', () => {
  test('RFC 8439 §2.8.2 AEAD_CHACHA20_POLY1305 (salt = the 32-bit constant)', () => {
    const c = loadVectors<VectorFile<ChachaCase>>('crypto-chacha20-poly1305-rfc8439.json').cases[0]!;
    const t = encryptionByName('chacha20poly1305');
    const ctx = aeadContext(t, Buffer.concat([hex(c.keyHex), hex(c.constantHex)]), { native: true });
    const pt = field(c, 'plaintext');
    const expected = Buffer.concat([hex(c.ciphertextHex), hex(c.tagHex)]);
    assert.equal(ctx.encrypt(hex(c.ivHex), hex(c.aadHex), pt).toString('hex'), expected.toString('hex'));
    assert.deepEqual(ctx.decrypt(hex(c.ivHex), hex(c.aadHex), expected), pt);
  });

  test('GCM spec test cases 4, 10, 16 with ICV 16, 12 and 8 (the leading tag bytes)', () => {
    const cases = loadVectors<VectorFile<GcmCase>>('crypto-aes-gcm-mcgrew-viega.json').cases;
    assert.deepEqual(
      cases.map((c) => c.testCase),
      [4, 10, 16],
    );
    const ids = { 16: ENCR.AES_GCM_16, 12: ENCR.AES_GCM_12, 8: ENCR.AES_GCM_8 } as const;
    for (const c of cases) {
      const key = hex(c.keyHex);
      const nonce = hex(c.ivHex);
      for (const icv of [16, 12, 8] as const) {
        const t = AEADS.find((x) => x.id === ids[icv] && x.keyBits === key.length * 8)!;
        const ctx = aeadContext(t, Buffer.concat([key, nonce.subarray(0, 4)]), { native: true });
        const expected = Buffer.concat([hex(c.ciphertextHex), hex(c.tagHex).subarray(0, icv)]);
        const iv = nonce.subarray(4);
        assert.equal(ctx.encrypt(iv, hex(c.aadHex), hex(c.plaintextHex)).toString('hex'), expected.toString('hex'), `${c.testCase} ${t.name}`);
        assert.deepEqual(ctx.decrypt(iv, hex(c.aadHex), expected), hex(c.plaintextHex));
        // A context is reused per packet: the same call again gives the same answer.
        assert.equal(ctx.encrypt(iv, hex(c.aadHex), hex(c.plaintextHex)).toString('hex'), expected.toString('hex'));
      }
    }
  });
});

describe('tampering fails closed (null) on both paths', () => {
  for (const t of AEADS) {
    test(`${t.name}: a flipped bit in ciphertext, ICV, AAD or IV, or a truncated input`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 300 }),
          fc.uint8Array({ minLength: 0, maxLength: 12 }),
          fc.nat(),
          fc.constantFrom('body', 'aad', 'iv', 'truncate'),
          (pt, aad, pick, where) => {
            const { native, node } = both(t, randomBytes(t.keyMaterialBytes));
            const iv = randomBytes(8);
            const sealed = native.encrypt(iv, aad, pt);
            let badIv: Uint8Array = iv;
            let badAad: Uint8Array = aad;
            let badCt: Uint8Array = Buffer.from(sealed);
            if (where === 'body') {
              badCt[pick % badCt.length]! ^= 1 << (pick % 8);
            } else if (where === 'aad' && aad.length > 0) {
              badAad = Buffer.from(aad);
              badAad[pick % aad.length]! ^= 1 << (pick % 8);
            } else if (where === 'iv') {
              badIv = Buffer.from(iv);
              badIv[pick % 8]! ^= 1 << (pick % 8);
            } else {
              badCt = sealed.subarray(0, pick % sealed.length);
            }
            assert.equal(native.decrypt(badIv, badAad, badCt), null);
            assert.equal(node.decrypt(badIv, badAad, badCt), null);
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('caller bugs: the same CryptoError codes on both paths', () => {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof CryptoError, `expected CryptoError, got ${String(err)}`);
      return err.code;
    }
    return 'no error';
  };
  for (const t of AEADS) {
    test(`${t.name}: key material, IV and output lengths`, () => {
      for (const len of [0, 1, t.keyMaterialBytes - 4, t.keyMaterialBytes - 1, t.keyMaterialBytes + 1, 64]) {
        const km = randomBytes(len);
        assert.equal(codeOf(() => aeadContext(t, km, { native: true })), CryptoErrorCode.KEY_LENGTH, `key material ${len}`);
        assert.equal(codeOf(() => aeadContext(t, km, { native: false })), CryptoErrorCode.KEY_LENGTH);
      }
      const { native, node } = both(t, randomBytes(t.keyMaterialBytes));
      const pt = randomBytes(33);
      for (const ivLen of [0, 4, 7, 9, 12, 16]) {
        const iv = randomBytes(ivLen);
        for (const c of [native, node]) {
          assert.equal(codeOf(() => c.encrypt(iv, Buffer.alloc(8), pt)), CryptoErrorCode.IV_LENGTH, `iv ${ivLen}`);
          assert.equal(codeOf(() => c.encryptTo(iv, Buffer.alloc(8), [pt], Buffer.alloc(100), 0)), CryptoErrorCode.IV_LENGTH);
          assert.equal(codeOf(() => c.decrypt(iv, Buffer.alloc(8), randomBytes(40))), CryptoErrorCode.IV_LENGTH);
        }
      }
      const iv = randomBytes(8);
      const need = pt.length + t.icvBytes;
      for (const [size, off] of [[need - 1, 0], [need, 1], [need + 5, 6], [need, -1], [0, 0]] as const) {
        for (const c of [native, node]) {
          assert.equal(codeOf(() => c.encryptTo(iv, Buffer.alloc(0), [pt], Buffer.alloc(size), off)), CryptoErrorCode.OUTPUT_LENGTH, `out ${size} at ${off}`);
        }
      }
      // Exactly enough room works on both.
      assert.equal(native.encryptTo(iv, Buffer.alloc(0), [pt], Buffer.alloc(need + 3), 3), need);
      assert.equal(node.encryptTo(iv, Buffer.alloc(0), [pt], Buffer.alloc(need + 3), 3), need);
      // decryptTo (native only) checks its output room too.
      const sealed = native.encrypt(iv, Buffer.alloc(0), pt);
      assert.equal(codeOf(() => (native as NativeAeadContext).decryptTo(iv, Buffer.alloc(0), sealed, Buffer.alloc(pt.length - 1), 0)), CryptoErrorCode.OUTPUT_LENGTH);
      assert.equal(codeOf(() => (native as NativeAeadContext).decryptTo(iv, Buffer.alloc(0), sealed, Buffer.alloc(pt.length), 1)), CryptoErrorCode.OUTPUT_LENGTH);
      assert.equal((native as NativeAeadContext).decryptTo(iv, Buffer.alloc(0), sealed, Buffer.alloc(pt.length), 0), pt.length);
    });
  }

  test('after destroy() every call is a CryptoError, and destroy() is idempotent', () => {
    const t = encryptionByName('aes256gcm16');
    const ctx = aeadContext(t, randomBytes(t.keyMaterialBytes), { native: true }) as NativeAeadContext;
    const iv = randomBytes(8);
    const sealed = ctx.encrypt(iv, Buffer.alloc(0), Buffer.from('x'));
    ctx.destroy();
    ctx.destroy();
    assert.equal(codeOf(() => ctx.encrypt(iv, Buffer.alloc(0), Buffer.from('x'))), CryptoErrorCode.BAD_ARGUMENT);
    assert.equal(codeOf(() => ctx.decrypt(iv, Buffer.alloc(0), sealed)), CryptoErrorCode.BAD_ARGUMENT);
  });
});

describe('which context the registry gives', () => {
  // A child process, so the environment variable is read as at startup.
  const probe = (env: Record<string, string | undefined>): string => {
    const url = new URL('../../src/crypto/registry.js', import.meta.url).href;
    const script = `const r = await import(${JSON.stringify(url)});
      const names = ['aes128gcm16', 'aes256gcm8', 'chacha20poly1305', 'aes128'].map((n) => {
        const t = r.encryptionByName(n);
        return n + '=' + t.createContext(Buffer.alloc(t.keyMaterialBytes)).constructor.name;
      });
      console.log(names.join(' '));`;
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: childEnv });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };

  test('by default the AEAD transforms use the native context (AES-CBC keeps node:crypto)', () => {
    assert.equal(
      probe({ KEYPLANE_NATIVE_CRYPTO: undefined }),
      'aes128gcm16=NativeAeadContext aes256gcm8=NativeAeadContext chacha20poly1305=NativeAeadContext aes128=AesCbcContext',
    );
  });

  test('KEYPLANE_NATIVE_CRYPTO=0 forces the node:crypto context', () => {
    assert.equal(probe({ KEYPLANE_NATIVE_CRYPTO: '0' }), 'aes128gcm16=AeadContext aes256gcm8=AeadContext chacha20poly1305=AeadContext aes128=AesCbcContext');
    assert.equal(probe({ KEYPLANE_NATIVE_CRYPTO: '1' }).split(' ')[0], 'aes128gcm16=NativeAeadContext');
  });
});
