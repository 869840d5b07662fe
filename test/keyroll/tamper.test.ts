// Protection of the channel: tampered, replayed and foreign packets are counted drops that
// change nothing; a replayed init request never re-initialises; init requests are
// rate-limited per receiver; restarts keep working without (and with) key loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Duo, DEVICE } from './duo.js';
import { spiOf } from './inspect.js';
import { KeySender } from '../../src/keyroll/sender.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { RESYNC_MARGIN } from '../../src/keyroll/sender-peer.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../../src/keyroll/params.js';
import { Prng } from '../../src/sim/prng.js';
import { prngSource } from './duo.js';

function drops(counters: Record<string, number>): number {
  return Object.entries(counters)
    .filter(([k]) => k.startsWith('keyroll.drop.'))
    .reduce((n, [, v]) => n + v, 0);
}

function established(variant: 'explicit' | 'spi' = 'explicit', forwardSecrecy = true): Duo {
  const d = new Duo({ variant, forwardSecrecy, sender: { rotationPeriodMs: 40_000 } });
  d.roundTrip();
  d.roundTrip();
  return d;
}

// Every single-bit flip of `packet` (SPI, sequence, IV, ciphertext, ICV).
function* bitFlips(packet: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < packet.length * 8; i++) {
    const copy = Buffer.from(packet);
    copy[i >> 3]! ^= 1 << (i & 7);
    yield copy;
  }
}

test('tampered packets (every single-bit flip) are dropped and counted in both directions, and move no window', () => {
  const d = established();
  // Receiver -> sender: a registration.
  d.receiverTimer();
  const [registration] = d.toSender.splice(0);
  const sBefore = JSON.stringify(d.sview());
  let n = 0;
  for (const forged of bitFlips(registration!)) {
    assert.deepEqual(d.sender.handle({ type: 'packet', bytes: forged }, d.now), []);
    n += 1;
  }
  assert.equal(drops(d.sender.counters.snapshot()), n);
  assert.ok(d.sender.counters.get('keyroll.drop.auth') > 0 && d.sender.counters.get('keyroll.drop.unknown-spi') > 0);
  assert.equal(JSON.stringify(d.sview()), sBefore);
  // The genuine packet still goes through: forged sequence numbers did not move the window.
  d.toSender.push(registration!);
  d.deliverToSender();
  const [reply] = d.toReceiver.splice(0);
  assert.ok(reply !== undefined);
  // Sender -> receiver: the acknowledgement.
  const rBefore = JSON.stringify(d.rview());
  const rDrops = drops(d.receiver.counters.snapshot());
  let m = 0;
  for (const forged of bitFlips(reply)) {
    assert.deepEqual(d.receiver.handle({ type: 'packet', bytes: forged }, d.now), []);
    m += 1;
  }
  assert.equal(drops(d.receiver.counters.snapshot()) - rDrops, m);
  assert.equal(JSON.stringify(d.rview()), rBefore);
  d.toReceiver.push(reply);
  d.deliverToReceiver();
  assert.equal(d.rview().outstanding, null, 'the genuine answer is accepted afterwards');
});

test('replayed packets are dropped and counted (per-key anti-replay window, RFC 4303 §3.4.3)', () => {
  const d = established();
  d.receiverTimer();
  const [registration] = d.toSender;
  d.deliverToSender();
  const [reply] = d.toReceiver;
  d.deliverToReceiver();
  const s = JSON.stringify(d.sview());
  const r = JSON.stringify(d.rview());
  assert.deepEqual(d.sender.handle({ type: 'packet', bytes: registration! }, d.now), []);
  assert.deepEqual(d.receiver.handle({ type: 'packet', bytes: reply! }, d.now), []);
  assert.equal(d.sender.counters.get('keyroll.drop.replay'), 1);
  assert.equal(d.receiver.counters.get('keyroll.drop.replay'), 1);
  assert.equal(JSON.stringify(d.sview()), s);
  assert.equal(JSON.stringify(d.rview()), r);
});

