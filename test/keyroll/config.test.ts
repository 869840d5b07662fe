// Configuration mistakes are refused with KeyrollError before anything runs; revocation
// (removeReceiver) turns a device's packets into unknown SPIs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeySender } from '../../src/keyroll/sender.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { KeyrollError } from '../../src/keyroll/errors.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../../src/keyroll/params.js';
import type { ChannelParams } from '../../src/keyroll/types.js';
import { Duo, DEVICE } from './duo.js';

const params: ChannelParams = { deviceId: 'd1', initKey: Buffer.alloc(32, 1), initSpi: 5000, variant: 'explicit', forwardSecrecy: true };

test('bad channel parameters and options are refused', () => {
  const s = new KeySender(defaultSenderOptions());
  const refused = (fn: () => unknown): void => assert.throws(fn, KeyrollError);
  refused(() => s.addReceiver({ ...params, initKey: Buffer.alloc(16) }, 0));
  refused(() => s.addReceiver({ ...params, initSpi: 255 }, 0));
  refused(() => s.addReceiver({ ...params, deviceId: '' }, 0));
  refused(() => s.addReceiver({ ...params, deviceId: 'x'.repeat(256) }, 0));
  refused(() => s.addReceiver({ ...params, variant: 'other' as never }, 0));
  s.addReceiver(params, 0);
  refused(() => s.addReceiver(params, 0)); // same device twice
  refused(() => s.addReceiver({ ...params, deviceId: 'd2' }, 0)); // same init SPI
  refused(() => s.view('nobody', 0));
  refused(() => new KeySender(defaultSenderOptions({ replayWindow: 8 })));
  refused(() => new KeySender(defaultSenderOptions({ initRateLimit: { perMinute: 0, burst: 1 } })));
  refused(() => new KeyReceiver(params, defaultReceiverOptions({ replyTimeoutMs: 0 }), 0));
  refused(() => new KeyReceiver(params, defaultReceiverOptions({ maxResends: -1 }), 0));
  refused(() => new KeyReceiver({ ...params, initKey: Buffer.alloc(31) }, defaultReceiverOptions(), 0));
});

test('a removed (revoked) device: its keys and SPIs are gone, its packets are unknown SPIs', () => {
  const d = new Duo({ variant: 'explicit' });
  d.roundTrip();
  d.roundTrip();
  d.receiverTimer();
  const [reg] = d.toSender.splice(0);
  d.sender.removeReceiver(DEVICE);
  assert.equal(d.sender.hasReceiver(DEVICE), false);
  assert.deepEqual(d.sender.handle({ type: 'packet', bytes: reg! }, d.now), []);
  assert.equal(d.sender.counters.get('keyroll.drop.unknown-spi'), 1);
  // Its init SPI is free again and answers nothing either.
  d.receiverInput({ type: 'reinitialise' });
  d.deliverToSender();
  assert.equal(d.sender.counters.get('keyroll.drop.unknown-spi'), 2);
});
