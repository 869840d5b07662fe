// SK / SKF payload protection (src/ike/sk-protect.ts): the RFC 7634 Appendix B message
// byte for byte, independent node:crypto constructions of CBC+HMAC and AEAD messages,
// round trips, every single-bit change rejected, wrong keys, padding and length rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  CryptoError,
  ENCR,
  INTEG,
  PRF,
  encryptionTransform,
  integrityTransform,
  prfTransform,
  type EncryptionTransform,
  type IntegrityTransform,
} from '../../src/crypto/index.js';
import { deriveIkeSaKeys } from '../../src/ike/kdf.js';
import {
  IKE_HEADER_BYTES,
  createIkeSaProtectors,
  createSkProtector,
  type SkDrop,
  type SkOpenResult,
  type SkProtector,
} from '../../src/ike/sk-protect.js';
import { hex, loadVectors, type VectorFile } from '../crypto/vectors.js';

interface AppendixB {
  name: string;
  keyMaterial: string;
  iv: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
  message: string;
  skOffset: number;
  firstInnerPayload: number;
  innerPayloads: string;
}

const rfc7634 = loadVectors<VectorFile<AppendixB>>('ike-rfc7634-appendix-b.json');

interface Suite {
  readonly name: string;
  readonly encr: EncryptionTransform;
  readonly integ: IntegrityTransform | null;
}

const SUITES: Suite[] = [
  { name: 'aes128-sha256', encr: encryptionTransform(ENCR.AES_CBC, 128), integ: integrityTransform(INTEG.HMAC_SHA2_256_128) },
  { name: 'aes256-sha512', encr: encryptionTransform(ENCR.AES_CBC, 256), integ: integrityTransform(INTEG.HMAC_SHA2_512_256) },
  { name: 'aes192-sha1', encr: encryptionTransform(ENCR.AES_CBC, 192), integ: integrityTransform(INTEG.HMAC_SHA1_96) },
  { name: 'aes128-sha384', encr: encryptionTransform(ENCR.AES_CBC, 128), integ: integrityTransform(INTEG.HMAC_SHA2_384_192) },
  { name: 'aes128gcm16', encr: encryptionTransform(ENCR.AES_GCM_16, 128), integ: null },
  { name: 'aes256gcm16', encr: encryptionTransform(ENCR.AES_GCM_16, 256), integ: null },
  { name: 'aes256gcm8', encr: encryptionTransform(ENCR.AES_GCM_8, 256), integ: null },
  { name: 'aes192gcm12', encr: encryptionTransform(ENCR.AES_GCM_12, 192), integ: null },
  { name: 'chacha20poly1305', encr: encryptionTransform(ENCR.CHACHA20_POLY1305), integ: null },
];

interface Keyed {
  readonly suite: Suite;
  readonly encrKey: Buffer;
  readonly integKey: Buffer | null;
  readonly protector: SkProtector;
}

function keyed(suite: Suite): Keyed {
  const encrKey = randomBytes(suite.encr.keyMaterialBytes);
  const integKey = suite.integ === null ? null : randomBytes(suite.integ.keyBytes);
  return { suite, encrKey, integKey, protector: createSkProtector({ encr: suite.encr, integ: suite.integ, encrKey, integKey }) };
}

// A fixed IKE header (RFC 7296 §3.1): SPIs, Next Payload, version 2.0, exchange type,
// flags, message ID; Length left 0 (seal fills it in).
function ikeHeader(nextPayload: number, messageId = 1): Buffer {
  const h = Buffer.alloc(IKE_HEADER_BYTES);
  randomBytes(16).copy(h, 0);
  h[16] = nextPayload;
  h[17] = 0x20;
  h[18] = 35; // IKE_AUTH
  h[19] = 0x08; // Initiator
  h.writeUInt32BE(messageId, 20);
  return h;
}

function expectDrop(r: SkOpenResult, reason?: SkDrop['reason']): void {
  assert.equal(r.ok, false, 'message must be rejected');
  if (reason !== undefined) assert.equal((r as SkDrop).reason, reason);
}

