// The seed-000 settings items (src/wire/control-settings.ts): byte layout as documented
// in the codec, round trips of every message kind, and strict rejection of each
// malformation the format forbids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeSettingsItem,
  encodeSettingsItem,
  isSettingsItemType,
  readSettingsItems,
  type SettingsMessage,
} from '../../src/wire/control-settings.js';
import { decodeControlMessage, encodeControlMessage, type ControlItem } from '../../src/wire/control-message.js';
import { ControlItemType, ControlMessageType } from '../../src/wire/control-types.js';
import { encodeKeyrollRequest } from '../../src/wire/control-keyroll.js';
import { expectDecodeError } from '../wire/fuzz.js';
import { arbActivation, arbDistribution, arbError, arbMessage, arbRequest } from './codec-arb.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]+/g, ''), 'hex');
const item = (type: number, value: string): ControlItem => ({ type, critical: true, value: hex(value) });
const RUNS = 300;

// ---------------------------------------------------------------------- layouts

const REQUEST_HEX = '000003e9 | 04 c0000201 | 04 c0000202 | 000013ec | 02 06 01bb';
const REQUEST: SettingsMessage = {
  kind: 'request',
  request: { requestId: 1001, requester: '192.0.2.1', peer: '192.0.2.2', spi: 5100, flow: { protocol: 6, port: 443 } },
};

const KEY_A = '11'.repeat(20);
const KEY_B = '22'.repeat(20);
const POLICY_HEX = '32 01 0014 0080 0000 00 00000e10'; // ESP, tunnel, ENCR 20 / 128 bits, no INTEG, no ESN, 3600 s
const DISTRIBUTION_HEX = `00000001 | 04 0a000001 | 04 0a000002 | 00 00 0000 | 0123456789abcdef | ${POLICY_HEX} | 00000200 14 ${KEY_A} 00 | 00000300 14 ${KEY_B} 00`;
const DISTRIBUTION: SettingsMessage = {
  kind: 'distribution',
  distribution: {
    requestId: 1,
    requester: '10.0.0.1',
    peer: '10.0.0.2',
    flow: null,
    entryId: '0123456789abcdef',
    policy: { protocol: 'esp', mode: 'tunnel', encryption: { id: 20, keyBits: 128 }, integrity: null, esn: false, lifetimeSeconds: 3600 },
    toPeer: { spi: 512, encryptionKey: new Uint8Array(hex(KEY_A)), integrityKey: null },
    fromPeer: { spi: 768, encryptionKey: new Uint8Array(hex(KEY_B)), integrityKey: null },
  },
};

const ACTIVATION_HEX = '10 20010db8000000000000000000000001 | 01 11 0000';
const ACTIVATION: SettingsMessage = { kind: 'activation', activation: { peer: '2001:db8::1', flow: { protocol: 17, port: null } } };

// The seed's Fig. 10: entries 1001/5100 and 1002/5110.
const ERROR_HEX = '02 | 000003e9 | 04 c0000201 | 04 c0000202 | 00 00 0000 | 0002 000003e9 000013ec 000003ea 000013f6 | 02 6869';
const ERROR: SettingsMessage = {
  kind: 'error',
  error: {
    kind: 'mismatch',
    requestId: 1001,
    requester: '192.0.2.1',
    peer: '192.0.2.2',
    flow: null,
    entries: [
      { requestId: 1001, spi: 5100 },
      { requestId: 1002, spi: 5110 },
    ],
    reason: 'hi',
  },
};

test('layouts: request, distribution, activation, error (items 0x0201-0x0204, always critical)', () => {
  for (const [m, type, value] of [
    [REQUEST, ControlItemType.SETTINGS_REQUEST, REQUEST_HEX],
    [DISTRIBUTION, ControlItemType.SETTINGS_DISTRIBUTION, DISTRIBUTION_HEX],
    [ACTIVATION, ControlItemType.SETTINGS_ACTIVATION, ACTIVATION_HEX],
    [ERROR, ControlItemType.SETTINGS_ERROR, ERROR_HEX],
  ] as const) {
    const it = encodeSettingsItem(m);
    assert.equal(it.type, type);
    assert.equal(it.critical, true);
    assert.equal(Buffer.from(it.value).toString('hex'), hex(value).toString('hex'), m.kind);
    assert.deepEqual(decodeSettingsItem(item(type, value)), m);
  }
});

