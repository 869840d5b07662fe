// Real bytes nobody here wrote: IKEv2 messages made by strongSwan 5.9 and dissected by
// tshark, stored in test/vectors/ike-strongswan-capture.json by
// scripts/capture-ike-vectors.sh (see there for the exchanges). For every message:
//   - it decodes, every header and payload field equals tshark's, and it re-encodes to
//     exactly the captured bytes;
//   - encrypted ones (SK, and SKF fragments) have the body tshark splits into IV and ICV,
//     the ICV strongSwan computed covers exactly the bytes before the body's ICV, and the
//     decrypted inner payloads decode to what tshark's own decryption shows (fragments
//     reassembled first) and re-encode to the plaintext;
//   - the PSK AUTH payloads verify with the raw ID payload bodies the decoder returns
//     (RFC 7296 §2.15 signs "RestOfInitIDPayload" as received).
// The test needs neither strongSwan nor tshark: both ran when the vectors were made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  decodeIkeMessage,
  decodeNotifyData,
  decodePayloads,
  encodeIkeMessage,
  encodePayloads,
  ExchangeType,
  NotifyType,
  type DecodedIkeMessage,
  type IkePayload,
  type SkfPayload,
} from '../../src/wire/ike/index.js';
import { compareHeader, comparePayloads, Coverage, hexOf, list, type TsharkNode } from './ike-tshark.js';
import { decryptBody, icvValid, ICV_BYTES, IV_BYTES, keysFor, type IkeSaKeys } from './ike-decrypt.js';
import type { StoredIkeCapture } from './ike-capture.js';

const stored = JSON.parse(readFileSync(new URL('../../../test/vectors/ike-strongswan-capture.json', import.meta.url), 'utf8')) as StoredIkeCapture;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function keysOf(m: DecodedIkeMessage): IkeSaKeys | undefined {
  return stored.keys.find((k) => k.initiatorSpi === hex(m.header.initiatorSpi) && k.responderSpi === hex(m.header.responderSpi));
}

function tree(t: TsharkNode): TsharkNode {
  return t['isakmp.typepayload_tree'] as TsharkNode;
}

interface Decoded {
  readonly frame: number;
  readonly msg: DecodedIkeMessage;
  readonly isakmp: TsharkNode;
  inner?: { payloads: readonly IkePayload[]; rawBodies: readonly Uint8Array[] };
}