function opened(r: SkOpenResult): { nextPayload: number; inner: Buffer } {
  assert.ok(r.ok, r.ok ? '' : `rejected: ${r.reason} ${r.detail}`);
  return r;
}

const chachaAppendixB = () => {
  const v = rfc7634.cases[0] as AppendixB;
  const protector = createSkProtector({
    encr: encryptionTransform(ENCR.CHACHA20_POLY1305),
    integ: null,
    encrKey: hex(v.keyMaterial),
    integKey: null,
  });
  return { v, protector };
};

test('RFC 7634 Appendix B: the published message opens to the SET_WINDOW_SIZE notify', () => {
  const { v, protector } = chachaAppendixB();
  const message = hex(v.message);
  // The message is the published AAD, IV, ciphertext and tag laid end to end.
  assert.deepEqual(message, Buffer.concat([hex(v.aad), hex(v.iv), hex(v.ciphertext), hex(v.tag)]));
  const r = opened(protector.open(message, v.skOffset));
  assert.equal(r.nextPayload, v.firstInnerPayload);
  assert.equal(r.inner.toString('hex'), hex(v.innerPayloads).toString('hex'));
  // The published plaintext is the inner chain plus Pad Length 0.
  assert.deepEqual(Buffer.concat([r.inner, Buffer.from([0])]), hex(v.plaintext));
});

test('RFC 7634 Appendix B: sealing the notify with the published IV gives the published message byte for byte', () => {
  const { v, protector } = chachaAppendixB();
  const message = hex(v.message);
  const prefix = Buffer.from(message.subarray(0, v.skOffset));
  prefix.writeUInt32BE(0, 24); // seal must write the Length itself: it is part of the AAD
  const sealed = protector.seal({ prefix, nextPayload: v.firstInnerPayload, inner: hex(v.innerPayloads), iv: hex(v.iv) });
  assert.equal(sealed.toString('hex'), message.toString('hex'));
});

test('RFC 7634 Appendix B: every single-bit change of the message is rejected', () => {
  const { v, protector } = chachaAppendixB();
  const message = hex(v.message);
  for (let bit = 0; bit < message.length * 8; bit++) {
    const m = Buffer.from(message);
    m[bit >> 3] = (m[bit >> 3] as number) ^ (0x80 >> (bit & 7));
    expectDrop(protector.open(m, v.skOffset));
  }
});

// Independent constructions of the whole message with node:crypto, per RFC 7296 §3.14
// (CBC: zero padding to the block, Pad Length, HMAC over header..ciphertext truncated)
// and RFC 5282 §5.1 / RFC 7634 §2 (AEAD: nonce salt | IV, AAD header..SK header).
function referenceMessage(
  k: Keyed,
  prefix: Buffer,
  nextPayload: number,
  inner: Buffer,
  iv: Buffer,
  fragment?: { n: number; total: number },
): Buffer {
  const { encr, integ } = k.suite;
  const skHeader = Buffer.alloc(fragment === undefined ? 4 : 8);
  skHeader[0] = nextPayload;
  if (fragment !== undefined) {
    skHeader.writeUInt16BE(fragment.n, 4);
    skHeader.writeUInt16BE(fragment.total, 6);
  }
  const block = encr.aead ? 1 : 16;
  const pad = (block - ((inner.length + 1) % block)) % block;
  const plaintext = Buffer.concat([inner, Buffer.alloc(pad), Buffer.from([pad])]);
  const icvBytes = encr.aead ? encr.icvBytes : (integ as IntegrityTransform).icvBytes;
  const total = prefix.length + skHeader.length + iv.length + plaintext.length + icvBytes;
  const head = Buffer.from(prefix);
  head.writeUInt32BE(total, 24);
  skHeader.writeUInt16BE(total - prefix.length, 2);
  if (encr.aead) {
    const algorithm = encr.id === ENCR.CHACHA20_POLY1305 ? 'chacha20-poly1305' : `aes-${encr.keyBits}-gcm`;
    const keyBytes = encr.keyBits / 8;
    const nonce = Buffer.concat([k.encrKey.subarray(keyBytes), iv]);
    const c = createCipheriv(algorithm as 'aes-128-gcm', k.encrKey.subarray(0, keyBytes), nonce, { authTagLength: encr.icvBytes });
    c.setAAD(Buffer.concat([head, skHeader]), { plaintextLength: plaintext.length });
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([head, skHeader, iv, ct, c.getAuthTag()]);
  }
  const c = createCipheriv(`aes-${encr.keyBits}-cbc`, k.encrKey, iv).setAutoPadding(false);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const signed = Buffer.concat([head, skHeader, iv, ct]);
  const hash = { 2: 'sha1', 12: 'sha256', 13: 'sha384', 14: 'sha512' }[(integ as IntegrityTransform).id] as string;
  const icv = createHmac(hash, k.integKey as Buffer).update(signed).digest().subarray(0, icvBytes);
  return Buffer.concat([signed, icv]);
}

