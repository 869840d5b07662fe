// The controller -> agent PUSH (control-types.ts) that seed-000 distributions and request
// activations ride on, and the agent's immediate send of attached items.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duo, DEVICE } from './duo.js';
import { ChannelKey } from '../../src/keyroll/channel-key.js';
import { sealControl } from '../../src/keyroll/channel-esp.js';
import { ControlMessageType } from '../../src/wire/control-types.js';
import type { ControlItem } from '../../src/wire/control-message.js';
import type { ReceiverOutput } from '../../src/keyroll/types.js';

const ITEM: ControlItem = { type: 0x0203, critical: false, value: Uint8Array.of(1, 2, 3) };

function delivered(outs: readonly ReceiverOutput[]): (readonly ControlItem[])[] {
  return outs.flatMap((o) => (o.type === 'deliver' ? [o.items] : []));
}

// Initialises the channel and proves K1 with one registration under it.
function keyed(variant: 'explicit' | 'spi'): Duo {
  const duo = new Duo({ variant });
  duo.roundTrip(); // init
  assert.ok(duo.rview().latest !== null);
  return duo;
}

for (const variant of ['explicit', 'spi'] as const) {
  test(`${variant}: no push before the agent has proven a distributed key (never under the init key)`, () => {
    const duo = keyed(variant);
    // K1 delivered but not yet used by the receiver: N-1 is the init key, N unproven.
    assert.deepEqual(duo.sender.push(DEVICE, [ITEM]), []);
    assert.equal(duo.sender.counters.get('keyroll.push.no-key'), 1);
  });

  test(`${variant}: a push after an empty attach (registration under K1) reaches the agent once`, () => {
    const duo = keyed(variant);
    duo.receiverInput({ type: 'attach', items: [] }); // registers now
    assert.equal(duo.toSender.length, 1, 'attach on an idle channel sends at once');
    duo.settle();
    const outs = duo.sender.push(DEVICE, [ITEM]);
    const sends = outs.filter((o) => o.type === 'send');
    assert.equal(sends.length, 1);
    const bytes = (sends[0] as { bytes: Uint8Array }).bytes;
    const first = duo.receiver.handle({ type: 'packet', bytes }, duo.now);
    const items = delivered(first);
    assert.equal(items.length, 1);
    assert.deepEqual(Buffer.from(items[0]![0]!.value), Buffer.from(ITEM.value));
    // The same packet again is a replay: not delivered twice.
    assert.deepEqual(delivered(duo.receiver.handle({ type: 'packet', bytes }, duo.now)), []);
    assert.ok(duo.receiver.counters.get('keyroll.drop.replay') >= 1);
  });
}

test('a PUSH sealed under the init key is dropped by the agent', () => {
  const duo = keyed('explicit');
  const init = new ChannelKey(duo.params.initKey, duo.params.initSpi, 0, true, 's2r', 64);
  init.sendSeq = 100; // past the sequence numbers the real sender used under the init key
  init.sendSeqReserved = 10_000;
  const sealed = sealControl(init, { type: ControlMessageType.PUSH, messageId: 7, items: [ITEM] }, (n) => new Uint8Array(n).fill(9));
  assert.ok(sealed !== null);
  const outs = duo.receiver.handle({ type: 'packet', bytes: sealed.bytes }, duo.now);
  assert.deepEqual(delivered(outs), []);
  assert.equal(duo.receiver.counters.get('keyroll.drop.push-under-init-key'), 1);
});

test('items attached while a registration is outstanding leave right after its answer', () => {
  const duo = keyed('explicit');
  duo.receiverInput({ type: 'attach', items: [] });
  assert.equal(duo.toSender.length, 1);
  duo.receiverInput({ type: 'attach', items: [ITEM] }); // outstanding: queued
  assert.equal(duo.toSender.length, 1);
  duo.deliverToSender();
  duo.deliverToReceiver(); // the answer
  assert.equal(duo.receiver.nextDueMs(), duo.now, 'due at once');
  assert.equal(duo.receiverTimer(), 1);
});

test('the attach queue is bounded: the oldest items are dropped and counted', () => {
  const duo = new Duo({ variant: 'explicit' }); // not keyed: everything queues
  for (let i = 0; i < 100; i++) duo.receiverInput({ type: 'attach', items: [ITEM] });
  assert.equal(duo.receiver.counters.get('keyroll.attach.dropped'), 100 - 64);
});