function decodeAll(cov: Coverage): Decoded[] {
  const out: Decoded[] = [];
  const fragments = new Map<string, { frag: SkfPayload; plain: Uint8Array; d: Decoded }[]>();
  for (const s of stored.messages) {
    const label = `frame ${s.frame}`;
    const bytes = new Uint8Array(Buffer.from(s.hex, 'hex'));
    const msg = decodeIkeMessage(bytes);
    const d: Decoded = { frame: s.frame, msg, isakmp: s.isakmp };
    out.push(d);
    compareHeader(s.isakmp, msg, label);
    comparePayloads(s.isakmp, msg.payloads, msg.rawBodies, label, cov);
    assert.equal(hex(encodeIkeMessage(msg)), s.hex, `${label}: re-encoding differs from strongSwan's bytes`);
    assert.equal(s.nonEspMarker, msg.header.exchangeType !== ExchangeType.IKE_SA_INIT, `${label}: UDP/4500 after IKE_SA_INIT (encap = yes)`);

    const last = msg.payloads[msg.payloads.length - 1];
    if (last?.kind !== 'sk' && last?.kind !== 'skf') continue;
    // The body is the tail of the message: IV first, ICV last, as tshark splits it.
    const t = tree(s.isakmp);
    assert.equal(hexOf(t['isakmp.enc.iv'] as string), hex(last.body.subarray(0, IV_BYTES)), `${label}: IV`);
    assert.equal(hexOf(t['isakmp.enc.icd'] as string), hex(last.body.subarray(last.body.length - ICV_BYTES)), `${label}: ICV`);
    assert.equal(hex(bytes.subarray(bytes.length - last.body.length)), hex(last.body), `${label}: body is the message tail`);
    const keys = keysOf(msg);
    assert.ok(keys !== undefined, `${label}: no keys for this IKE SA`);
    const k = keysFor(msg.header, keys);
    assert.ok(icvValid(bytes, k.integ), `${label}: ICV does not verify over the bytes before it`);
    const plain = decryptBody(last.body, k.enc);
    if (last.kind === 'sk') {
      d.inner = decodePayloads(last.nextPayload, plain);
      const contained = (t['isakmp.enc.decrypted'] as TsharkNode)['isakmp.enc.contained'];
      if (d.inner.payloads.length === 0) {
        assert.equal(last.nextPayload, 0, `${label}: empty SK has Next Payload 0`);
        assert.ok(contained === undefined || contained === '' || (typeof contained === 'object' && list((contained as TsharkNode)['isakmp.typepayload']).length === 0), `${label}: tshark sees payloads we do not`);
        cov.add('sk:empty');
      } else {
        comparePayloads(contained as TsharkNode, d.inner.payloads, d.inner.rawBodies, `${label} inner`, cov);
      }
      assert.equal(hex(encodePayloads(d.inner.payloads).bytes), hex(plain), `${label}: inner re-encoding differs`);
      continue;
    }
    // RFC 7383 §2.6: fragments of one message share the Message ID; reassemble in order.
    const key = `${hex(msg.header.initiatorSpi)}/${msg.header.messageId}/${msg.header.response}`;
    const set = fragments.get(key) ?? [];
    fragments.set(key, set);
    set.push({ frag: last, plain, d });
    if (set.length < last.totalFragments) continue;
    set.sort((a, b) => a.frag.fragmentNumber - b.frag.fragmentNumber);
    assert.deepEqual(set.map((f) => f.frag.fragmentNumber), Array.from({ length: last.totalFragments }, (_, i) => i + 1), `${label}: fragment numbers`);
    const whole = Buffer.concat(set.map((f) => f.plain));
    const first = set[0]!.frag;
    d.inner = decodePayloads(first.nextPayload, whole);
    comparePayloads(t, d.inner.payloads, d.inner.rawBodies, `${label} reassembled`, cov);
    assert.equal(hex(encodePayloads(d.inner.payloads).bytes), hex(whole), `${label}: reassembled re-encoding differs`);
    cov.add('skf:reassembled');
  }
  return out;
}

test('strongSwan capture: every message decodes to what tshark dissects and re-encodes byte for byte', () => {
  const cov = new Coverage();
  decodeAll(cov);
  assert.ok(stored.messages.length >= 30, 'the capture is too small');
  cov.require(
    'sa', 'ke', 'nonce', 'notify', 'certreq', 'idi', 'idr', 'auth', 'cert', 'cp', 'tsi', 'tsr', 'delete', 'sk', 'skf',
    'sa:several-proposals', 'sa:protocol-1', 'sa:protocol-3', 'sa:key-length',
    `notify:${NotifyType.INVALID_KE_PAYLOAD}`, `notify:${NotifyType.REKEY_SA}`, `notify:${NotifyType.NAT_DETECTION_SOURCE_IP}`,
    `notify:${NotifyType.SIGNATURE_HASH_ALGORITHMS}`, `notify:${NotifyType.IKEV2_FRAGMENTATION_SUPPORTED}`, 'notify:spi',
    'delete:protocol-1', 'delete:protocol-3', 'id:ipv4', 'id:fqdn', 'cert:bytes', 'auth:digital-signature',
    'cp:attribute-empty', 'cp:attribute-ip4', 'ts:ipv4', 'sk:empty', 'skf:reassembled',
  );
});