test('foreign packets (another channel with the same SPIs, unknown SPIs) are dropped and counted', () => {
  const a = established('explicit');
  const b = new Duo({ variant: 'explicit', seed: 99 }); // another controller/agent pair, same init SPI 1001
  b.receiverTimer();
  const bInit = b.toSender[0]!;
  assert.equal(spiOf(bInit), spiOf(a.toSender[0] ?? bInit));
  assert.deepEqual(a.sender.handle({ type: 'packet', bytes: bInit }, a.now), []);
  assert.equal(a.sender.counters.get('keyroll.drop.auth'), 1);
  b.deliverToSender();
  const bReply = b.toReceiver[0]!;
  a.receiverInput({ type: 'reinitialise' }); // make a's receiver accept the init key SPI
  const before = JSON.stringify(a.rview());
  assert.deepEqual(a.receiver.handle({ type: 'packet', bytes: bReply }, a.now), []);
  assert.equal(a.receiver.counters.get('keyroll.drop.auth'), 1);
  assert.equal(JSON.stringify(a.rview()), before);
  const unknown = Buffer.from(bReply);
  unknown.writeUInt32BE(0x7777_7777, 0);
  a.receiver.handle({ type: 'packet', bytes: unknown }, a.now);
  a.sender.handle({ type: 'packet', bytes: unknown }, a.now);
  assert.equal(a.receiver.counters.get('keyroll.drop.unknown-spi'), 1);
  assert.equal(a.sender.counters.get('keyroll.drop.unknown-spi'), 1);
});

test('receivers of one sender are isolated: one cannot use or read another\'s keys', () => {
  const prng = Prng.fromSeed(7);
  const sender = new KeySender(defaultSenderOptions({ random: prngSource(prng.fork('s')), rotationPeriodMs: null }));
  const params = ['agent-a', 'agent-b'].map((deviceId, i) => ({
    deviceId,
    initKey: prng.bytes(32),
    initSpi: 1001 + i * 1000,
    variant: 'explicit' as const,
    forwardSecrecy: true,
  }));
  const receivers = params.map((p) => {
    sender.addReceiver(p, 0);
    return new KeyReceiver(p, defaultReceiverOptions({ random: prngSource(prng.fork(p.deviceId)) }), 0);
  });
  // Each registers (init), gets K1, and registers again (proof): remember the last packets.
  const last: { up: Uint8Array; down: Uint8Array }[] = [];
  for (const [i, r] of receivers.entries()) {
    let up: Uint8Array = Buffer.alloc(0);
    let down: Uint8Array = Buffer.alloc(0);
    for (let round = 0; round < 2; round++) {
      const now = round * 30_000;
      for (const o of r.handle({ type: 'tick' }, now)) if (o.type === 'send') up = o.bytes;
      for (const o of sender.handle({ type: 'packet', bytes: up }, now)) {
        if (o.type === 'send') {
          assert.equal(o.deviceId, params[i]!.deviceId, 'answers go to the receiver that asked');
          down = o.bytes;
        }
      }
      r.handle({ type: 'packet', bytes: down }, now);
    }
    last.push({ up, down });
  }
  const [a, b] = receivers.map((r) => r.view());
  assert.notEqual(a!.latest!.fingerprint, b!.latest!.fingerprint);
  const before = JSON.stringify([sender.view('agent-a', 30_000), sender.view('agent-b', 30_000), a, b]);
  // A's registration presented under B's key SPI: B's key does not authenticate it.
  const asB = Buffer.from(last[0]!.up);
  asB.writeUInt32BE(b!.latest!.spi, 0);
  asB.writeUInt32BE(1000, 4); // a sequence number B's window has not seen: only the ICV can stop it
  assert.deepEqual(sender.handle({ type: 'packet', bytes: asB }, 30_000), []);
  assert.equal(sender.counters.get('keyroll.drop.auth'), 1);
  // A's acknowledgement delivered to B: unknown SPI; relabelled with B's SPI: no ICV.
  assert.deepEqual(receivers[1]!.handle({ type: 'packet', bytes: last[0]!.down }, 30_000), []);
  const relabelled = Buffer.from(last[0]!.down);
  relabelled.writeUInt32BE(b!.latest!.spi, 0);
  relabelled.writeUInt32BE(1000, 4);
  assert.deepEqual(receivers[1]!.handle({ type: 'packet', bytes: relabelled }, 30_000), []);
  assert.equal(receivers[1]!.counters.get('keyroll.drop.unknown-spi'), 1);
  assert.equal(receivers[1]!.counters.get('keyroll.drop.auth'), 1);
  const after = JSON.stringify([sender.view('agent-a', 30_000), sender.view('agent-b', 30_000), receivers[0]!.view(), receivers[1]!.view()]);
  assert.equal(after, before, 'nothing changed anywhere');
});

