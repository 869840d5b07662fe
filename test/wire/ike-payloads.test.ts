// The strictness rules of the IKEv2 codecs, one by one (RFC 7296 §3, RFC 7383 §2.5,
// RFC 7427 §3): what is refused, with which DecodeError reason; what is ignored on receipt
// (reserved bits, the critical bit of known payloads); unknown critical payloads; encoder
// RangeErrors; and the typed helpers (notify data, CP values, signature auth data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthMethod,
  caHashes,
  CertEncoding,
  CfgType,
  cpAttribute,
  CpAttributeType,
  cpValue,
  decodeIkeHeader,
  decodeIkeMessage,
  decodeNotifyData,
  decodePayloads,
  decodeSignatureAuthData,
  encodeIkeMessage,
  encodeNotifyData,
  encodePayloadBody,
  encodePayloads,
  encodeSignatureAuthData,
  ExchangeType,
  findNotify,
  IkeCriticalPayloadError,
  NotifyType,
  notifyPayload,
  PayloadType,
  ProtocolId,
  TransformType,
  type IkeHeader,
  type IkePayload,
  type Proposal,
} from '../../src/wire/ike/index.js';
import { DecodeError } from '../../src/wire/errors.js';
import { expectDecodeError } from './fuzz.js';

const header: IkeHeader = {
  initiatorSpi: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
  responderSpi: new Uint8Array(8),
  exchangeType: ExchangeType.IKE_SA_INIT,
  initiator: true,
  response: false,
  messageId: 0,
};

const msg = (...payloads: IkePayload[]) => encodeIkeMessage({ header, payloads });

// Offset of payload i's generic header in an encoded message.
function payloadOffset(bytes: Uint8Array, i: number): number {
  let off = 28;
  for (let k = 0; k < i; k++) off += (bytes[off + 2]! << 8) | bytes[off + 3]!;
  return off;
}

// Re-decodes `bytes` after `edit` changed a copy (the length field stays consistent).
function edited(bytes: Uint8Array, edit: (b: Uint8Array) => void): Uint8Array {
  const b = Uint8Array.from(bytes);
  edit(b);
  return b;
}

// Replaces payload i's body with `body` (fixing the payload and message lengths).
function withBody(bytes: Uint8Array, i: number, body: Uint8Array): Uint8Array {
  const off = payloadOffset(bytes, i);
  const oldLen = (bytes[off + 2]! << 8) | bytes[off + 3]!;
  const out = new Uint8Array(bytes.length - oldLen + 4 + body.length);
  out.set(bytes.subarray(0, off + 4));
  out.set(body, off + 4);
  out.set(bytes.subarray(off + oldLen), off + 4 + body.length);
  out[off + 2] = (4 + body.length) >> 8;
  out[off + 3] = (4 + body.length) & 0xff;
  new DataView(out.buffer).setUint32(24, out.length);
  return out;
}

const esp = (spi: number[]): Proposal => ({
  number: 1,
  protocolId: ProtocolId.ESP,
  spi: Uint8Array.from(spi),
  transforms: [
    { type: TransformType.ENCR, id: 20, keyLengthBits: 128 },
    { type: TransformType.ESN, id: 0 },
  ],
});

test('header: too short, wrong major version, length not the datagram size', () => {
  const good = msg({ kind: 'nonce', nonce: new Uint8Array(16) });
  expectDecodeError(() => decodeIkeMessage(good.subarray(0, 27)), 'truncated', 'ike-header');
  // RFC 7296 §2.5: a higher major version is refused; decodeIkeHeader still reads it so
  // that INVALID_MAJOR_VERSION can be answered.
  const v3 = edited(good, (b) => (b[17] = 0x30));
  expectDecodeError(() => decodeIkeMessage(v3), 'bad-version');
  assert.equal(decodeIkeHeader(v3).majorVersion, 3);
  expectDecodeError(() => decodeIkeMessage(edited(good, (b) => (b[17] = 0x10))), 'bad-version'); // IKEv1
  expectDecodeError(() => decodeIkeMessage(good.subarray(0, good.length - 1)), 'truncated');
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  expectDecodeError(() => decodeIkeMessage(longer), 'bad-length');
  expectDecodeError(() => decodeIkeMessage(edited(good, (b) => (b[27] = 20))), 'bad-length');
});