test('seal equals an independent node:crypto construction for CBC+HMAC, AES-GCM and ChaCha20-Poly1305, SK and SKF', () => {
  for (const suite of SUITES) {
    const k = keyed(suite);
    for (const innerLength of [0, 1, 14, 15, 16, 17, 31, 32, 100, 255]) {
      const prefix = ikeHeader(46);
      const inner = randomBytes(innerLength);
      const iv = randomBytes(suite.encr.ivBytes);
      const sealed = k.protector.seal({ prefix, nextPayload: 35, inner, iv });
      assert.equal(sealed.toString('hex'), referenceMessage(k, prefix, 35, inner, iv).toString('hex'), `${suite.name} ${innerLength}`);
      const frag = k.protector.sealFragment({ prefix: ikeHeader(53), nextPayload: 0, inner, iv, fragmentNumber: 2, totalFragments: 3 });
      const fragPrefix = Buffer.from(frag.subarray(0, IKE_HEADER_BYTES));
      assert.equal(
        frag.toString('hex'),
        referenceMessage(k, fragPrefix, 0, inner, iv, { n: 2, total: 3 }).toString('hex'),
        `${suite.name} SKF ${innerLength}`,
      );
    }
  }
});

test('round trip for every suite and random inner chains; CBC pads to the block, AEADs not at all', () => {
  const ks = SUITES.map(keyed);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: ks.length - 1 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 40 }),
      (which, inner, nextPayload, extraPrefix) => {
        const k = ks[which] as Keyed;
        // Unencrypted bytes before SK (IKE header + e.g. a payload) are covered too.
        const prefix = Buffer.concat([ikeHeader(46), randomBytes(extraPrefix)]);
        const sealed = k.protector.seal({ prefix, nextPayload, inner });
        const skLength = sealed.length - prefix.length;
        assert.equal(skLength, k.protector.payloadBytes(inner.length));
        const body = skLength - 4 - k.suite.encr.ivBytes - (k.suite.encr.aead ? k.suite.encr.icvBytes : (k.suite.integ?.icvBytes ?? 0));
        assert.equal(body, k.suite.encr.aead ? inner.length + 1 : Math.ceil((inner.length + 1) / 16) * 16);
        assert.ok(k.protector.maxInnerBytes(skLength) >= inner.length);
        assert.ok(k.protector.payloadBytes(k.protector.maxInnerBytes(skLength)) <= skLength);
        const r = opened(k.protector.open(sealed, prefix.length));
        assert.equal(r.nextPayload, nextPayload);
        assert.deepEqual(r.inner, Buffer.from(inner));
      },
    ),
    { numRuns: 400 },
  );
});