test('a replayed init request does not re-initialise, nor does a late copy after the chain moved on', () => {
  const d = new Duo({ variant: 'explicit', sender: { rotationPeriodMs: 40_000 } });
  d.receiverTimer();
  const [first] = d.toSender.splice(0); // init request, sequence 1: held back
  d.receiverTimer(); // reply timeout: the same init request again, sequence 2
  const [second] = d.toSender.splice(0);
  d.toSender.push(first!);
  d.deliverToSender(); // K1 for the first copy
  const [reply] = d.toReceiver.splice(0);
  d.toReceiver.push(reply!);
  d.deliverToReceiver();
  d.roundTrip(); // proof
  d.advance(40_000);
  d.roundTrip(); // rotation to generation 2
  d.roundTrip();
  const keys = JSON.stringify(d.sview());
  assert.equal(d.senderEvents.filter((e) => e.name === 'initialised').length, 1);
  // 1) the exact init packet again: replay
  d.sender.handle({ type: 'packet', bytes: first! }, d.now);
  assert.equal(d.sender.counters.get('keyroll.drop.replay'), 1);
  // 2) the retransmitted copy (higher sequence number, same message): must not undo the
  // rotation although it is fresh as a packet
  d.sender.handle({ type: 'packet', bytes: second! }, d.now);
  assert.equal(d.sender.counters.get('keyroll.drop.stale-init'), 1);
  // 3) many more replays
  for (let i = 0; i < 20; i++) d.sender.handle({ type: 'packet', bytes: i % 2 === 0 ? first! : second! }, d.now);
  assert.equal(d.senderEvents.filter((e) => e.name === 'initialised').length, 1, 'never re-initialised');
  assert.equal(JSON.stringify(d.sview()), keys);
  d.roundTrip();
  assert.equal(d.rview().outstanding, null, 'the channel still works');
});

test('init requests are rate-limited per receiver (burst, then tokens per minute)', () => {
  const d = new Duo({ variant: 'explicit', sender: { initRateLimit: { perMinute: 6, burst: 3 } } });
  d.roundTrip(); // startup init: one init token (no chain yet, so no cookie needed)
  // A misbehaving agent re-initialising in a loop, each time with a new ephemeral value
  // and message, i.e. a genuine request each time (the first one fetches a cookie, the
  // others reuse it while it is valid).
  for (let i = 0; i < 6; i++) {
    d.receiverInput({ type: 'reinitialise' });
    d.settle();
  }
  const count = (name: string): number => d.senderEvents.filter((e) => e.name === name).length;
  assert.equal(count('initialised'), 3, 'burst of 3: the startup init and 2 more');
  assert.equal(count('init-rate-limited'), 4);
  assert.equal(d.sender.counters.get('keyroll.init.rate-limited'), 4);
  assert.ok(d.sview().initTokens < 1);
  assert.equal(d.rview().initPending, true);
  // 10 s later one token (6 per minute) is back: the agent's pending init request,
  // retransmitted on its timer, goes through.
  d.advance(10_000);
  d.receiverTimer();
  d.settle();
  assert.equal(count('initialised'), 4);
  assert.equal(d.rview().initPending, false);
  assert.equal(d.rview().latest?.fingerprint, d.sview().latest?.fingerprint);
  // Rate limiting belongs to the receiver: another agent is not affected.
  const other = new KeySender(d.senderOptions);
  other.addReceiver(d.params, d.now);
  assert.equal(other.view(DEVICE, d.now).initTokens, 3);
});