test('header: minor version, V flag and X bits are read, and X bits ignored', () => {
  const good = msg();
  const b = edited(good, (x) => {
    x[17] = 0x27; // minor version 7
    x[19] = 0xff; // every flag and X bit
  });
  const m = decodeIkeMessage(b);
  assert.equal(m.header.minorVersion, 7);
  assert.equal(m.header.higherVersion, true);
  assert.equal(m.header.initiator, true);
  assert.equal(m.header.response, true);
  assert.equal(encodeIkeMessage(m)[19], 0x38); // X bits sent clear
  assert.deepEqual(m.payloads, []);
  assert.equal(decodeIkeHeader(b).nextPayload, 0);
});

test('nonce: 16..256 bytes (RFC 7296 §3.9)', () => {
  for (const n of [16, 256]) assert.equal(decodeIkeMessage(msg({ kind: 'nonce', nonce: new Uint8Array(n) })).payloads.length, 1);
  const ok = msg({ kind: 'nonce', nonce: new Uint8Array(16) });
  expectDecodeError(() => decodeIkeMessage(withBody(ok, 0, new Uint8Array(15))), 'bad-length', 'ike-nonce');
  expectDecodeError(() => decodeIkeMessage(withBody(ok, 0, new Uint8Array(257))), 'bad-length', 'ike-nonce');
  assert.throws(() => msg({ kind: 'nonce', nonce: new Uint8Array(15) }), RangeError);
  assert.throws(() => msg({ kind: 'nonce', nonce: new Uint8Array(257) }), RangeError);
});

test('SA: proposal numbering, Last Substruc, counts, SPI sizes, Key Length format', () => {
  const two = msg({ kind: 'sa', proposals: [esp([1, 2, 3, 4]), { ...esp([5, 6, 7, 8]), number: 2 }] });
  assert.equal(decodeIkeMessage(two).payloads.length, 1);
  // A single proposal may carry any number (a response names the accepted proposal).
  const single = decodeIkeMessage(msg({ kind: 'sa', proposals: [{ ...esp([1, 2, 3, 4]), number: 5 }] })).payloads[0];
  assert.ok(single?.kind === 'sa' && single.proposals[0]!.number === 5);
  const off = payloadOffset(two, 0) + 4; // first proposal
  const secondOff = off + ((two[off + 2]! << 8) | two[off + 3]!);
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[secondOff + 4] = 3))), 'bad-value', 'ike-sa'); // numbered 1, 3
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off + 4] = 2))), 'bad-value', 'ike-sa'); // 2, 2
  assert.throws(() => msg({ kind: 'sa', proposals: [esp([1, 2, 3, 4]), { ...esp([5, 6, 7, 8]), number: 3 }] }), RangeError);
  // Last Substruc: the first says "more" (2); 0 there leaves bytes after the "last" one.
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off] = 0))), 'bad-length', 'ike-sa');
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off] = 3))), 'bad-value', 'ike-sa');
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[secondOff] = 2))), 'truncated', 'ike-sa');
  // Num Transforms must count the transforms.
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off + 7] = 3))), 'bad-value', 'ike-sa');
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off + 7] = 0))), 'bad-value', 'ike-sa');
  // Protocol ID 0 is reserved; an IKE proposal has an SPI of 0 or 8 bytes, ESP of 4.
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off + 5] = 0))), 'bad-value', 'ike-sa');
  expectDecodeError(() => decodeIkeMessage(edited(two, (b) => (b[off + 5] = ProtocolId.IKE))), 'bad-value', 'ike-sa');
  assert.throws(() => msg({ kind: 'sa', proposals: [{ ...esp([1, 2, 3, 4]), spi: new Uint8Array(8) }] }), RangeError);
  assert.throws(() => msg({ kind: 'sa', proposals: [{ ...esp([1, 2, 3, 4]), protocolId: ProtocolId.IKE }] }), RangeError);
  assert.throws(() => msg({ kind: 'sa', proposals: [] }), RangeError);
  assert.throws(() => msg({ kind: 'sa', proposals: [{ ...esp([1, 2, 3, 4]), transforms: [] }] }), RangeError);
  // Key Length in TLV format, or twice, is refused (RFC 7296 §3.3.5).
  // A proposal (ESP, SPI 1.2.3.4) with one transform, ENCR 12, and its Key Length as TV
  // (accepted) or as TLV (refused).
  const tv = Uint8Array.of(0, 0, 0, 24, 1, 3, 4, 1, 1, 2, 3, 4, 0, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0e, 0x00, 0x80);
  const tlv = Uint8Array.of(0, 0, 0, 26, 1, 3, 4, 1, 1, 2, 3, 4, 0, 0, 0, 14, 1, 0, 0, 12, 0x00, 0x0e, 0x00, 0x02, 0x00, 0x80);
  assert.deepEqual(decodeIkeMessage(withBody(two, 0, tv)).payloads, [{ kind: 'sa', proposals: [{ number: 1, protocolId: 3, spi: Uint8Array.of(1, 2, 3, 4), transforms: [{ type: 1, id: 12, keyLengthBits: 128 }] }] }]);
  expectDecodeError(() => decodeIkeMessage(withBody(two, 0, tlv)), 'bad-value', 'ike-sa');
  const twice = msg({ kind: 'sa', proposals: [{ ...esp([1, 2, 3, 4]), transforms: [{ type: 1, id: 12, keyLengthBits: 128, attributes: [{ type: 99, value: 1 }] }] }] });
  const attrOff = payloadOffset(twice, 0) + 4 + 8 + 4 + 8 + 4; // the second attribute
  expectDecodeError(() => decodeIkeMessage(edited(twice, (b) => (b[attrOff + 1] = 14))), 'bad-value', 'ike-sa');
  assert.throws(() => msg({ kind: 'sa', proposals: [{ ...esp([1, 2, 3, 4]), transforms: [{ type: 1, id: 12, attributes: [{ type: 14, value: 128 }] }] }] }), RangeError);
});