test('every single-bit change of header, IV, ciphertext or ICV is rejected, for every suite, SK and SKF', () => {
  for (const suite of SUITES) {
    const k = keyed(suite);
    const prefix = Buffer.concat([ikeHeader(46), randomBytes(8)]);
    const messages: [Buffer, boolean][] = [
      [k.protector.seal({ prefix, nextPayload: 36, inner: randomBytes(40) }), false],
      [k.protector.sealFragment({ prefix, nextPayload: 36, inner: randomBytes(40), fragmentNumber: 1, totalFragments: 2 }), true],
    ];
    for (const [message, fragment] of messages) {
      const open = (m: Buffer) => (fragment ? k.protector.openFragment(m, prefix.length) : k.protector.open(m, prefix.length));
      assert.ok(open(message).ok);
      for (let bit = 0; bit < message.length * 8; bit++) {
        const m = Buffer.from(message);
        m[bit >> 3] = (m[bit >> 3] as number) ^ (0x80 >> (bit & 7));
        expectDrop(open(m));
      }
    }
  }
});

test('a message protected under other keys is rejected as bad-icv; so is one of the other direction', () => {
  for (const suite of SUITES) {
    const a = keyed(suite);
    const b = keyed(suite);
    const prefix = ikeHeader(46);
    expectDrop(b.protector.open(a.protector.seal({ prefix, nextPayload: 41, inner: randomBytes(24) }), IKE_HEADER_BYTES), 'bad-icv');
    if (suite.integ !== null) {
      // Right cipher key, wrong integrity key: still rejected before decryption.
      const mixed = createSkProtector({ encr: suite.encr, integ: suite.integ, encrKey: a.encrKey, integKey: randomBytes(suite.integ.keyBytes) });
      expectDrop(mixed.open(a.protector.seal({ prefix, nextPayload: 41, inner: randomBytes(24) }), IKE_HEADER_BYTES), 'bad-icv');
    }
  }
  // An IKE SA's two directions use different keys (RFC 7296 §2.14).
  const suite = { prf: prfTransform(PRF.HMAC_SHA2_256), encr: encryptionTransform(ENCR.AES_CBC, 128), integ: integrityTransform(INTEG.HMAC_SHA2_256_128) };
  const keys = deriveIkeSaKeys({ suite, skeyseed: randomBytes(32), ni: randomBytes(32), nr: randomBytes(32), spiI: randomBytes(8), spiR: randomBytes(8) });
  const initiator = createIkeSaProtectors(keys, suite, 'initiator');
  const responder = createIkeSaProtectors(keys, suite, 'responder');
  const request = initiator.outbound.seal({ prefix: ikeHeader(46), nextPayload: 35, inner: Buffer.from('IDi AUTH SA TSi TSr') });
  assert.equal(opened(responder.inbound.open(request, IKE_HEADER_BYTES)).inner.toString(), 'IDi AUTH SA TSi TSr');
  expectDrop(initiator.inbound.open(request, IKE_HEADER_BYTES), 'bad-icv');
  const response = responder.outbound.seal({ prefix: ikeHeader(46), nextPayload: 36, inner: Buffer.from('IDr AUTH') });
  assert.equal(opened(initiator.inbound.open(response, IKE_HEADER_BYTES)).inner.toString(), 'IDr AUTH');
  expectDrop(responder.inbound.open(response, IKE_HEADER_BYTES), 'bad-icv');
});

test('Pad Length: any value that fits is accepted (RFC 7296 §3.14), one that exceeds the data is bad-padding', () => {
  for (const suite of SUITES) {
    const k = keyed(suite);
    const prefix = ikeHeader(46);
    const iv = randomBytes(suite.encr.ivBytes);
    // Build messages whose inner chain ends in chosen bytes: the reference construction
    // with an empty inner and a crafted "inner" whose last byte plays the Pad Length.
    const block = suite.encr.aead ? 1 : 16;
    // 14 octets of payload, 17 of padding, Pad Length 17: 32 octets, aligned for both.
    const longPad = Buffer.concat([Buffer.from('fourteen bytes'), Buffer.alloc(17, 0xaa), Buffer.from([17])]);
    assert.equal(longPad.length % block, 0);
    const accepted = withRawPlaintext(k, prefix, longPad, iv);
    assert.equal(opened(k.protector.open(accepted, IKE_HEADER_BYTES)).inner.toString(), 'fourteen bytes');
    // Pad Length 32 with only 31 octets before it.
    const tooLong = Buffer.concat([Buffer.alloc(31), Buffer.from([32])]);
    expectDrop(k.protector.open(withRawPlaintext(k, prefix, tooLong, iv), IKE_HEADER_BYTES), 'bad-padding');
    // Pad Length 255 in a one-block message.
    const huge = Buffer.concat([Buffer.alloc(block === 1 ? 3 : 15), Buffer.from([255])]);
    expectDrop(k.protector.open(withRawPlaintext(k, prefix, huge, iv), IKE_HEADER_BYTES), 'bad-padding');
  }
});

