// Every flow of seed 004 (../shared/spec/004-two-generation-keys.md, "Flows" 1-11) driven
// step by step, and the seed's state table checked row by row. Flows 1-6 use explicit
// request messages, flows 7-11 the SPI-inferred variant. Forward secrecy is on (the
// default) unless a test says otherwise; it changes how keys are made, not the flows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duo } from './duo.js';
import { contains, openPacket, spiOf } from './inspect.js';
import type { KeyView, SenderEvent } from '../../src/keyroll/types.js';
import type { KeyDurable } from '../../src/keyroll/durable.js';
import { ChannelKey } from '../../src/keyroll/channel-key.js';
import { sealControl } from '../../src/keyroll/channel-esp.js';
import { ControlMessageType } from '../../src/wire/control-types.js';
import { encodeKeyrollDistribution } from '../../src/wire/control-keyroll.js';

// ---------------------------------------------------------------------------- helpers

type Label = string;

// The four key columns of the seed's table, each key named relative to generation `n`
// (`first` names generation 1 "K1" for the initialisation rows). The same name must be
// the same key (fingerprint) on both sides.
function tableRow(d: Duo, n: number, first = false): { senderSend: Label; senderReceive: Label[]; receiverSend: Label; receiverReceive: Label[] } {
  const s = d.sview();
  const r = d.rview();
  const name = (k: KeyView): Label => {
    if (k.role === 'init') return 'init';
    if (first && k.generation === 1) return 'K1';
    const rel = k.generation - n;
    return rel === 0 ? 'N' : rel > 0 ? `N+${rel}` : `N${rel}`;
  };
  const seen = new Map<Label, string>();
  for (const k of [s.send, ...s.receive, r.send, ...r.receive]) {
    const f = seen.get(name(k));
    if (f === undefined) seen.set(name(k), k.fingerprint);
    else assert.equal(k.fingerprint, f, `${name(k)} is not the same key on both sides`);
  }
  return {
    senderSend: name(s.send),
    senderReceive: s.receive.map(name).sort(),
    receiverSend: name(r.send),
    receiverReceive: r.receive.map(name).sort(),
  };
}

type KeyEvent = Extract<SenderEvent, { fingerprint: string }>;

function events(d: Duo, name: KeyEvent['name']): KeyEvent[] {
  return d.senderEvents.filter((e): e is KeyEvent => e.name === name);
}

function receiverEventNames(d: Duo): string[] {
  return d.receiverEvents.map((e) => ('kind' in e ? `${e.name}:${e.kind}` : 'reason' in e ? `${e.name}:${e.reason}` : e.name));
}

// Startup initialisation, then one registration under K1 (the proof that it holds it).
function initialised(d: Duo): void {
  assert.ok(d.roundTrip());
  assert.ok(d.roundTrip());
  assert.equal(d.rview().latest?.generation, 1);
  assert.equal(d.sview().latestProven, true);
}

// Initialised, rotated once by the sender's timer, proven: steady at N = 2 with N-1 = K1.
function steady(d: Duo): void {
  initialised(d);
  d.advance(d.senderOptions.rotationPeriodMs ?? 0);
  assert.ok(d.roundTrip());
  assert.ok(d.roundTrip());
  assert.equal(d.rview().latest?.generation, 2);
  assert.equal(d.sview().latestProven, true);
}

const SENDER_TIMER = { rotationPeriodMs: 120_000 };

// ------------------------------------------------------------------------- the table

test('state table: startup (sender send init, receive init; receiver send init, receive init)', () => {
  const d = new Duo({ variant: 'explicit' });
  assert.deepEqual(tableRow(d, 0), { senderSend: 'init', senderReceive: ['init'], receiverSend: 'init', receiverReceive: ['init'] });
  // The first thing the receiver does is an init request under the init key.
  assert.equal(d.receiverTimer(), 1);
  assert.equal(spiOf(d.toSender[0]!), d.params.initSpi);
});