test('SA: unknown transform types, IDs and attributes are kept (RFC 7296 §3.3.6)', () => {
  const p: IkePayload = {
    kind: 'sa',
    proposals: [
      {
        number: 1,
        protocolId: 77,
        spi: Uint8Array.from([9, 9]),
        transforms: [{ type: 200, id: 0xfffe, keyLengthBits: 0, attributes: [{ type: 0x7fff, value: Uint8Array.from([1, 2, 3]) }, { type: 5, value: 7 }] }],
      },
    ],
  };
  assert.deepEqual(decodeIkeMessage(msg(p)).payloads, [p]);
});

test('KE, CERT, AUTH need data; CERTREQ hashes are 20 bytes each', () => {
  const ke = msg({ kind: 'ke', group: 31, data: new Uint8Array(32) });
  expectDecodeError(() => decodeIkeMessage(withBody(ke, 0, Uint8Array.of(0, 31, 0, 0))), 'truncated', 'ike-ke');
  expectDecodeError(() => decodeIkeMessage(withBody(ke, 0, Uint8Array.of(0, 31, 0))), 'truncated', 'ike-ke');
  const cert = msg({ kind: 'cert', encoding: CertEncoding.X509_SIGNATURE, data: Uint8Array.of(0x30) });
  expectDecodeError(() => decodeIkeMessage(withBody(cert, 0, Uint8Array.of(4))), 'truncated', 'ike-cert');
  const auth = msg({ kind: 'auth', method: AuthMethod.SHARED_KEY_MIC, data: new Uint8Array(32) });
  expectDecodeError(() => decodeIkeMessage(withBody(auth, 0, Uint8Array.of(2, 0, 0, 0))), 'truncated', 'ike-auth');
  const hashes = new Uint8Array(40).map((_, i) => i);
  const certreq = decodeIkeMessage(msg({ kind: 'certreq', encoding: CertEncoding.X509_SIGNATURE, authorities: hashes })).payloads[0];
  assert.ok(certreq?.kind === 'certreq');
  assert.deepEqual(caHashes(certreq), [hashes.slice(0, 20), hashes.slice(20)]);
  const bad = withBody(msg({ kind: 'certreq', encoding: 4, authorities: new Uint8Array(0) }), 0, Uint8Array.of(4, ...new Uint8Array(21)));
  expectDecodeError(() => decodeIkeMessage(bad), 'bad-value', 'ike-certreq');
  assert.throws(() => msg({ kind: 'certreq', encoding: 4, authorities: new Uint8Array(19) }), RangeError);
  assert.throws(() => msg({ kind: 'certreq', encoding: CertEncoding.HASH_URL_X509_CERT, authorities: new Uint8Array(30) }), RangeError);
  assert.equal(decodeIkeMessage(msg({ kind: 'certreq', encoding: 4, authorities: new Uint8Array(0) })).payloads.length, 1); // "any CA"
  // Reserved octets of KE and AUTH are ignored on receipt and sent as zero.
  const r = decodeIkeMessage(edited(auth, (b) => (b[33] = 0xff)));
  assert.deepEqual(r.payloads, [{ kind: 'auth', method: 2, data: new Uint8Array(32) }]);
  assert.equal(r.rawBodies[0]![1], 0xff);
});

