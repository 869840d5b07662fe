// The control-channel envelope (src/wire/control-message.ts) and the keyroll items
// (src/wire/control-keyroll.ts): byte layout, round trips, and strict rejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeControlMessage, encodeControlMessage, type ControlMessage } from '../../src/wire/control-message.js';
import { ControlItemType, ControlMessageType } from '../../src/wire/control-types.js';
import {
  decodeKeyrollDistribution,
  decodeKeyrollEphemeral,
  decodeKeyrollRequest,
  decodeKeyrollResync,
  encodeKeyrollDistribution,
  encodeKeyrollEphemeral,
  encodeKeyrollRequest,
  encodeKeyrollResync,
  readKeyrollItems,
  type KeyrollDistribution,
} from '../../src/wire/control-keyroll.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function rejects(fn: () => unknown, reason: DecodeError['reason']): void {
  assert.throws(fn, (e: unknown) => e instanceof DecodeError && e.reason === reason);
}

test('envelope layout: version | type | flags | reserved | message ID | items (type with critical bit, length, value)', () => {
  const m: ControlMessage = {
    type: ControlMessageType.REGISTRATION,
    messageId: 0xdeadbeef,
    items: [
      { type: ControlItemType.KEYROLL_UPDATE_REQUEST, critical: true, value: hex('00000007') },
      { type: 0x0201, critical: false, value: hex('abcd') },
    ],
  };
  const bytes = encodeControlMessage(m);
  assert.equal(Buffer.from(bytes).toString('hex'), '01010000deadbeef' + '81020004' + '00000007' + '02010002' + 'abcd');
  assert.deepEqual(decodeControlMessage(bytes), { ...m, items: m.items.map((i) => ({ ...i, value: Buffer.from(i.value) })) });
});

test('envelope: strict decoding', () => {
  const ok = hex('01020000 00000001');
  assert.equal(decodeControlMessage(ok).messageId, 1);
  rejects(() => decodeControlMessage(hex('010200000000')), 'truncated');
  rejects(() => decodeControlMessage(hex('02020000 00000001')), 'bad-version');
  rejects(() => decodeControlMessage(hex('01090000 00000001')), 'unsupported');
  rejects(() => decodeControlMessage(hex('01020100 00000001')), 'bad-value');
  rejects(() => decodeControlMessage(hex('01020001 00000001')), 'bad-value');
  rejects(() => decodeControlMessage(hex('01020000 00000000')), 'bad-value');
  rejects(() => decodeControlMessage(hex('01020000 00000001 0101')), 'truncated'); // half an item header
  rejects(() => decodeControlMessage(hex('01020000 00000001 01010005 00000000')), 'truncated'); // value beyond the end
  // An unknown critical item makes the message unusable; an unknown non-critical one is kept.
  rejects(() => decodeControlMessage(hex('01020000 00000001 f0000000'), (t) => t < 0x7000), 'unsupported');
  assert.equal(decodeControlMessage(hex('01020000 00000001 70000000'), (t) => t < 0x7000).items[0]?.type, 0x7000);
  const many = Buffer.concat([hex('01020000 00000001'), Buffer.alloc(65 * 4)]);
  rejects(() => decodeControlMessage(many), 'bad-length');
});

test('envelope encoder refuses what the decoder would refuse', () => {
  assert.throws(() => encodeControlMessage({ type: ControlMessageType.NOTICE, messageId: 0, items: [] }), RangeError);
  assert.throws(() => encodeControlMessage({ type: 9 as never, messageId: 1, items: [] }), RangeError);
  assert.throws(() => encodeControlMessage({ type: ControlMessageType.NOTICE, messageId: 1, items: [{ type: 0x8001, critical: false, value: new Uint8Array() }] }), RangeError);
});

const dist: KeyrollDistribution = {
  kind: 'rotation',
  generation: 9,
  spi: 0x0a0b0c0d,
  seed: Buffer.alloc(32, 0x5a),
  ephemeral: { keId: 31, senderPublic: Buffer.alloc(32, 1), receiverPublic: Buffer.alloc(32, 2) },
};

