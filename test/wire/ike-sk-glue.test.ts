// The codec meets the SK layer of src/ike (written separately, against RFC 7296 §3.14):
// real strongSwan messages from test/vectors/ike-strongswan-capture.json are opened by
// src/ike/sk-protect.ts at the offset encryptedPayloadOffset() gives, and the inner
// payloads decode; a message sealed by that layer on a prefix from encodeEncryptedPrefix()
// decodes and opens again. A test, so it may reach above the wire layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encryptionTransform, integrityTransform } from '../../src/crypto/registry.js';
import { createSkProtector } from '../../src/ike/sk-protect.js';
import {
  decodeIkeMessage,
  decodePayloads,
  encodeEncryptedPrefix,
  encodePayloads,
  encryptedPayloadOffset,
  ExchangeType,
  NotifyType,
  notifyPayload,
  type IkePayload,
} from '../../src/wire/ike/index.js';
import type { StoredIkeCapture } from './ike-capture.js';

const stored = JSON.parse(readFileSync(new URL('../../../test/vectors/ike-strongswan-capture.json', import.meta.url), 'utf8')) as StoredIkeCapture;
const ENCR_AES_CBC = 12;
const AUTH_HMAC_SHA2_256_128 = 12;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

function protector(encKeyHex: string, integKeyHex: string) {
  return createSkProtector({
    encr: encryptionTransform(ENCR_AES_CBC, 128),
    integ: integrityTransform(AUTH_HMAC_SHA2_256_128),
    encrKey: unhex(encKeyHex),
    integKey: unhex(integKeyHex),
  });
}

test('strongSwan SK and SKF messages open at encryptedPayloadOffset and their inner payloads decode', () => {
  let sk = 0;
  let skf = 0;
  for (const s of stored.messages) {
    const m = decodeIkeMessage(unhex(s.hex));
    const offset = encryptedPayloadOffset(m);
    const last = m.payloads[m.payloads.length - 1];
    if (offset === undefined) {
      assert.notEqual(last?.kind, 'sk');
      continue;
    }
    const keys = stored.keys.find((k) => k.initiatorSpi === hex(m.header.initiatorSpi) && k.responderSpi === hex(m.header.responderSpi));
    assert.ok(keys !== undefined, `frame ${s.frame}: no keys`);
    const p = m.header.initiator ? protector(keys.skEi, keys.skAi) : protector(keys.skEr, keys.skAr);
    if (last?.kind === 'sk') {
      const r = p.open(m.bytes, offset);
      assert.ok(r.ok, `frame ${s.frame}: ${r.ok ? '' : `${r.reason} ${r.detail}`}`);
      assert.equal(r.nextPayload, last.nextPayload);
      decodePayloads(r.nextPayload, r.inner);
      sk++;
    } else if (last?.kind === 'skf') {
      const r = p.openFragment(m.bytes, offset);
      assert.ok(r.ok, `frame ${s.frame}: ${r.ok ? '' : `${r.reason} ${r.detail}`}`);
      assert.equal(r.fragmentNumber, last.fragmentNumber);
      assert.equal(r.totalFragments, last.totalFragments);
      skf++;
    }
  }
  assert.ok(sk >= 20 && skf === 4, `SK ${sk}, SKF ${skf}`);
});

test('a message sealed by the SK layer on an encodeEncryptedPrefix prefix decodes and opens', () => {
  const keys = stored.keys[0]!;
  const out = protector(keys.skEi, keys.skAi);
  const header = { initiatorSpi: unhex(keys.initiatorSpi), responderSpi: unhex(keys.responderSpi), exchangeType: ExchangeType.INFORMATIONAL, initiator: true, response: false, messageId: 9 };
  const inner: IkePayload[] = [notifyPayload(NotifyType.INITIAL_CONTACT), { kind: 'delete', protocolId: 3, spis: [Uint8Array.of(1, 2, 3, 4)] }];
  const chain = encodePayloads(inner);
  for (const before of [[], [{ kind: 'vendor', data: Uint8Array.of(7, 7) } as IkePayload]]) {
    const message = out.seal({ prefix: encodeEncryptedPrefix(header, before, 'sk'), nextPayload: chain.firstPayload, inner: chain.bytes });
    const m = decodeIkeMessage(message);
    assert.deepEqual(m.payloads.slice(0, -1), before);
    assert.equal(m.payloads.at(-1)?.kind, 'sk');
    const r = out.open(m.bytes, encryptedPayloadOffset(m)!);
    assert.ok(r.ok);
    assert.deepEqual(decodePayloads(r.nextPayload, r.inner).payloads, inner);
  }
  const frag = out.sealFragment({ prefix: encodeEncryptedPrefix(header, [], 'skf'), nextPayload: chain.firstPayload, inner: chain.bytes, fragmentNumber: 1, totalFragments: 1 });
  const fm = decodeIkeMessage(frag);
  const fr = out.openFragment(fm.bytes, encryptedPayloadOffset(fm)!);
  assert.ok(fr.ok && fr.fragmentNumber === 1);
  assert.deepEqual(decodePayloads(fr.nextPayload, fr.inner).payloads, inner);
});