test('ID: typed identities, malformed data refused, reserved octets ignored but kept raw', () => {
  const ids: IkePayload[] = [
    { kind: 'idi', id: { type: 'ipv4', address: '192.0.2.1' } },
    { kind: 'idr', id: { type: 'ipv6', address: '2001:db8::1' } },
    { kind: 'idi', id: { type: 'fqdn', value: 'gw.example.com' } },
    { kind: 'idi', id: { type: 'rfc822', value: 'jsmith@exämple.com' } },
    { kind: 'idi', id: { type: 'der-asn1-dn', data: Uint8Array.of(0x30, 0) } },
    { kind: 'idi', id: { type: 'key-id', data: Uint8Array.of(1) } },
    { kind: 'idi', id: { type: 'other', idType: 13, data: new Uint8Array(0) } }, // ID_NULL
  ];
  assert.deepEqual(decodeIkeMessage(msg(...ids)).payloads, ids);
  // IPv6 addresses come back canonical (RFC 5952).
  const v6 = decodeIkeMessage(msg({ kind: 'idi', id: { type: 'ipv6', address: '2001:DB8:0:0:0:0:0:1' } })).payloads[0];
  assert.ok(v6?.kind === 'idi' && v6.id.type === 'ipv6' && v6.id.address === '2001:db8::1');
  const v4 = msg(ids[0]!);
  expectDecodeError(() => decodeIkeMessage(withBody(v4, 0, Uint8Array.of(1, 0, 0, 0, 192, 0, 2, 1, 0))), 'bad-value', 'ike-idi');
  expectDecodeError(() => decodeIkeMessage(withBody(v4, 0, Uint8Array.of(2, 0, 0, 0, 0x61, 0, 0x62))), 'bad-value', 'ike-idi'); // NUL in FQDN
  expectDecodeError(() => decodeIkeMessage(withBody(v4, 0, Uint8Array.of(2, 0, 0, 0, 0x61, 0x0d))), 'bad-value', 'ike-idi'); // CR
  expectDecodeError(() => decodeIkeMessage(withBody(v4, 0, Uint8Array.of(2, 0, 0, 0))), 'bad-value', 'ike-idi'); // empty FQDN
  expectDecodeError(() => decodeIkeMessage(withBody(v4, 0, Uint8Array.of(3, 0, 0, 0, 0xc3, 0x28))), 'bad-value', 'ike-idi'); // bad UTF-8
  expectDecodeError(() => decodeIkeMessage(withBody(v4, 0, Uint8Array.of(9, 0, 0, 0))), 'bad-value', 'ike-idi'); // empty DN
  assert.throws(() => msg({ kind: 'idi', id: { type: 'fqdn', value: 'a\nb' } }), RangeError);
  assert.throws(() => msg({ kind: 'idi', id: { type: 'ipv4', address: '2001:db8::1' } }), RangeError);
  assert.throws(() => msg({ kind: 'idi', id: { type: 'other', idType: 1, data: new Uint8Array(4) } }), RangeError);
  // RFC 7296 §2.15 signs the ID payload body as received: rawBodies keeps the reserved octets.
  const reservedSet = edited(v4, (b) => (b[33] = 0x5a));
  const d = decodeIkeMessage(reservedSet);
  assert.deepEqual(d.payloads, [ids[0]]);
  assert.deepEqual(d.rawBodies[0], Uint8Array.of(1, 0x5a, 0, 0, 192, 0, 2, 1));
  assert.deepEqual(encodePayloadBody(ids[0]!), Uint8Array.of(1, 0, 0, 0, 192, 0, 2, 1));
});