test('round trip: every message kind', () => {
  for (const [name, arb] of [
    ['request', arbRequest.map((request) => ({ kind: 'request' as const, request }))],
    ['distribution', arbDistribution.map((distribution) => ({ kind: 'distribution' as const, distribution }))],
    ['activation', arbActivation.map((activation) => ({ kind: 'activation' as const, activation }))],
    ['error', arbError.map((error) => ({ kind: 'error' as const, error }))],
  ] as const) {
    fc.assert(
      fc.property(arb as fc.Arbitrary<SettingsMessage>, (m) => {
        const it = encodeSettingsItem(m);
        assert.deepEqual(decodeSettingsItem(it), m, name);
        // One encoding per message.
        assert.deepEqual(Buffer.from(encodeSettingsItem(decodeSettingsItem(it)).value), Buffer.from(it.value));
      }),
      { numRuns: RUNS, seed: 1 },
    );
  }
});

test('round trip through the control envelope; readSettingsItems keeps settings items, in order, and skips the rest', () => {
  fc.assert(
    fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 4 }), (ms) => {
      const items = [
        encodeKeyrollRequest({ kind: 'update', generation: 3 }),
        ...ms.map(encodeSettingsItem),
        { type: 0x02ff, critical: false, value: hex('abcd') }, // a future settings item
      ];
      const bytes = encodeControlMessage({ type: ControlMessageType.PUSH, messageId: 9, items });
      const m = decodeControlMessage(bytes, (t) => isSettingsItemType(t) || t === ControlItemType.KEYROLL_UPDATE_REQUEST);
      assert.deepEqual(readSettingsItems(m.items), ms);
    }),
    { numRuns: 100, seed: 2 },
  );
  assert.deepEqual(
    [0x0200, 0x0201, 0x0202, 0x0203, 0x0204, 0x0205, 0x0104].map(isSettingsItemType),
    [false, true, true, true, true, false, false],
  );
  // One malformed settings item spoils the call.
  expectDecodeError(() => readSettingsItems([encodeSettingsItem(REQUEST), item(0x0201, '000001')]), 'truncated');
});

test('IPv6 addresses come back in RFC 5952 form', () => {
  const m = decodeSettingsItem(item(0x0203, '10 20010db8000000000000000000000001 00 00 0000'));
  assert.deepEqual(m, { kind: 'activation', activation: { peer: '2001:db8::1', flow: null } });
  const sent = encodeSettingsItem({ kind: 'activation', activation: { peer: '2001:DB8:0:0:0:0:0:1', flow: null } });
  assert.deepEqual(decodeSettingsItem(sent), m);
});

// ---------------------------------------------------------------------- rejection

function rejects(type: number, value: string, reason: Parameters<typeof expectDecodeError>[1]): void {
  expectDecodeError(() => decodeSettingsItem(item(type, value)), reason);
}

test('request: request ID 0, reserved SPI, address not 4/16 bytes, bad flow, truncation and trailing bytes are DecodeErrors', () => {
  const R = ControlItemType.SETTINGS_REQUEST;
  const req = (id: string, a: string, p: string, spi: string, flow: string) => `${id} | ${a} | ${p} | ${spi} | ${flow}`;
  const ok = ['000003e9', '04 c0000201', '04 c0000202', '000013ec', '00 00 0000'] as const;
  assert.deepEqual(decodeSettingsItem(item(R, req(...ok))).kind, 'request');
  rejects(R, req('00000000', ok[1], ok[2], ok[3], ok[4]), 'bad-value'); // request ID 0
  for (const spi of ['00000000', '00000001', '000000ff']) rejects(R, req(ok[0], ok[1], ok[2], spi, ok[4]), 'bad-value');
  assert.equal(decodeSettingsItem(item(R, req(ok[0], ok[1], ok[2], '00000100', ok[4]))).kind, 'request', 'SPI 256 is fine');
  rejects(R, req(ok[0], '05 c000020101', ok[2], ok[3], ok[4]), 'bad-length'); // 5-byte address
  rejects(R, req(ok[0], '00', ok[2], ok[3], ok[4]), 'bad-length'); // empty address
  rejects(R, req(ok[0], ok[1], '10 c0000202', ok[3], ok[4]), 'truncated'); // claims 16, has 4 + rest
  rejects(R, req(ok[0], ok[1], ok[2], ok[3], '03 06 0000'), 'bad-value'); // flow kind 3
  rejects(R, req(ok[0], ok[1], ok[2], ok[3], '00 06 0000'), 'bad-value'); // no flow, but a protocol
  rejects(R, req(ok[0], ok[1], ok[2], ok[3], '01 06 01bb'), 'bad-value'); // any port, but a port
  rejects(R, req(ok[0], ok[1], ok[2], ok[3], '02 06 0000'), 'bad-value'); // flow port 0
  rejects(R, req(...ok) + '00', 'bad-length'); // trailing byte
  const full = hex(req(...ok)).toString('hex');
  for (let n = 0; n < full.length / 2; n++) rejects(R, full.slice(0, 2 * n), 'truncated');
  expectDecodeError(() => decodeSettingsItem({ type: 0x0205, critical: true, value: hex(full) }), 'bad-value');
});