test('an earlier life\'s init requests that already carry a valid cookie cannot destroy the new life\'s chain (resync margin)', () => {
  const d = new Duo({ variant: 'explicit', receiver: { replyTimeoutMs: 500, registrationIntervalMs: 5_000 } });
  d.roundTrip();
  d.roundTrip();
  const t0 = d.now;
  // Old life: an init request, answered with a cookie; the agent's next transmissions of
  // it (with the cookie) are held back by the network.
  d.receiverInput({ type: 'reinitialise' });
  d.deliverToSender(); // cookie notice
  d.deliverToReceiver(); // echo with the cookie...
  const held = d.toSender.splice(0);
  for (let i = 0; i < 4; i++) {
    d.receiverTimer(); // ...and its retransmissions, all lost for now
    held.push(...d.toSender.splice(0));
  }
  d.restartReceiver(false);
  d.receiverTimer();
  d.settle(); // resync, cookie, initialisation of the new life
  d.roundTrip();
  const chain = JSON.stringify(d.sview());
  assert.equal(d.rview().latest?.fingerprint, d.sview().latest?.fingerprint);
  // The held packets are seconds old: their cookie is still valid. The resync put the new
  // life far above their sequence numbers, so they are stale.
  assert.ok(d.now - t0 < 30_000, 'within the cookie lifetime');
  const top = d.sender.durable(DEVICE).initTopSeq;
  const fresh = held.filter((p) => Buffer.from(p).readUInt32BE(4) > top).length;
  for (const p of held) d.sender.handle({ type: 'packet', bytes: p }, d.now);
  assert.equal(fresh, 0);
  assert.equal(JSON.stringify(d.sview()), chain);
  d.roundTrip();
  assert.equal(d.rview().outstanding, null);
});

test('notices answering stale init packets (resync, cookie) are rate-limited apart from initialisations', () => {
  const d = new Duo({ variant: 'spi', sender: { initRateLimit: { perMinute: 6, burst: 3 } } });
  d.receiverTimer();
  const [init] = d.toSender;
  d.settle();
  d.roundTrip();
  const tokens = d.sview().initTokens;
  let notices = 0;
  for (let i = 0; i < 10; i++) {
    for (const o of d.sender.handle({ type: 'packet', bytes: init! }, d.now)) if (o.type === 'event' && o.event.name === 'resync-sent') notices += 1;
  }
  assert.equal(d.sender.counters.get('keyroll.drop.replay'), 10);
  assert.equal(notices, 3);
  assert.equal(d.sender.counters.get('keyroll.notice.rate-limited'), 7);
  assert.equal(d.sview().initTokens, tokens, 'replays did not use up the initialisation tokens');
});

test('receiver restart with key loss: its init sequence numbers restart and are resynchronised, then it initialises', () => {
  const d = established();
  d.roundTrip();
  d.restartReceiver(false);
  d.receiverTimer(); // init request with sequence number 1 again
  d.deliverToSender();
  assert.equal(d.sender.counters.get('keyroll.drop.replay'), 1, 'stale init sequence number');
  assert.deepEqual(d.senderEvents.filter((e) => e.name === 'resync-sent').length, 1);
  d.deliverToReceiver(); // the resync notice: retransmit above the sender's top at once
  assert.ok(d.receiverEvents.some((e) => e.name === 'resynced'));
  d.settle(); // cookie (the sender still holds the old chain), then the initialisation
  assert.ok(d.receiverEvents.some((e) => e.name === 'challenged'));
  assert.equal(d.rview().initPending, false);
  assert.equal(d.rview().latest?.fingerprint, d.sview().latest?.fingerprint);
});