test('Notify: SPI sizes, protocol IDs, typed notification data', () => {
  const rekey = notifyPayload(NotifyType.REKEY_SA, undefined, { protocolId: ProtocolId.ESP, spi: Uint8Array.of(1, 2, 3, 4) });
  assert.deepEqual(decodeIkeMessage(msg(rekey)).payloads, [rekey]);
  const b = msg(rekey);
  const off = payloadOffset(b, 0) + 4;
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off] = ProtocolId.NONE))), 'bad-value', 'ike-notify');
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off] = ProtocolId.IKE))), 'bad-value', 'ike-notify');
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off] = 4))), 'bad-value', 'ike-notify');
  // An SPI of 8 bytes for the IKE SA: "the SPI Size MUST be zero".
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 8, 0x40, 0x09, ...new Uint8Array(8)))), 'bad-value', 'ike-notify');
  // The empty-SPI protocol ID is kept as received (RFC: ignored on receipt).
  const p1 = decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 0, 0x40, 0x00))).payloads[0];
  assert.ok(p1?.kind === 'notify' && p1.protocolId === 1 && p1.notifyType === NotifyType.INITIAL_CONTACT);

  const typed: [number, Uint8Array][] = [
    [NotifyType.INVALID_KE_PAYLOAD, encodeNotifyData(NotifyType.INVALID_KE_PAYLOAD, 31)],
    [NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, encodeNotifyData(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, 99)],
    [NotifyType.COOKIE, new Uint8Array(64)],
    [NotifyType.NAT_DETECTION_SOURCE_IP, new Uint8Array(20)],
    [NotifyType.SIGNATURE_HASH_ALGORITHMS, encodeNotifyData(NotifyType.SIGNATURE_HASH_ALGORITHMS, [2, 3, 4])],
  ];
  for (const [type, data] of typed) assert.equal(decodeIkeMessage(msg(notifyPayload(type, data))).payloads.length, 1);
  assert.deepEqual(encodeNotifyData(NotifyType.INVALID_KE_PAYLOAD, 31), Uint8Array.of(0, 31));
  assert.equal(decodeNotifyData(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.of(0, 19)), 19);
  assert.deepEqual(decodeNotifyData(NotifyType.SIGNATURE_HASH_ALGORITHMS, Uint8Array.of(0, 2, 0, 4)), [2, 4]);
  assert.deepEqual(decodeNotifyData(NotifyType.IPCOMP_SUPPORTED, Uint8Array.of(0x12, 0x34, 2)), { cpi: 0x1234, transformId: 2 });
  assert.equal(decodeNotifyData(NotifyType.ADDITIONAL_IP6_ADDRESS, encodeNotifyData(NotifyType.ADDITIONAL_IP6_ADDRESS, '2001:db8::7')), '2001:db8::7');
  const bad: [number, number[]][] = [
    [NotifyType.INVALID_KE_PAYLOAD, [0, 31, 0]],
    [NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, []],
    [NotifyType.COOKIE, []],
    [NotifyType.COOKIE, Array(65).fill(1)],
    [NotifyType.NAT_DETECTION_DESTINATION_IP, Array(19).fill(1)],
    [NotifyType.SIGNATURE_HASH_ALGORITHMS, [0, 2, 0]],
    [NotifyType.SET_WINDOW_SIZE, [0, 0, 0, 0]],
    [NotifyType.INVALID_MESSAGE_ID, [0, 0, 1]],
  ];
  for (const [type, data] of bad) {
    const body = Uint8Array.of(0, 0, type >> 8, type & 0xff, ...data);
    expectDecodeError(() => decodeIkeMessage(withBody(b, 0, body)), 'bad-value', 'ike-notify');
    assert.throws(() => msg(notifyPayload(type, Uint8Array.from(data))), RangeError);
  }
  const found = findNotify(decodeIkeMessage(msg(notifyPayload(NotifyType.COOKIE, Uint8Array.of(7)))).payloads, NotifyType.COOKIE);
  assert.deepEqual(found?.data, Uint8Array.of(7));
});

test('Delete: IKE without SPIs, AH/ESP with 4-byte SPIs, counts', () => {
  const ike: IkePayload = { kind: 'delete', protocolId: ProtocolId.IKE, spis: [] };
  const espDel: IkePayload = { kind: 'delete', protocolId: ProtocolId.ESP, spis: [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5, 6, 7, 8)] };
  assert.deepEqual(decodeIkeMessage(msg(ike, espDel)).payloads, [ike, espDel]);
  const b = msg(espDel);
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 4, 0, 1, 1, 2, 3, 4))), 'bad-value', 'ike-delete'); // IKE with an SPI
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(3, 8, 0, 1, ...new Uint8Array(8)))), 'bad-value', 'ike-delete');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(3, 4, 0, 3, ...new Uint8Array(8)))), 'truncated', 'ike-delete');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(3, 4, 0, 1, ...new Uint8Array(8)))), 'bad-length', 'ike-delete');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(4, 4, 0, 0))), 'bad-value', 'ike-delete');
  assert.throws(() => msg({ kind: 'delete', protocolId: ProtocolId.IKE, spis: [new Uint8Array(8)] }), RangeError);
  assert.throws(() => msg({ kind: 'delete', protocolId: ProtocolId.ESP, spis: [new Uint8Array(3)] }), RangeError);
});