test('state table: after init at sender (send init, receive {K1, init}; receiver init -> K1 on receipt)', () => {
  const d = new Duo({ variant: 'explicit' });
  d.receiverTimer();
  d.deliverToSender();
  assert.deepEqual(tableRow(d, 1, true), { senderSend: 'init', senderReceive: ['K1', 'init'], receiverSend: 'init', receiverReceive: ['init'] });
  d.deliverToReceiver();
  assert.deepEqual(tableRow(d, 1, true), { senderSend: 'init', senderReceive: ['K1', 'init'], receiverSend: 'K1', receiverReceive: ['K1', 'init'] });
});

test('state table: steady at N (sender send N-1, receive {N, N-1}; receiver send N, receive {N, N-1})', () => {
  const d = new Duo({ variant: 'explicit', sender: SENDER_TIMER });
  steady(d);
  assert.deepEqual(tableRow(d, 2), { senderSend: 'N-1', senderReceive: ['N', 'N-1'], receiverSend: 'N', receiverReceive: ['N', 'N-1'] });
});

test('state table: sender rotated, distribution lost (sender send N, receive {N+1, N}; receiver unchanged)', () => {
  const d = new Duo({ variant: 'explicit', sender: SENDER_TIMER });
  steady(d);
  d.advance(120_000);
  d.receiverTimer();
  d.deliverToSender();
  assert.equal(events(d, 'rotated').length, 2);
  d.deliverToReceiver({ drop: true });
  assert.deepEqual(tableRow(d, 2), { senderSend: 'N', senderReceive: ['N', 'N+1'], receiverSend: 'N', receiverReceive: ['N', 'N-1'] });
});

// ------------------------------------------------------------------ explicit messages

test('flow 1: startup: init request under the init key, sender makes K1 (send=init, receive={K1, init}), receiver sends with K1', () => {
  const d = new Duo({ variant: 'explicit' });
  d.receiverTimer();
  const [request] = d.toSender;
  // The request is an explicit init request protected with the init key.
  const seen = openPacket(d.params.initKey, d.params.initSpi, 'r2s', request!);
  assert.equal(seen?.items.request?.kind, 'init');
  assert.ok(seen?.items.ephemeral !== null, 'forward secrecy: the request carries an ephemeral value');
  d.deliverToSender();
  const [made] = events(d, 'initialised');
  assert.equal(made?.generation, 1);
  const s = d.sview();
  assert.equal(s.send.role, 'init');
  assert.deepEqual(s.receive.map((k) => k.role), ['dynamic', 'init']);
  // The distribution goes back under the init key, and never in the clear.
  const [reply] = d.toReceiver;
  assert.equal(spiOf(reply!), d.params.initSpi);
  const dist = d.senderDurable!.latestDistribution!;
  assert.equal(contains(reply!, dist.seed), false, 'the key seed is not visible in the packet');
  d.deliverToReceiver();
  const r = d.rview();
  assert.equal(r.send.fingerprint, made!.fingerprint, 'receiver sends with K1');
  assert.deepEqual(receiverEventNames(d), ['init-started:startup', 'installed:init']);
  // Its next registration is protected with K1 and proves it to the sender.
  d.roundTrip();
  assert.equal(d.sview().latestProven, true);
});