test('strongSwan capture: typed notification data', () => {
  let natd = 0;
  let invalidKe = 0;
  let sigHash = 0;
  for (const s of stored.messages) {
    const msg = decodeIkeMessage(new Uint8Array(Buffer.from(s.hex, 'hex')));
    for (const p of msg.payloads) {
      if (p.kind !== 'notify') continue;
      if (p.notifyType === NotifyType.NAT_DETECTION_SOURCE_IP || p.notifyType === NotifyType.NAT_DETECTION_DESTINATION_IP) {
        assert.equal(decodeNotifyData(p.notifyType, p.data).length, 20);
        natd++;
      }
      if (p.notifyType === NotifyType.INVALID_KE_PAYLOAD) {
        // The responder accepts only x25519 (Curve25519, group 31) and says so.
        assert.equal(decodeNotifyData(NotifyType.INVALID_KE_PAYLOAD, p.data), 31);
        invalidKe++;
      }
      if (p.notifyType === NotifyType.SIGNATURE_HASH_ALGORITHMS) {
        // strongSwan 5.9 announces SHA2-256, SHA2-384, SHA2-512 and Identity (RFC 7427, RFC 8420).
        assert.deepEqual(decodeNotifyData(NotifyType.SIGNATURE_HASH_ALGORITHMS, p.data), [2, 3, 4, 5]);
        sigHash++;
      }
    }
  }
  assert.ok(natd >= 8 && invalidKe === 1 && sigHash >= 4, `natd ${natd}, invalid KE ${invalidKe}, hash algorithms ${sigHash}`);
});

// RFC 7296 §2.15: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>),
// InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload) and
// the responder's likewise with RealMessage2, NonceIData, SK_pr and its ID. PRF here is
// PRF_HMAC_SHA2_256.
test('strongSwan capture: PSK AUTH verifies over the raw ID payload bodies the decoder returns', () => {
  const cov = new Coverage();
  const all = decodeAll(cov);
  const prf = (key: Uint8Array | string, ...data: Uint8Array[]) => {
    const h = createHmac('sha256', key);
    for (const d of data) h.update(d);
    return new Uint8Array(h.digest());
  };
  let checked = 0;
  for (const d of all) {
    if (d.msg.header.exchangeType !== ExchangeType.IKE_AUTH || d.inner === undefined) continue;
    const authIdx = d.inner.payloads.findIndex((p) => p.kind === 'auth');
    const auth = d.inner.payloads[authIdx];
    if (auth?.kind !== 'auth' || auth.method !== 2) continue;
    const spi = hex(d.msg.header.initiatorSpi);
    // The IKE_SA_INIT exchange that created this SA (its SPIs, the last attempt).
    const initRequest = all.filter((x) => x.msg.header.exchangeType === ExchangeType.IKE_SA_INIT && !x.msg.header.response && hex(x.msg.header.initiatorSpi) === spi).at(-1);
    const initResponse = all.find((x) => x.msg.header.exchangeType === ExchangeType.IKE_SA_INIT && x.msg.header.response && hex(x.msg.header.responderSpi) === hex(d.msg.header.responderSpi));
    assert.ok(initRequest !== undefined && initResponse !== undefined, `frame ${d.frame}: IKE_SA_INIT not found`);
    const nonceOf = (m: DecodedIkeMessage) => {
      const n = m.payloads.find((p) => p.kind === 'nonce');
      assert.ok(n?.kind === 'nonce');
      return n.nonce;
    };
    const keys = keysOf(d.msg)!;
    const fromInitiator = !d.msg.header.response;
    const idIdx = d.inner.payloads.findIndex((p) => p.kind === (fromInitiator ? 'idi' : 'idr'));
    const restOfIdPayload = d.inner.rawBodies[idIdx]!;
    const macedId = prf(Buffer.from(fromInitiator ? keys.skPi : keys.skPr, 'hex'), restOfIdPayload);
    const realMessage = fromInitiator ? initRequest.msg.bytes : initResponse.msg.bytes;
    const peerNonce = fromInitiator ? nonceOf(initResponse.msg) : nonceOf(initRequest.msg);
    const expected = prf(prf(stored.psk, Buffer.from('Key Pad for IKEv2')), realMessage, peerNonce, macedId);
    assert.equal(hex(auth.data), hex(expected), `frame ${d.frame}: PSK AUTH`);
    checked++;
  }
  assert.equal(checked, 2, 'both PSK AUTH payloads checked');
});