// A correctly protected message whose decrypted body is exactly `plaintext` (no padding
// added), so the padding rules can be probed. Uses the independent construction with
// the last byte of `plaintext` as Pad Length: referenceMessage would add its own, so
// encrypt by hand.
function withRawPlaintext(k: Keyed, prefix: Buffer, plaintext: Buffer, iv: Buffer): Buffer {
  // referenceMessage(inner) encrypts inner | pad | padLength; choose inner so that this is
  // `plaintext`: for an aligned `plaintext` ending in byte p, inner = plaintext minus the
  // last byte gives pad 0 for AEAD/aligned CBC only when (len) % block == 0, which holds.
  const inner = plaintext.subarray(0, plaintext.length - 1);
  const m = referenceMessage(k, prefix, 41, inner, iv);
  // referenceMessage wrote Pad Length 0 (aligned input); re-encrypt with the real last byte.
  const { encr, integ } = k.suite;
  const skAt = prefix.length;
  const bodyAt = skAt + 4 + iv.length;
  const icvBytes = encr.aead ? encr.icvBytes : (integ as IntegrityTransform).icvBytes;
  const head = m.subarray(0, skAt + 4);
  if (encr.aead) {
    const algorithm = encr.id === ENCR.CHACHA20_POLY1305 ? 'chacha20-poly1305' : `aes-${encr.keyBits}-gcm`;
    const keyBytes = encr.keyBits / 8;
    const c = createCipheriv(algorithm as 'aes-128-gcm', k.encrKey.subarray(0, keyBytes), Buffer.concat([k.encrKey.subarray(keyBytes), iv]), {
      authTagLength: encr.icvBytes,
    });
    c.setAAD(head, { plaintextLength: plaintext.length });
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([head, iv, ct, c.getAuthTag()]);
  }
  const c = createCipheriv(`aes-${encr.keyBits}-cbc`, k.encrKey, iv).setAutoPadding(false);
  const signed = Buffer.concat([head, iv, c.update(plaintext), c.final()]);
  assert.equal(signed.length, bodyAt + plaintext.length);
  const hash = { 2: 'sha1', 12: 'sha256', 13: 'sha384', 14: 'sha512' }[(integ as IntegrityTransform).id] as string;
  return Buffer.concat([signed, createHmac(hash, k.integKey as Buffer).update(signed).digest().subarray(0, icvBytes)]);
}