test('flow 2: init from a receiver that has keys (restart): sender makes a new key and drops N-1 (and N)', () => {
  const d = new Duo({ variant: 'explicit', sender: SENDER_TIMER });
  steady(d);
  const before = d.sview();
  const oldSpis = [before.latest!.spi, before.previous!.spi];
  d.restartReceiver(true); // it comes back with its keys...
  assert.equal(d.rview().latest?.fingerprint, before.latest?.fingerprint);
  d.receiverInput({ type: 'reinitialise' }); // ...and initialises anyway
  // While it waits it still accepts N and N-1 (the sender has not answered yet) and the
  // init key (for the answer); it sends with the init key.
  assert.deepEqual(tableRow(d, 2), { senderSend: 'N-1', senderReceive: ['N', 'N-1'], receiverSend: 'init', receiverReceive: ['N', 'N-1', 'init'].sort() });
  assert.equal(openPacket(d.params.initKey, d.params.initSpi, 'r2s', d.toSender[0]!)?.items.request?.kind, 'init');
  // Beyond the seed: giving up a working chain needs proof that the request is not an
  // old recording, so the sender first answers with a cookie and changes nothing.
  d.deliverToSender();
  assert.deepEqual(tableRow(d, 2).senderReceive, ['N', 'N-1']);
  const challenge = openPacket(d.params.initKey, d.params.initSpi, 's2r', d.toReceiver[0]!);
  assert.ok(challenge?.items.cookie !== null);
  d.deliverToReceiver(); // the receiver repeats its init request with the cookie
  assert.equal(openPacket(d.params.initKey, d.params.initSpi, 'r2s', d.toSender[0]!)?.items.cookie?.length, 16);
  d.deliverToSender();
  const s = d.sview();
  assert.equal(s.latest?.generation, 3);
  assert.equal(s.previous?.role, 'init', 'the init key plays N-1');
  assert.deepEqual(s.spiTable.map((e) => e.key), ['init', 'latest']);
  for (const spi of oldSpis) assert.ok(!s.spiTable.some((e) => e.spi === spi), `old SPI ${spi} retired`);
  d.deliverToReceiver();
  assert.deepEqual(tableRow(d, 3), { senderSend: 'init', senderReceive: ['N', 'init'], receiverSend: 'N', receiverReceive: ['N', 'init'] });
});

test('flow 3: receiver-triggered rotation: update request under N, sender makes N+1 (receive {N+1, N}, send N), receiver sends with N+1', () => {
  const d = new Duo({ variant: 'explicit', receiver: { rotationPeriodMs: 50_000 } });
  initialised(d); // N = K1 = generation 1
  const n = d.sview().latest!;
  // The rotation timer (50 s after installing K1) fires before the next heartbeat (30 s
  // after the last one).
  d.receiverTimer();
  assert.equal(d.rview().outstanding?.kind, 'update');
  const request = openPacket(d.senderDurable!.latest!.material, n.spi, 'r2s', d.toSender[0]!);
  assert.equal(request?.items.request?.kind, 'update');
  d.deliverToSender();
  const rotated = events(d, 'rotated');
  assert.equal(rotated.length, 1);
  assert.equal(rotated[0]?.name === 'rotated' && rotated[0].reason, 'update-request');
  assert.deepEqual(tableRow(d, 1), { senderSend: 'N', senderReceive: ['N', 'N+1'], receiverSend: 'N', receiverReceive: ['N', 'init'] });
  // The distribution travels under N (the sender's new send key), which the receiver has.
  assert.equal(spiOf(d.toReceiver[0]!), n.spi);
  d.deliverToReceiver();
  assert.deepEqual(tableRow(d, 2), { senderSend: 'N-1', senderReceive: ['N', 'N-1'], receiverSend: 'N', receiverReceive: ['N', 'N-1'] });
});

test('flow 4: distribution lost: no reply in time -> resend request -> the same latest key, never a new one', () => {
  const d = new Duo({ variant: 'explicit', receiver: { rotationPeriodMs: 50_000, maxResends: 3 } });
  initialised(d);
  d.receiverTimer(); // update request
  d.deliverToSender();
  const made = events(d, 'rotated')[0]!;
  d.deliverToReceiver({ drop: true });
  const keysMade = () => events(d, 'rotated').length + events(d, 'initialised').length;
  const before = keysMade();
  for (let attempt = 1; attempt <= 3; attempt++) {
    // Reply timeout -> resend request, still under N (the receiver has nothing newer).
    assert.equal(d.receiverTimer(), 1);
    assert.equal(d.rview().outstanding?.kind, 'resend');
    assert.equal(spiOf(d.toSender[0]!), d.rview().send.spi);
    assert.equal(openPacket(d.receiverDurable!.latest!.material, d.rview().send.spi, 'r2s', d.toSender[0]!)?.items.request?.kind, 'resend');
    d.deliverToSender();
    const resent = events(d, 'resent');
    assert.equal(resent.length, attempt);
    assert.equal(resent[attempt - 1]!.fingerprint, made.fingerprint, 'resend carries the same key');
    assert.equal(keysMade(), before, 'no key generated for a resend');
    if (attempt < 3) d.deliverToReceiver({ drop: true });
  }
  d.deliverToReceiver();
  assert.equal(d.rview().latest?.fingerprint, made.fingerprint);
  assert.deepEqual(receiverEventNames(d).slice(-4), ['timeout:update', 'timeout:resend', 'timeout:resend', 'installed:rotation']);
});