test('distribution: lifetime 0, bad protocol/mode/ESN, reserved SPI, key lengths, integrity key without integrity are DecodeErrors', () => {
  const T = ControlItemType.SETTINGS_DISTRIBUTION;
  const head = '00000001 | 04 0a000001 | 04 0a000002 | 00 00 0000 | 0123456789abcdef';
  const sa = (spi: string, enc: string, integ = '00') => `${spi} ${(enc.length / 2).toString(16).padStart(2, '0')} ${enc} ${integ}`;
  const dist = (policy: string, to: string, from: string) => `${head} | ${policy} | ${to} | ${from}`;
  const good = dist(POLICY_HEX, sa('00000200', KEY_A), sa('00000300', KEY_B));
  assert.deepEqual(decodeSettingsItem(item(T, good)), DISTRIBUTION);
  rejects(T, dist('32 01 0014 0080 0000 00 00000000', sa('00000200', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // lifetime 0
  rejects(T, dist('32 01 0014 0080 0000 00 80000000', sa('00000200', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // lifetime 2^31
  rejects(T, dist('33 01 0014 0080 0000 00 00000e10', sa('00000200', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // AH (51)
  rejects(T, dist('32 03 0014 0080 0000 00 00000e10', sa('00000200', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // mode 3
  rejects(T, dist('32 01 0014 0080 0000 02 00000e10', sa('00000200', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // ESN 2
  rejects(T, dist('32 01 0000 0080 0000 00 00000e10', sa('00000200', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // ENCR 0
  rejects(T, dist(POLICY_HEX, sa('000000ff', KEY_A), sa('00000300', KEY_B)), 'bad-value'); // reserved SPI
  rejects(T, dist(POLICY_HEX, sa('00000200', KEY_A), sa('00000000', KEY_B)), 'bad-value');
  rejects(T, dist(POLICY_HEX, `00000200 00 00`, sa('00000300', KEY_B)), 'bad-length'); // empty encryption key
  rejects(T, dist(POLICY_HEX, sa('00000200', 'ab'.repeat(65)), sa('00000300', 'ab'.repeat(65))), 'bad-length'); // 65 bytes
  rejects(T, dist(POLICY_HEX, sa('00000200', KEY_A, '01 ff'), sa('00000300', KEY_B, '01 ff')), 'bad-value'); // integrity key, no INTEG
  const cbcPolicy = '32 02 000c 0080 000c 01 00000e10'; // CBC + HMAC-SHA2-256-128, transport, ESN
  const ik = '33'.repeat(32);
  const cbc = decodeSettingsItem(item(T, dist(cbcPolicy, sa('00000200', KEY_A.slice(0, 32), `20 ${ik}`), sa('00000300', KEY_B.slice(0, 32), `20 ${ik}`))));
  assert.equal(cbc.kind === 'distribution' && cbc.distribution.policy.integrity?.id, 12);
  rejects(T, dist(cbcPolicy, sa('00000200', KEY_A.slice(0, 32)), sa('00000300', KEY_B.slice(0, 32))), 'bad-value'); // INTEG without keys
  rejects(T, dist(POLICY_HEX, sa('00000200', KEY_A), sa('00000300', KEY_B.slice(2))), 'bad-value'); // directions differ
  rejects(T, good + '00', 'bad-length');
  rejects(T, hex(good).subarray(0, -1).toString('hex'), 'truncated');
});

test('error: unknown kind, entries outside a mismatch, bad entries, reason > 200 bytes or not UTF-8 are DecodeErrors', () => {
  const T = ControlItemType.SETTINGS_ERROR;
  const err = (kind: string, entries: string, reason: string) => `${kind} | 000003e9 | 04 c0000201 | 04 c0000202 | 00 00 0000 | ${entries} | ${reason}`;
  assert.deepEqual(decodeSettingsItem(item(T, err('02', '0002 000003e9 000013ec 000003ea 000013f6', '02 6869'))), ERROR);
  for (const k of ['00', '05', 'ff']) rejects(T, err(k, '0000', '00'), 'bad-value');
  for (const [k, kind] of [
    ['01', 'no-policy'],
    ['03', 'no-response'],
    ['04', 'refused'],
  ]) {
    const m = decodeSettingsItem(item(T, err(k!, '0000', '00')));
    assert.equal(m.kind === 'error' && m.error.kind, kind);
    rejects(T, err(k!, '0001 000003e9 000013ec', '00'), 'bad-value'); // entries only for a mismatch
  }
  rejects(T, err('02', '0001 00000000 000013ec', '00'), 'bad-value'); // entry request ID 0
  rejects(T, err('02', '0001 000003e9 000000ff', '00'), 'bad-value'); // entry SPI reserved
  rejects(T, err('02', '0003 000003e9 000013ec', '00'), 'truncated'); // count beyond the bytes
  const long = (n: number) => `${n.toString(16).padStart(2, '0')} ${'61'.repeat(n)}`;
  assert.equal(decodeSettingsItem(item(T, err('01', '0000', long(200)))).kind, 'error');
  rejects(T, err('01', '0000', long(201)), 'bad-length');
  rejects(T, err('01', '0000', '02 c328'), 'bad-value'); // invalid UTF-8
  rejects(T, err('01', '0000', '02 eda080'.slice(0, 8)), 'bad-value'); // truncated sequence
  rejects(T, err('01', '0000', '03 eda080'), 'bad-value'); // an encoded surrogate
  // A BOM is text like any other: kept, so the item re-encodes identically.
  const bom = decodeSettingsItem(item(T, err('01', '0000', '03 efbbbf')));
  assert.equal(bom.kind === 'error' && bom.error.reason, '\ufeff');
  assert.equal(Buffer.from(encodeSettingsItem(bom).value).toString('hex'), hex(err('01', '0000', '03 efbbbf')).toString('hex'));
});

test('activation: bad address or flow, trailing bytes are DecodeErrors', () => {
  const T = ControlItemType.SETTINGS_ACTIVATION;
  rejects(T, '06 c00002010000 | 00 00 0000', 'bad-length');
  rejects(T, '04 c0000201 | 02 11 0000', 'bad-value');
  rejects(T, '04 c0000201 | 00 00 0000 | 00', 'bad-length');
  rejects(T, '04 c0000201 | 00 00', 'truncated');
});

test('encoding refuses values the format cannot carry (RangeError)', () => {
  const bad: SettingsMessage[] = [
    { kind: 'request', request: { ...reqOf(REQUEST), spi: 255 } },
    { kind: 'request', request: { ...reqOf(REQUEST), requestId: 0 } },
    { kind: 'request', request: { ...reqOf(REQUEST), requester: 'host.example' } },
    { kind: 'request', request: { ...reqOf(REQUEST), flow: { protocol: 6, port: 0 } } },
    { kind: 'request', request: { ...reqOf(REQUEST), flow: { protocol: 256, port: null } } },
    { kind: 'error', error: { ...errOf(ERROR), reason: 'x'.repeat(201) } },
    { kind: 'error', error: { ...errOf(ERROR), reason: '\ud800' } },
    { kind: 'error', error: { ...errOf(ERROR), kind: 'refused' } }, // entries outside a mismatch
    { kind: 'distribution', distribution: { ...distOf(DISTRIBUTION), entryId: '0123456789ABCDEF' } },
    { kind: 'distribution', distribution: { ...distOf(DISTRIBUTION), policy: { ...distOf(DISTRIBUTION).policy, lifetimeSeconds: 0 } } },
    { kind: 'distribution', distribution: { ...distOf(DISTRIBUTION), toPeer: { ...distOf(DISTRIBUTION).toPeer, integrityKey: new Uint8Array(4) } } },
    { kind: 'distribution', distribution: { ...distOf(DISTRIBUTION), toPeer: { ...distOf(DISTRIBUTION).toPeer, encryptionKey: new Uint8Array(65) } } },
  ];
  for (const m of bad) assert.throws(() => encodeSettingsItem(m), RangeError, JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? v.length : v)));
});

function reqOf(m: SettingsMessage) {
  assert.ok(m.kind === 'request');
  return m.request;
}
function errOf(m: SettingsMessage) {
  assert.ok(m.kind === 'error');
  return m.error;
}
function distOf(m: SettingsMessage) {
  assert.ok(m.kind === 'distribution');
  return m.distribution;
}