test('length rules: IKE header Length, SK last, ciphertext size; truncation never throws', () => {
  for (const suite of SUITES) {
    const k = keyed(suite);
    const sealed = k.protector.seal({ prefix: ikeHeader(46), nextPayload: 41, inner: randomBytes(20) });
    // IKE header Length that disagrees with the message.
    const wrongTotal = Buffer.from(sealed);
    wrongTotal.writeUInt32BE(sealed.length + 1, 24);
    expectDrop(k.protector.open(wrongTotal, IKE_HEADER_BYTES), 'bad-length');
    // A trailing octet after SK (header Length adjusted): SK is not the last payload.
    const trailing = Buffer.concat([sealed, Buffer.from([0])]);
    trailing.writeUInt32BE(trailing.length, 24);
    expectDrop(k.protector.open(trailing, IKE_HEADER_BYTES), 'bad-length');
    // Payload length running past the end.
    const past = Buffer.from(sealed);
    past.writeUInt16BE(past.readUInt16BE(IKE_HEADER_BYTES + 2) + 1, IKE_HEADER_BYTES + 2);
    expectDrop(k.protector.open(past, IKE_HEADER_BYTES), 'truncated');
    // One octet less everywhere: CBC ciphertext no longer a block multiple.
    const short = Buffer.from(sealed.subarray(0, sealed.length - 1));
    short.writeUInt32BE(short.length, 24);
    short.writeUInt16BE(short.length - IKE_HEADER_BYTES, IKE_HEADER_BYTES + 2);
    expectDrop(k.protector.open(short, IKE_HEADER_BYTES), suite.encr.aead ? 'bad-icv' : 'bad-length');
    // No room for even the Pad Length octet.
    const empty = Buffer.alloc(IKE_HEADER_BYTES + 4 + suite.encr.ivBytes + (suite.encr.aead ? suite.encr.icvBytes : (suite.integ?.icvBytes ?? 0)));
    sealed.copy(empty, 0, 0, IKE_HEADER_BYTES);
    empty.writeUInt32BE(empty.length, 24);
    empty.writeUInt16BE(empty.length - IKE_HEADER_BYTES, IKE_HEADER_BYTES + 2);
    expectDrop(k.protector.open(empty, IKE_HEADER_BYTES), 'bad-length');
    // Every truncation of a valid message is refused without an exception.
    for (let n = 0; n < sealed.length; n++) {
      const cut = sealed.subarray(0, n);
      if (n < IKE_HEADER_BYTES + 4) {
        expectDrop(k.protector.open(cut, IKE_HEADER_BYTES), 'truncated');
      } else {
        expectDrop(k.protector.open(cut, IKE_HEADER_BYTES));
      }
    }
  }
});

test('random bytes never make open throw; they are dropped with a reason', () => {
  const ks = SUITES.map(keyed);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: ks.length - 1 }),
      fc.uint8Array({ minLength: IKE_HEADER_BYTES, maxLength: 200 }),
      fc.integer({ min: 0, max: 40 }),
      fc.boolean(),
      fc.boolean(),
      (which, bytes, extra, fixLengths, fragment) => {
        const k = ks[which] as Keyed;
        const m = Buffer.from(bytes);
        const offset = Math.min(IKE_HEADER_BYTES + extra, m.length);
        if (fixLengths) {
          // Make the length fields consistent so the cipher paths are reached.
          m.writeUInt32BE(m.length, 24);
          if (m.length >= offset + 4) m.writeUInt16BE(m.length - offset, offset + 2);
        }
        const r = fragment ? k.protector.openFragment(m, offset) : k.protector.open(m, offset);
        assert.equal(r.ok, false);
        assert.ok(['truncated', 'bad-length', 'bad-value', 'bad-icv', 'bad-padding'].includes((r as SkDrop).reason));
      },
    ),
    { numRuns: 1000 },
  );
});