test('flow 5: sender lost its keys: receiver times out, retries once, then falls back to init', () => {
  const d = new Duo({ variant: 'explicit', receiver: { rotationPeriodMs: 50_000 } });
  initialised(d);
  d.restartSender(false); // all dynamic keys gone, only the init key left
  assert.deepEqual(tableRow(d, 1).senderReceive, ['init']);
  d.receiverTimer(); // the update request, under K1
  d.deliverToSender();
  assert.equal(d.toReceiver.length, 0);
  d.receiverTimer(); // timeout -> retry once (resend request), still under K1
  d.deliverToSender();
  assert.equal(d.sender.counters.get('keyroll.drop.unknown-spi'), 2);
  d.receiverTimer(); // timeout -> initialise
  assert.equal(spiOf(d.toSender[0]!), d.params.initSpi);
  d.deliverToSender();
  d.deliverToReceiver();
  assert.deepEqual(receiverEventNames(d).slice(-4), ['timeout:update', 'timeout:resend', 'init-started:timeouts', 'installed:init']);
  assert.deepEqual(tableRow(d, 1, true), { senderSend: 'init', senderReceive: ['K1', 'init'], receiverSend: 'K1', receiverReceive: ['K1', 'init'] });
});

test('flow 6: sender-triggered rotation: the timer sets the per-receiver flag, the key goes out on the next registration, flag cleared', () => {
  const d = new Duo({ variant: 'explicit', sender: { rotationPeriodMs: 40_000 } });
  initialised(d); // at t=30 s; K1 made at t=0
  assert.equal(d.sview().rotationDue, false);
  d.advance(11_000);
  assert.equal(d.sview().rotationDue, true, 'flag set when the timer expired');
  assert.equal(d.sender.nextDueMs(), Infinity, 'nothing is sent until the receiver registers');
  assert.equal(d.toReceiver.length, 0);
  d.receiverTimer(); // the periodic registration, no request in it
  const reg = openPacket(d.senderDurable!.latest!.material, d.sview().latest!.spi, 'r2s', d.toSender[0]!);
  assert.equal(reg?.items.request, null);
  d.deliverToSender();
  const rotated = events(d, 'rotated')[0];
  assert.equal(rotated?.name === 'rotated' && rotated.reason, 'timer');
  assert.equal(d.sview().rotationDue, false, 'flag cleared when the key is sent');
  d.deliverToReceiver();
  assert.equal(d.rview().latest?.fingerprint, rotated!.fingerprint);
});

// ----------------------------------------------------------------- SPI-inferred variant

test('flow 7: SPI variant startup: a registration under the init key (no request message) initialises', () => {
  const d = new Duo({ variant: 'spi' });
  d.receiverTimer();
  const seen = openPacket(d.params.initKey, d.params.initSpi, 'r2s', d.toSender[0]!);
  assert.ok(seen !== null);
  assert.equal(seen.items.request, null, 'no explicit request in the SPI variant');
  assert.equal(spiOf(d.toSender[0]!), 1001, 'init key <-> SPI 1001 as in the seed table');
  d.deliverToSender();
  assert.equal(events(d, 'initialised').length, 1);
  assert.deepEqual(tableRow(d, 1, true), { senderSend: 'init', senderReceive: ['K1', 'init'], receiverSend: 'init', receiverReceive: ['init'] });
  d.deliverToReceiver();
  assert.deepEqual(tableRow(d, 1, true), { senderSend: 'init', senderReceive: ['K1', 'init'], receiverSend: 'K1', receiverReceive: ['K1', 'init'] });
});