test('keyroll items: layout and round trips', () => {
  const req = encodeKeyrollRequest({ kind: 'resend', generation: 4 });
  assert.equal(req.type, ControlItemType.KEYROLL_RESEND_REQUEST);
  assert.deepEqual(decodeKeyrollRequest(req), { kind: 'resend', generation: 4 });
  const eph = encodeKeyrollEphemeral({ keId: 31, publicKey: Buffer.alloc(32, 7) });
  assert.equal(Buffer.from(eph.value).toString('hex'), '001f' + '07'.repeat(32));
  assert.deepEqual(decodeKeyrollEphemeral(eph), { keId: 31, publicKey: Buffer.alloc(32, 7) });
  const d = encodeKeyrollDistribution(dist);
  assert.equal(Buffer.from(d.value).subarray(0, 12).toString('hex'), '0200001f000000090a0b0c0d');
  assert.deepEqual(decodeKeyrollDistribution(d), dist);
  const plain = { ...dist, kind: 'init' as const, ephemeral: null };
  assert.equal(encodeKeyrollDistribution(plain).value.length, 12 + 32);
  assert.deepEqual(decodeKeyrollDistribution(encodeKeyrollDistribution(plain)), plain);
  assert.deepEqual(decodeKeyrollResync(encodeKeyrollResync({ spi: 1001, nextSequence: 77 })), { spi: 1001, nextSequence: 77 });
});

test('keyroll items: strict decoding', () => {
  const d = Buffer.from(encodeKeyrollDistribution(dist).value);
  const item = (value: Uint8Array, type: number = ControlItemType.KEYROLL_DISTRIBUTION) => ({ type, critical: true, value });
  rejects(() => decodeKeyrollDistribution(item(d.subarray(0, 43))), 'truncated');
  rejects(() => decodeKeyrollDistribution(item(d.subarray(0, d.length - 1))), 'bad-length');
  for (const [offset, byte, reason] of [
    [0, 3, 'bad-value'], // kind
    [1, 1, 'bad-value'], // reserved
    [3, 99, 'unsupported'], // KE method
  ] as const) {
    const bad = Buffer.from(d);
    bad[offset] = byte;
    rejects(() => decodeKeyrollDistribution(item(bad)), reason);
  }
  const gen0 = Buffer.from(d);
  gen0.writeUInt32BE(0, 4);
  rejects(() => decodeKeyrollDistribution(item(gen0)), 'bad-value');
  const spi255 = Buffer.from(d);
  spi255.writeUInt32BE(255, 8);
  rejects(() => decodeKeyrollDistribution(item(spi255)), 'bad-value');
  rejects(() => decodeKeyrollRequest(item(hex('000000'), ControlItemType.KEYROLL_INIT_REQUEST)), 'bad-length');
  rejects(() => decodeKeyrollEphemeral(item(hex('001f00'), ControlItemType.KEYROLL_EPHEMERAL)), 'bad-length');
  rejects(() => decodeKeyrollEphemeral(item(hex('0063'), ControlItemType.KEYROLL_EPHEMERAL)), 'unsupported');
  rejects(() => decodeKeyrollResync(item(hex('000003e900000000'), ControlItemType.KEYROLL_RESYNC)), 'bad-value');
});

test('readKeyrollItems: at most one request / distribution / ephemeral / resync; other services\' items passed on', () => {
  const items = [
    encodeKeyrollRequest({ kind: 'update', generation: 3 }),
    encodeKeyrollEphemeral({ keId: 31, publicKey: Buffer.alloc(32, 1) }),
    { type: 0x0201, critical: false, value: hex('01') },
  ];
  const r = readKeyrollItems({ type: ControlMessageType.REGISTRATION, messageId: 5, items });
  assert.equal(r.request?.kind, 'update');
  assert.equal(r.others.length, 1);
  rejects(
    () => readKeyrollItems({ type: ControlMessageType.REGISTRATION, messageId: 5, items: [...items, encodeKeyrollRequest({ kind: 'init', generation: 0 })] }),
    'bad-value',
  );
});