test('TS: counts, selector lengths, ports, unknown TS types kept', () => {
  const ts: IkePayload = {
    kind: 'tsi',
    selectors: [
      { type: 'ipv4', ipProtocol: 6, startPort: 0, endPort: 65535, startAddress: '10.0.0.0', endAddress: '10.0.0.255' },
      { type: 'ipv6', ipProtocol: 0, startPort: 65535, endPort: 0, startAddress: '::', endAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
      { type: 'other', tsType: 9, ipProtocol: 0, data: new Uint8Array(12) },
    ],
  };
  assert.deepEqual(decodeIkeMessage(msg(ts)).payloads, [ts]);
  const b = msg(ts);
  const off = payloadOffset(b, 0) + 4;
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off] = 0))), 'bad-value', 'ike-tsi');
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off] = 4))), 'truncated', 'ike-tsi');
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off] = 2))), 'bad-length', 'ike-tsi');
  // Selector Length of a TS_IPV4_ADDR_RANGE must be 16.
  const one = msg({ kind: 'tsr', selectors: [ts.selectors[0]!] });
  const sel = payloadOffset(one, 0) + 8;
  expectDecodeError(() => decodeIkeMessage(withBody(one, 0, Uint8Array.of(1, 0, 0, 0, 7, 0, 0, 20, ...new Uint8Array(16)))), 'bad-length', 'ike-tsr');
  expectDecodeError(() => decodeIkeMessage(edited(one, (x) => (x[sel + 3] = 3))), 'bad-length', 'ike-tsr');
  // start port > end port, other than OPAQUE (65535..0).
  const reversed = edited(one, (x) => {
    x[sel + 4] = 1; // start port 256
    x[sel + 6] = 0; // end port 255
  });
  expectDecodeError(() => decodeIkeMessage(reversed), 'bad-value', 'ike-tsr');
  assert.throws(() => msg({ kind: 'tsi', selectors: [{ ...ts.selectors[0]!, startPort: 10, endPort: 9 } as never] }), RangeError);
  assert.throws(() => msg({ kind: 'tsi', selectors: [] }), RangeError);
  // TS_FC_ADDR_RANGE (RFC 4595) is kept raw but must have its fixed 16 bytes.
  expectDecodeError(() => decodeIkeMessage(withBody(one, 0, Uint8Array.of(1, 0, 0, 0, 9, 0, 0, 8, 1, 2, 3, 4))), 'bad-length', 'ike-tsr');
  assert.throws(() => msg({ kind: 'tsi', selectors: [{ type: 'other', tsType: 9, ipProtocol: 0, data: new Uint8Array(4) }] }), RangeError);
  assert.throws(() => msg({ kind: 'tsi', selectors: [{ type: 'ipv4', ipProtocol: 0, startPort: 0, endPort: 0, startAddress: '::1', endAddress: '::1' }] }), RangeError);
});

test('CP: attribute lengths by type, R bit ignored, typed values', () => {
  const cp: IkePayload = {
    kind: 'cp',
    cfgType: CfgType.REPLY,
    attributes: [
      cpAttribute(CpAttributeType.INTERNAL_IP4_ADDRESS, { format: 'ip4', address: '10.9.0.1' }),
      cpAttribute(CpAttributeType.INTERNAL_IP4_DNS, { format: 'empty' }),
      cpAttribute(CpAttributeType.INTERNAL_IP4_SUBNET, { format: 'ip4-subnet', address: '10.2.0.0', netmask: '255.255.255.0' }),
      cpAttribute(CpAttributeType.INTERNAL_IP6_ADDRESS, { format: 'ip6-prefix', address: 'fd00::5', prefixLength: 64 }),
      cpAttribute(CpAttributeType.SUPPORTED_ATTRIBUTES, { format: 'types', types: [1, 3] }),
      cpAttribute(CpAttributeType.APPLICATION_VERSION, { format: 'text', text: 'keyplane 0.1' }),
    ],
  };
  const d = decodeIkeMessage(msg(cp));
  assert.deepEqual(d.payloads, [cp]);
  const attrs = (d.payloads[0] as Extract<IkePayload, { kind: 'cp' }>).attributes;
  assert.deepEqual(attrs.map(cpValue), [
    { format: 'ip4', address: '10.9.0.1' },
    { format: 'empty' },
    { format: 'ip4-subnet', address: '10.2.0.0', netmask: '255.255.255.0' },
    { format: 'ip6-prefix', address: 'fd00::5', prefixLength: 64 },
    { format: 'types', types: [1, 3] },
    { format: 'text', text: 'keyplane 0.1' },
  ]);
  const b = msg(cp);
  const first = payloadOffset(b, 0) + 8;
  const rBit = decodeIkeMessage(edited(b, (x) => (x[first] = 0x80)));
  assert.deepEqual(rBit.payloads, [cp]);
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 0, 0, 0, 0, 1, 0, 3, 1, 2, 3))), 'bad-value', 'ike-cp');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 0, 0, 0, 0, 8, 0, 17, ...new Uint8Array(16), 129))), 'bad-value', 'ike-cp');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 0, 0, 0, 0, 14, 0, 1, 0))), 'bad-value', 'ike-cp');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 0, 0, 0, 0, 1, 0, 4, 1))), 'truncated', 'ike-cp');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(0, 0, 0, 0))), 'bad-value', 'ike-cp');
  expectDecodeError(() => decodeIkeMessage(withBody(b, 0, Uint8Array.of(1, 0, 0, 0, 0, 7, 0, 2, 0x41, 0))), 'bad-value', 'ike-cp'); // NUL in APPLICATION_VERSION
  assert.throws(() => cpAttribute(CpAttributeType.APPLICATION_VERSION, { format: 'text', text: 'née' }), RangeError);
  assert.throws(() => cpAttribute(CpAttributeType.INTERNAL_IP4_DNS, { format: 'ip6', address: '::1' }), RangeError);
  assert.throws(() => msg({ kind: 'cp', cfgType: 1, attributes: [{ type: CpAttributeType.INTERNAL_IP4_ADDRESS, value: new Uint8Array(3) }] }), RangeError);
});