test('flow 8: SPI variant init from a receiver that has keys: the init key SPI means initialise; N-1 dropped', () => {
  const d = new Duo({ variant: 'spi', sender: SENDER_TIMER });
  steady(d);
  const old = d.sview();
  d.receiverInput({ type: 'reinitialise' });
  const seen = openPacket(d.params.initKey, d.params.initSpi, 'r2s', d.toSender[0]!);
  assert.equal(seen?.items.request, null);
  d.deliverToSender(); // cookie first (see flow 2), then the real initialisation
  assert.equal(d.sview().latest?.fingerprint, old.latest?.fingerprint);
  d.deliverToReceiver();
  d.deliverToSender();
  const s = d.sview();
  assert.equal(s.previous?.role, 'init');
  assert.ok(!s.spiTable.some((e) => e.spi === old.previous!.spi || e.spi === old.latest!.spi));
  d.deliverToReceiver();
  assert.deepEqual(tableRow(d, 3), { senderSend: 'init', senderReceive: ['N', 'init'], receiverSend: 'N', receiverReceive: ['N', 'init'] });
});

test('flow 9: SPI variant sender-triggered rotation: latest key + flag -> rotate, and only with proof of the latest key', () => {
  const d = new Duo({ variant: 'spi', sender: { rotationPeriodMs: 40_000 } });
  initialised(d);
  d.advance(11_000);
  d.receiverTimer(); // registration under N = K1: proof, and the flag is set
  d.deliverToSender();
  const first = events(d, 'rotated');
  assert.equal(first.length, 1);
  d.deliverToReceiver({ drop: true }); // distribution lost: the receiver still has only K1
  // The timer expires again before the receiver has the new key: a registration under
  // the sender's previous key must not rotate (that would leave two generations
  // undelivered); the flag stays up and the same key is re-sent.
  d.advance(45_000);
  d.receiverTimer(); // timeout of the lost one: plain registration under K1
  d.deliverToSender();
  assert.equal(events(d, 'rotated').length, 1, 'no rotation without proof');
  assert.equal(events(d, 'resent').length, 1);
  assert.equal(d.sview().rotationDue, true, 'flag kept');
  d.deliverToReceiver();
  assert.equal(d.rview().latest?.fingerprint, first[0]!.fingerprint);
  // Now the receiver proves N: the pending flag rotates at once.
  d.roundTrip();
  assert.equal(events(d, 'rotated').length, 2);
  assert.equal(d.rview().latest?.generation, 3);
});

test('flow 10: SPI variant distribution lost: registration under the sender\'s previous key -> the same key re-sent', () => {
  const e = new Duo({ variant: 'spi', sender: { rotationPeriodMs: 40_000 } });
  initialised(e);
  e.advance(11_000);
  e.receiverTimer();
  e.deliverToSender();
  const made = events(e, 'rotated')[0]!;
  e.deliverToReceiver({ drop: true });
  assert.deepEqual(tableRow(e, 1), { senderSend: 'N', senderReceive: ['N', 'N+1'], receiverSend: 'N', receiverReceive: ['N', 'init'] });
  e.receiverTimer(); // reply timeout: a plain registration again, under N
  const retry = openPacket(e.receiverDurable!.latest!.material, e.rview().send.spi, 'r2s', e.toSender[0]!);
  assert.equal(retry?.items.request, null, 'no resend request message in the SPI variant');
  e.deliverToSender();
  assert.deepEqual(
    events(e, 'resent').map((x) => x.fingerprint),
    [made.fingerprint],
  );
  assert.equal(events(e, 'rotated').length, 1);
  e.deliverToReceiver();
  assert.equal(e.rview().latest?.fingerprint, made.fingerprint);
});