test('an init request recorded in an earlier life of the agent cannot destroy the chain of its new life', () => {
  const d = established();
  // Old life: init requests and retransmissions that never reached the sender (an
  // attacker held them), more of them than the resync margin.
  d.receiverInput({ type: 'reinitialise' });
  for (let i = 0; i < RESYNC_MARGIN + 40; i++) d.receiverTimer();
  const recorded = d.toSender.splice(0);
  d.restartReceiver(false); // the agent loses everything, counters included
  d.receiverTimer();
  d.settle(); // resync, cookie, initialisation
  d.roundTrip();
  const chain = JSON.stringify(d.sview());
  assert.equal(d.rview().latest?.fingerprint, d.sview().latest?.fingerprint);
  // Most old packets are below the resynchronised top (the margin), but the last ones
  // are above it: fresh as packets. Without a cookie for them they still change nothing
  // (at most a rate-limited cookie notice).
  const top = d.sender.durable(DEVICE).initTopSeq;
  const above = recorded.filter((p) => Buffer.from(p).readUInt32BE(4) > top);
  assert.ok(above.length > 0 && above.length < recorded.length, 'some replays pass the sequence check');
  const cookies = d.sender.counters.get('keyroll.init.cookie-sent');
  for (const p of recorded) d.sender.handle({ type: 'packet', bytes: p }, d.now);
  assert.ok(d.sender.counters.get('keyroll.init.cookie-sent') > cookies);
  assert.equal(JSON.stringify(d.sview()), chain);
  d.roundTrip();
  assert.equal(d.rview().outstanding, null);
});

test('restarts without key loss continue with the stored keys: no initialisation, no replay drops', () => {
  for (const variant of ['explicit', 'spi'] as const) {
    const d = established(variant);
    for (let i = 0; i < 3; i++) d.roundTrip(); // rotates on the way (40 s timer)
    const before = { s: d.sview(), r: d.rview() };
    assert.ok(before.s.latest!.generation >= 2);
    d.restartReceiver(true);
    d.restartSender(true);
    assert.equal(d.rview().latest?.fingerprint, before.r.latest?.fingerprint);
    assert.equal(d.sview().latest?.fingerprint, before.s.latest?.fingerprint);
    for (let i = 0; i < 4; i++) d.roundTrip();
    assert.equal(d.receiverEvents.filter((e) => e.name === 'init-started').length, 1, `${variant}: only the startup init`);
    assert.equal(d.sender.counters.get('keyroll.drop.replay') + d.receiver.counters.get('keyroll.drop.replay'), 0);
    assert.ok(d.rview().latest!.generation > before.r.latest!.generation, 'and keeps rotating');
    assert.equal(d.rview().latest?.fingerprint, d.sview().latest?.fingerprint);
  }
});

test('arbitrary bytes into either end never throw and are always counted drops', () => {
  const d = established('spi');
  let fed = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, toSender) => {
      const before = toSender ? drops(d.sender.counters.snapshot()) : drops(d.receiver.counters.snapshot());
      const out = toSender ? d.sender.handle({ type: 'packet', bytes }, d.now) : d.receiver.handle({ type: 'packet', bytes }, d.now);
      fed += 1;
      const after = toSender ? drops(d.sender.counters.snapshot()) : drops(d.receiver.counters.snapshot());
      return out.length === 0 && after === before + 1;
    }),
    { numRuns: 2000, seed: 4 },
  );
  assert.equal(fed, 2000);
});