test('EAP: the EAP Length field must be the message length', () => {
  const eap = Uint8Array.of(1, 7, 0, 6, 1, 0x41);
  assert.deepEqual(decodeIkeMessage(msg({ kind: 'eap', message: eap })).payloads, [{ kind: 'eap', message: eap }]);
  expectDecodeError(() => decodeIkeMessage(withBody(msg({ kind: 'eap', message: eap }), 0, Uint8Array.of(1, 7, 0, 7, 1, 0x41))), 'bad-value', 'ike-eap');
  expectDecodeError(() => decodeIkeMessage(withBody(msg({ kind: 'eap', message: eap }), 0, Uint8Array.of(1, 7, 0))), 'bad-length', 'ike-eap');
});

test('SK and SKF: last payload only, never nested, fragment numbering', () => {
  const sk: IkePayload = { kind: 'sk', nextPayload: PayloadType.IDI, body: new Uint8Array(48) };
  const m = decodeIkeMessage(msg(notifyPayload(NotifyType.COOKIE, Uint8Array.of(1)), sk));
  assert.deepEqual(m.payloads[1], sk);
  assert.throws(() => msg(sk, { kind: 'nonce', nonce: new Uint8Array(16) }), RangeError);
  // Bytes after an SK payload (its length shortened): it must be the last payload.
  const b = msg(sk);
  const off = payloadOffset(b, 0);
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[off + 3] = 4 + 40))), 'bad-length');
  // SK inside decrypted payloads.
  const inner = encodePayloads([sk]);
  expectDecodeError(() => decodePayloads(inner.firstPayload, inner.bytes), 'bad-value');
  const frag = (n: number, total: number, next: number): IkePayload => ({ kind: 'skf', nextPayload: next, fragmentNumber: n, totalFragments: total, body: new Uint8Array(32) });
  for (const f of [frag(1, 1, 35), frag(1, 3, 35), frag(3, 3, 0)]) assert.deepEqual(decodeIkeMessage(msg(f)).payloads, [f]);
  const f2 = msg(frag(2, 3, 0));
  const fo = payloadOffset(f2, 0);
  expectDecodeError(() => decodeIkeMessage(edited(f2, (x) => (x[fo] = 35))), 'bad-value', 'ike-skf'); // RFC 7383 §2.5
  expectDecodeError(() => decodeIkeMessage(edited(f2, (x) => (x[fo + 5] = 4))), 'bad-value', 'ike-skf'); // 4 of 3
  expectDecodeError(() => decodeIkeMessage(edited(f2, (x) => (x[fo + 5] = 0))), 'bad-value', 'ike-skf'); // fragment 0
  assert.throws(() => msg(frag(2, 3, 35)), RangeError);
  assert.throws(() => msg(frag(4, 3, 0)), RangeError);
});