test('flow 11: SPI variant sender lost its keys: receiver times out, retries once, then uses the init key', () => {
  const d = new Duo({ variant: 'spi' });
  initialised(d);
  d.restartSender(false);
  d.receiverTimer(); // heartbeat under K1
  d.deliverToSender();
  d.receiverTimer(); // timeout -> one retry under K1
  d.deliverToSender();
  assert.equal(d.sender.counters.get('keyroll.drop.unknown-spi'), 2);
  assert.equal(d.toReceiver.length, 0);
  d.receiverTimer(); // timeout -> init key
  assert.equal(spiOf(d.toSender[0]!), d.params.initSpi);
  d.deliverToSender();
  d.deliverToReceiver();
  assert.deepEqual(receiverEventNames(d).slice(-4), ['timeout:register', 'timeout:resend', 'init-started:timeouts', 'installed:init']);
  assert.deepEqual(tableRow(d, 1, true), { senderSend: 'init', senderReceive: ['K1', 'init'], receiverSend: 'K1', receiverReceive: ['K1', 'init'] });
});

// --------------------------------------------------------------------- idempotence

test('a duplicated distribution never shifts generations twice', () => {
  for (const variant of ['explicit', 'spi'] as const) {
    const d = new Duo({ variant, sender: { rotationPeriodMs: 40_000 } });
    initialised(d);
    d.advance(11_000);
    d.receiverTimer();
    d.deliverToSender();
    const reply = d.toReceiver[0]!;
    d.deliverToReceiver();
    const after = d.rview();
    // The same packet again, and a re-encrypted copy of the same answer (the sender's
    // duplicate suppression answering a retransmitted registration).
    d.toReceiver.push(reply);
    d.deliverToReceiver();
    assert.equal(d.receiver.counters.get('keyroll.drop.replay'), 1);
    assert.deepEqual(d.rview(), after);
    assert.equal(d.receiverEvents.filter((e) => e.name === 'installed').length, 2, `${variant}: K1 and one rotation only`);
  }
});

test('a distribution for a generation the receiver already holds is ignored even when it answers the outstanding message', () => {
  const d = new Duo({ variant: 'spi', sender: { rotationPeriodMs: 40_000 } });
  initialised(d);
  d.advance(11_000);
  d.roundTrip(); // rotation to generation 2
  const before = d.rview();
  assert.equal(before.latest?.generation, 2);
  const again = d.senderDurable!.latestDistribution!;
  // The receiver's next registration; the answer, forged by whoever holds the sender's
  // send key (generation 1), repeats the generation-2 distribution.
  d.receiverTimer();
  const reg = openPacket(d.receiverDurable!.latest!.material, before.latest!.spi, 'r2s', d.toSender.splice(0)[0]!)!;
  const sendKey = d.senderDurable!.previous as KeyDurable;
  const k = new ChannelKey(sendKey.material, sendKey.spi, sendKey.generation, false, 's2r', 0);
  k.sendSeq = 1000;
  const ack = sealControl(k, { type: ControlMessageType.REGISTRATION_ACK, messageId: reg.message.messageId, items: [encodeKeyrollDistribution(again)] }, (n) => d.prng.bytes(n))!;
  d.receiver.handle({ type: 'packet', bytes: ack.bytes }, d.now);
  assert.equal(d.receiver.counters.get('keyroll.duplicate-distribution'), 1);
  const after = d.rview();
  assert.equal(after.latest?.fingerprint, before.latest?.fingerprint, 'no second shift');
  assert.equal(after.previous?.fingerprint, before.previous?.fingerprint);
  assert.equal(after.outstanding, null, 'the registration counts as answered');
  d.receiverTimer();
  assert.equal(d.receiverEvents.filter((e) => e.name === 'init-started').length, 1, 'and nothing forces a re-initialisation');
});