test('SKF (RFC 7383 §2.5): fragment numbering is authenticated and range checked', () => {
  const k = keyed(SUITES[4] as Suite);
  const prefix = ikeHeader(53);
  const frag = k.protector.sealFragment({ prefix, nextPayload: 0, inner: Buffer.from('second part'), fragmentNumber: 2, totalFragments: 2 });
  const r = k.protector.openFragment(frag, IKE_HEADER_BYTES);
  assert.ok(r.ok);
  assert.deepEqual([r.fragmentNumber, r.totalFragments, r.nextPayload, r.inner.toString()], [2, 2, 0, 'second part']);
  // Renumbering a fragment breaks the ICV (the AAD runs through Total Fragments).
  const renumbered = Buffer.from(frag);
  renumbered.writeUInt16BE(1, IKE_HEADER_BYTES + 4);
  expectDrop(k.protector.openFragment(renumbered, IKE_HEADER_BYTES), 'bad-icv');
  for (const [n, total] of [
    [0, 2],
    [3, 2],
    [1, 0],
  ] as const) {
    const m = Buffer.from(frag);
    m.writeUInt16BE(n, IKE_HEADER_BYTES + 4);
    m.writeUInt16BE(total, IKE_HEADER_BYTES + 6);
    expectDrop(k.protector.openFragment(m, IKE_HEADER_BYTES), 'bad-value');
  }
  const isBad = (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-argument';
  assert.throws(() => k.protector.sealFragment({ prefix, nextPayload: 0, inner: Buffer.alloc(1), fragmentNumber: 0, totalFragments: 1 }), isBad);
  assert.throws(() => k.protector.sealFragment({ prefix, nextPayload: 0, inner: Buffer.alloc(1), fragmentNumber: 3, totalFragments: 2 }), isBad);
  assert.throws(() => k.protector.sealFragment({ prefix, nextPayload: 0, inner: Buffer.alloc(1), fragmentNumber: 1, totalFragments: 65536 }), isBad);
  // An SK payload is not an SKF payload: its 4 octets after the header are IV, not numbering.
  const sk = k.protector.seal({ prefix: ikeHeader(46), nextPayload: 41, inner: Buffer.alloc(8) });
  expectDrop(k.protector.openFragment(sk, IKE_HEADER_BYTES));
});

test('IVs: AEAD IVs never repeat under one protector (a counter), CBC IVs are fresh random blocks', () => {
  for (const suite of SUITES) {
    const k = keyed(suite);
    const seen = new Set<string>();
    let previous: bigint | null = null;
    for (let i = 0; i < 300; i++) {
      const m = k.protector.seal({ prefix: ikeHeader(46), nextPayload: 0, inner: Buffer.alloc(0) });
      const iv = m.subarray(IKE_HEADER_BYTES + 4, IKE_HEADER_BYTES + 4 + suite.encr.ivBytes);
      seen.add(iv.toString('hex'));
      if (suite.encr.aead) {
        const value = iv.readBigUInt64BE(0);
        if (previous !== null) assert.equal(value, (previous + 1n) & 0xffff_ffff_ffff_ffffn);
        previous = value;
      }
    }
    assert.equal(seen.size, 300, `${suite.name}: IVs unique`);
  }
});

test('protector construction refuses ENCR_NULL, AEAD+integrity, CBC without integrity, wrong key or IV sizes', () => {
  const cbc = encryptionTransform(ENCR.AES_CBC, 128);
  const gcm = encryptionTransform(ENCR.AES_GCM_16, 128);
  const sha = integrityTransform(INTEG.HMAC_SHA2_256_128);
  const isBad = (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-argument';
  assert.throws(
    () => createSkProtector({ encr: encryptionTransform(ENCR.NULL, 0, { allowTestOnly: true }), integ: sha, encrKey: Buffer.alloc(0), integKey: Buffer.alloc(32) }),
    isBad,
  );
  assert.throws(() => createSkProtector({ encr: gcm, integ: sha, encrKey: Buffer.alloc(20), integKey: Buffer.alloc(32) }), isBad);
  assert.throws(() => createSkProtector({ encr: cbc, integ: null, encrKey: Buffer.alloc(16), integKey: null }), isBad);
  assert.throws(
    () => createSkProtector({ encr: cbc, integ: sha, encrKey: Buffer.alloc(15), integKey: Buffer.alloc(32) }),
    (e: unknown) => e instanceof CryptoError && e.code === 'crypto.bad-key-length',
  );
  const p = createSkProtector({ encr: gcm, integ: null, encrKey: Buffer.alloc(20), integKey: null });
  assert.throws(() => p.seal({ prefix: ikeHeader(46), nextPayload: 0, inner: Buffer.alloc(0), iv: Buffer.alloc(12) }), CryptoError);
  assert.throws(() => p.seal({ prefix: Buffer.alloc(27), nextPayload: 0, inner: Buffer.alloc(0) }), isBad);
  assert.throws(() => p.seal({ prefix: ikeHeader(46), nextPayload: 256, inner: Buffer.alloc(0) }), isBad);
  assert.throws(() => p.seal({ prefix: ikeHeader(46), nextPayload: 41, inner: Buffer.alloc(0x10000) }), isBad);
  assert.throws(() => p.open(Buffer.alloc(64), 27), isBad);
});