test('unknown payloads: critical ones fail with their type, others are kept (RFC 7296 §2.5)', () => {
  const unknown: IkePayload = { kind: 'unknown', type: 200, critical: false, body: Uint8Array.of(1, 2, 3) };
  const nonce: IkePayload = { kind: 'nonce', nonce: new Uint8Array(16) };
  const b = msg(unknown, nonce);
  assert.deepEqual(decodeIkeMessage(b).payloads, [unknown, nonce]);
  const critical = edited(b, (x) => (x[29] = 0x80));
  const e = expectDecodeError(() => decodeIkeMessage(critical), 'unsupported', 'ike-payload');
  assert.ok(e instanceof IkeCriticalPayloadError && e.payloadType === 200);
  // The critical bit of a known payload is ignored.
  const knownCritical = edited(b, (x) => (x[payloadOffset(b, 1) + 1] = 0x80));
  assert.deepEqual(decodeIkeMessage(knownCritical).payloads, [unknown, nonce]);
  // Also inside decrypted payloads (the engine answers UNSUPPORTED_CRITICAL_PAYLOAD there too).
  const inner = encodePayloads([{ ...unknown, critical: true }, nonce]);
  const ie = expectDecodeError(() => decodePayloads(inner.firstPayload, inner.bytes), 'unsupported');
  assert.ok(ie instanceof IkeCriticalPayloadError && ie.payloadType === 200);
  // A chain broken after the critical payload is malformed, not "unsupported".
  const broken = edited(critical, (x) => (x[payloadOffset(b, 1) + 3] = 21));
  expectDecodeError(() => decodeIkeMessage(broken), 'truncated');
  // IKEv1 payload types are unknown to IKEv2 too.
  const v1 = edited(b, (x) => (x[16] = 1));
  assert.deepEqual(decodeIkeMessage(v1).payloads[0], { ...unknown, type: 1 });
  assert.throws(() => msg({ kind: 'unknown', type: PayloadType.NONCE, critical: false, body: new Uint8Array(0) }), RangeError);
  assert.throws(() => msg({ kind: 'unknown', type: 0, critical: false, body: new Uint8Array(0) }), RangeError);
});

test('chain: payload lengths and the end of the chain', () => {
  const b = msg({ kind: 'vendor', data: Uint8Array.of(1, 2) }, { kind: 'vendor', data: Uint8Array.of(3) });
  const second = payloadOffset(b, 1);
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[31] = 3))), 'bad-length'); // length < 4
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[31] = 200))), 'truncated');
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[second] = PayloadType.VENDOR_ID))), 'truncated'); // chain says more
  expectDecodeError(() => decodeIkeMessage(edited(b, (x) => (x[28] = 0))), 'bad-length'); // chain ends early
  assert.deepEqual(decodePayloads(0, new Uint8Array(0)), { payloads: [], rawBodies: [] });
});

test('RFC 7427 signature authentication data', () => {
  // AlgorithmIdentifier of sha256WithRSAEncryption (RFC 7427 Appendix A.4.3).
  const algorithmIdentifier = Uint8Array.from(Buffer.from('300d06092a864886f70d01010b0500', 'hex'));
  const signature = new Uint8Array(256).fill(7);
  const data = encodeSignatureAuthData({ algorithmIdentifier, signature });
  assert.equal(data[0], 15);
  assert.deepEqual(decodeSignatureAuthData(data), { algorithmIdentifier, signature });
  expectDecodeError(() => decodeSignatureAuthData(Uint8Array.of(0, 1)), 'bad-value', 'ike-auth');
  expectDecodeError(() => decodeSignatureAuthData(data.subarray(0, 16)), 'truncated', 'ike-auth');
  expectDecodeError(() => decodeSignatureAuthData(data.subarray(0, 10)), 'truncated', 'ike-auth');
  assert.throws(() => encodeSignatureAuthData({ algorithmIdentifier, signature: new Uint8Array(0) }), RangeError);
});

test('encoders refuse what cannot be sent', () => {
  assert.throws(() => encodeIkeMessage({ header: { ...header, initiatorSpi: new Uint8Array(7) }, payloads: [] }), RangeError);
  assert.throws(() => encodeIkeMessage({ header: { ...header, messageId: -1 }, payloads: [] }), RangeError);
  assert.throws(() => encodeIkeMessage({ header: { ...header, exchangeType: 256 }, payloads: [] }), RangeError);
  assert.throws(() => encodeIkeMessage({ header: { ...header, minorVersion: 16 }, payloads: [] }), RangeError);
  assert.throws(() => msg({ kind: 'ke', group: 70000, data: Uint8Array.of(1) }), RangeError);
  assert.throws(() => msg({ kind: 'vendor', data: new Uint8Array(65532) }), RangeError); // payload > 65535
  assert.throws(() => msg({ kind: 'bogus' } as unknown as IkePayload), RangeError);
  // Everything thrown for bad input is a RangeError, never a DecodeError or TypeError.
  try {
    msg({ kind: 'sa', proposals: 'x' } as unknown as IkePayload);
    assert.fail('no error');
  } catch (e) {
    assert.ok(e instanceof RangeError && !(e instanceof DecodeError), String(e));
  }
});
