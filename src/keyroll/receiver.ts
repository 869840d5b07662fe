// The key receiver (agent side of seed 004). It holds N and N-1 (the init key plays N-1
// right after an initialisation), sends with N and accepts both. It registers
// periodically; each registration waits for its acknowledgement, which may carry a key
// distribution. Timers (seed flows 3, 4, 5, 10, 11):
//   - reply wait: no answer within replyTimeoutMs -> a resend request (explicit) or a
//     plain registration under N (SPI variant: the sender sees its previous key and
//     re-sends), up to maxResends times, then initialisation under the init key;
//   - rotation period (explicit variant): an update request;
//   - an unanswered init request is retransmitted (same message ID) with doubling waits.
// One message is outstanding at a time; an answer is accepted only for the message ID
// now outstanding, which is what makes replayed or late answers harmless.
import { Counters } from '../util/counters.js';
import { readEspSpi } from '../wire/esp.js';
import { DecodeError } from '../wire/errors.js';
import { ControlItemType, ControlMessageType } from '../wire/control-types.js';
import type { ControlItem, ControlMessage } from '../wire/control-message.js';
import {
  encodeKeyrollCookie,
  encodeKeyrollEphemeral,
  encodeKeyrollRequest,
  isKeyrollItemType,
  readKeyrollItems,
  type KeyrollDistribution,
  type KeyrollItems,
} from '../wire/control-keyroll.js';
import { constantTimeEqual } from '../crypto/index.js';
import { ChannelKey } from './channel-key.js';
import { decodeControl, openEsp, packetSequence, sealControl } from './channel-esp.js';
import { deriveGenerationKey } from './kdf.js';
import { KEYROLL_KE_ID, newEphemeral, restoreEphemeral, type Ephemeral } from './ephemeral.js';
import { drawMessageId, nextMessageId } from './random.js';
import { COOKIE_BUCKET_MS } from './cookie.js';
import { checkChannelParams, checkReceiverOptions } from './params.js';
import { DURABLE_VERSION, keyFromDurable, keyToDurable, type ReceiverDurable } from './durable.js';
import type { ChannelParams, OutstandingKind, ReceiverEvent, ReceiverInput, ReceiverOptions, ReceiverOutput, ReceiverView } from './types.js';

interface Outstanding {
  readonly kind: OutstandingKind;
  message: ControlMessage; // an init request gains a cookie item when challenged
  readonly app: readonly ControlItem[]; // other services' items riding on it
  deadlineMs: number;
  transmissions: number;
}

type InitReason = Extract<ReceiverEvent, { name: 'init-started' }>['reason'];

// Transmissions of one init request before a new one (new message ID and value) replaces it.
export const INIT_TRANSMISSIONS_PER_MESSAGE = 8;

// Bound of the items other services queue for the next registration (attach()).
const MAX_QUEUED_ITEMS = 64;

export class KeyReceiver {
  readonly counters = new Counters();
  private readonly initKey: ChannelKey;
  private latest: ChannelKey | null = null; // N
  private previous: ChannelKey | null = null; // N-1 or the init key
  private initPending = false;
  private needInit: InitReason | null = null;
  private eph: Ephemeral | null = null; // pending forward-secrecy value
  private outstanding: Outstanding | null = null;
  private failures = 0; // consecutive timeouts of non-init messages
  private messageId: number;
  private nextRegistrationAtMs: number;
  private rotationDueAtMs: number | null = null;
  private initBackoffMs: number;
  private queued: ControlItem[] = [];
  private cookie: { readonly value: Uint8Array; readonly receivedAtMs: number } | null = null;

  constructor(
    private readonly params: ChannelParams,
    private readonly options: ReceiverOptions,
    nowMs: number,
    durable?: ReceiverDurable,
  ) {
    checkChannelParams(params);
    checkReceiverOptions(options);
    this.initKey = new ChannelKey(Buffer.from(params.initKey), params.initSpi, 0, true, 'r2s', options.replayWindow);
    // A fresh random first message ID in every life: IDs of an earlier life never look
    // like the one outstanding now.
    this.messageId = drawMessageId(options.random);
    this.nextRegistrationAtMs = nowMs;
    this.initBackoffMs = options.replyTimeoutMs;
    if (durable === undefined) this.needInit = 'startup';
    else this.restore(durable);
  }

  // ------------------------------------------------------------------------------ roles

  private sendKey(): ChannelKey {
    return this.initPending || this.latest === null ? this.initKey : this.latest;
  }

  private receiveKeys(): ChannelKey[] {
    const keys: ChannelKey[] = [];
    if (this.latest !== null) keys.push(this.latest);
    if (this.previous !== null) keys.push(this.previous);
    if ((this.initPending || this.latest === null) && !keys.includes(this.initKey)) keys.push(this.initKey);
    return keys;
  }

  private count(name: string): void {
    this.counters.add(`keyroll.${name}`);
  }

  // ----------------------------------------------------------------------------- timers

  nextDueMs(): number {
    if (this.outstanding !== null) return this.outstanding.deadlineMs;
    if (this.needInit !== null || this.latest === null) return this.nextRegistrationAtMs;
    if (this.params.variant === 'explicit' && this.rotationDueAtMs !== null) return Math.min(this.nextRegistrationAtMs, this.rotationDueAtMs);
    return this.nextRegistrationAtMs;
  }

  handle(input: ReceiverInput, nowMs: number): ReceiverOutput[] {
    const out: ReceiverOutput[] = [];
    switch (input.type) {
      case 'tick':
        this.tick(nowMs, out);
        break;
      case 'packet':
        this.onPacket(input.bytes, nowMs, out);
        break;
      case 'attach':
        this.attach(input.items, nowMs, out);
        break;
      case 'reinitialise':
        this.startInit('requested', nowMs, out);
        break;
    }
    return out;
  }

  // Items of another service (seed 000 requests) go out now when the channel is idle and
  // keyed (a setting request must not wait for the next heartbeat: it holds traffic), or
  // ride on the next registration (an empty attach just registers now: the agent does
  // that after an initialisation, to prove it holds the new key so the sender can push
  // to it, SenderPeer.push). The queue is bounded: those services retransmit at
  // their own layer, so the oldest items are the ones worth dropping.
  private attach(items: readonly ControlItem[], nowMs: number, out: ReceiverOutput[]): void {
    this.queued.push(...items);
    if (this.queued.length > MAX_QUEUED_ITEMS) {
      this.count('attach.dropped');
      this.queued.splice(0, this.queued.length - MAX_QUEUED_ITEMS);
    }
    if (this.outstanding === null && this.latest !== null && this.needInit === null && !this.initPending) this.send('register', nowMs, out);
  }

  private tick(nowMs: number, out: ReceiverOutput[]): void {
    const o = this.outstanding;
    if (o !== null) {
      if (nowMs >= o.deadlineMs) this.timeout(o, nowMs, out);
      return;
    }
    if (nowMs < this.nextDueMs()) return;
    if (this.needInit !== null || this.latest === null) this.startInit(this.needInit ?? 'startup', nowMs, out);
    else if (this.params.variant === 'explicit' && this.rotationDueAtMs !== null && nowMs >= this.rotationDueAtMs) this.send('update', nowMs, out);
    else this.send('register', nowMs, out);
  }

  private timeout(o: Outstanding, nowMs: number, out: ReceiverOutput[]): void {
    out.push({ type: 'event', event: { name: 'timeout', kind: o.kind, messageId: o.message.messageId } });
    this.count(`timeout.${o.kind}`);
    if (o.kind === 'init') {
      this.initBackoffMs = Math.min(this.initBackoffMs * 2, this.options.initRetryMaxMs);
      if (o.transmissions >= INIT_TRANSMISSIONS_PER_MESSAGE) {
        // The sender never answers one init request with two different chains, so an
        // answer lost after its chain moved on can never come again: ask anew.
        this.startInit('timeouts', nowMs, out);
        return;
      }
      // Same message, same ephemeral value: the sender answers a retransmission with the
      // same K1 (duplicate suppression by message ID).
      o.message = this.withCookie(o.message, nowMs);
      this.transmit(o, nowMs, this.initBackoffMs, out);
      return;
    }
    this.queued.unshift(...o.app);
    this.outstanding = null;
    this.failures += 1;
    if (this.failures <= this.options.maxResends) this.send('resend', nowMs, out);
    else this.startInit('timeouts', nowMs, out);
  }

  private startInit(reason: InitReason, nowMs: number, out: ReceiverOutput[]): void {
    const again = this.outstanding?.kind === 'init';
    if (this.outstanding !== null) this.queued.unshift(...this.outstanding.app);
    this.outstanding = null;
    this.initPending = true;
    this.needInit = null;
    this.failures = 0;
    if (!again) this.initBackoffMs = this.options.replyTimeoutMs; // a renewed request keeps backing off
    // A fresh value for the initialisation, so K1 is forward secret as well.
    if (this.params.forwardSecrecy) this.eph = newEphemeral(this.options.random);
    // The sender may have lost its counters with its keys (flow 5/11): its init-key
    // sequence numbers start again. Freshness of what it sends now comes from the
    // message ID binding (only the answer to this new request is accepted).
    this.initKey.resetReceiveWindow();
    out.push({ type: 'persist' });
    out.push({ type: 'event', event: { name: 'init-started', reason } });
    this.count(`init.${reason}`);
    this.send('init', nowMs, out);
  }

  private send(kind: OutstandingKind, nowMs: number, out: ReceiverOutput[]): void {
    const items: ControlItem[] = [];
    if (this.params.variant === 'explicit' && kind !== 'register') {
      items.push(encodeKeyrollRequest({ kind, generation: this.latest?.generation ?? 0 }));
    }
    if (this.params.forwardSecrecy) {
      if (this.eph === null) {
        this.eph = newEphemeral(this.options.random);
        out.push({ type: 'persist' });
      }
      items.push(encodeKeyrollEphemeral({ keId: KEYROLL_KE_ID, publicKey: this.eph.publicKey }));
    }
    const app = kind === 'init' ? [] : this.queued.splice(0);
    items.push(...app);
    let message: ControlMessage = { type: ControlMessageType.REGISTRATION, messageId: this.messageId, items };
    if (kind === 'init') message = this.withCookie(message, nowMs);
    this.messageId = nextMessageId(this.messageId);
    const o: Outstanding = { kind, message, app, deadlineMs: 0, transmissions: 0 };
    this.outstanding = o;
    this.transmit(o, nowMs, kind === 'init' ? this.initBackoffMs : this.options.replyTimeoutMs, out);
  }

  // The message with the current cookie (if one is still valid) in place of any older one.
  private withCookie(m: ControlMessage, nowMs: number): ControlMessage {
    const c = this.cookie;
    if (c === null || nowMs - c.receivedAtMs >= COOKIE_BUCKET_MS) return m;
    const rest = m.items.filter((i) => i.type !== ControlItemType.KEYROLL_COOKIE);
    return { ...m, items: [...rest, encodeKeyrollCookie(c.value)] };
  }

  private transmit(o: Outstanding, nowMs: number, waitMs: number, out: ReceiverOutput[]): void {
    o.transmissions += 1;
    o.deadlineMs = nowMs + waitMs;
    const sealed = sealControl(this.sendKey(), o.message, this.options.random);
    if (sealed === null) {
      // 2^32 packets under one key: only a new key helps.
      this.count('sequence-exhausted');
      this.needInit = 'protocol';
      return;
    }
    if (sealed.persist) out.push({ type: 'persist' });
    out.push({ type: 'send', bytes: sealed.bytes });
  }

  // ---------------------------------------------------------------------------- packets

  private onPacket(bytes: Uint8Array, nowMs: number, out: ReceiverOutput[]): void {
    let spi: number;
    try {
      spi = readEspSpi(bytes);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.count('drop.decode');
      return;
    }
    const key = this.receiveKeys().find((k) => k.spi === spi);
    if (key === undefined) {
      this.count('drop.unknown-spi');
      return;
    }
    const seq = packetSequence(bytes);
    const window = key.replayWindow();
    const hi = window.check(seq);
    if (hi < 0) {
      this.count('drop.replay');
      return;
    }
    const opened = openEsp(key, bytes);
    if (typeof opened === 'string') {
      this.count(`drop.${opened}`);
      return;
    }
    const message = decodeControl(opened.payload, (t) => isKeyrollItemType(t) || (this.options.knownItemType?.(t) ?? false));
    if (message === null) {
      this.count('drop.decode');
      return;
    }
    if (message.type === ControlMessageType.REGISTRATION) {
      this.count('drop.unexpected-type');
      return;
    }
    if (message.type === ControlMessageType.PUSH) {
      this.onPush(key, message, window, hi, seq, out);
      return;
    }
    const o = this.outstanding;
    if (o === null || message.messageId !== o.message.messageId) {
      // A late duplicate, an answer to an abandoned message, a replay, or a packet of
      // the sender's life before it lost its state (under the permanent init key). It
      // must not move the window either: a sender that lost its state counts from 1
      // again, and one stale packet with a high sequence number would otherwise make
      // every genuine answer look like a replay.
      this.count('drop.unsolicited');
      return;
    }
    let items: KeyrollItems;
    try {
      items = readKeyrollItems(message);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.count('drop.decode');
      return;
    }
    // Authenticated (RFC 4303 §3.4.3 allows the update only after the ICV check) and the
    // answer this end is waiting for.
    window.commit(hi, seq);
    if (message.type === ControlMessageType.NOTICE) {
      this.onNotice(key, o, items, nowMs, out);
      return;
    }
    const result = items.distribution === null ? 'none' : this.accept(items.distribution, nowMs, out);
    if (o.kind === 'init' && result !== 'installed') {
      // An init request is answered only by a key; keep waiting (and retransmitting).
      this.count('init-unanswered');
      return;
    }
    this.outstanding = null;
    this.failures = 0;
    // Items attached while this registration was out leave at once (attach()).
    this.nextRegistrationAtMs = this.needInit !== null || this.queued.length > 0 ? nowMs : nowMs + this.options.registrationIntervalMs;
    if (o.kind === 'update' && result !== 'installed' && this.rotationDueAtMs !== null && this.rotationDueAtMs <= nowMs) {
      this.rotationDueAtMs = this.nextRegistrationAtMs; // refused for now: ask again later
    }
    if (items.others.length > 0 && !key.isInit) out.push({ type: 'deliver', messageId: message.messageId, items: items.others });
  }

  // A message the sender sent on its own (control-types.ts PUSH): items of other services
  // only, never under the init key (anyone who learns it could forge them).
  private onPush(key: ChannelKey, message: ControlMessage, window: ReturnType<ChannelKey['replayWindow']>, hi: number, seq: number, out: ReceiverOutput[]): void {
    if (key.isInit) {
      this.count('drop.push-under-init-key');
      return;
    }
    let items: KeyrollItems;
    try {
      items = readKeyrollItems(message);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.count('drop.decode');
      return;
    }
    window.commit(hi, seq);
    this.count('push.rx');
    if (items.others.length > 0) out.push({ type: 'deliver', messageId: message.messageId, items: items.others });
  }

  private onNotice(key: ChannelKey, o: Outstanding, items: KeyrollItems, nowMs: number, out: ReceiverOutput[]): void {
    if (items.cookie !== null && key.isInit && o.kind === 'init') {
      // The sender holds a chain and wants proof that this init request is not an old
      // one: send it again (same message) with the cookie, and keep the cookie for the
      // next init requests while it is valid.
      this.cookie = { value: Buffer.from(items.cookie), receivedAtMs: nowMs };
      o.message = this.withCookie(o.message, nowMs);
      out.push({ type: 'event', event: { name: 'challenged' } });
      this.count('challenged');
      this.transmit(o, nowMs, this.initBackoffMs, out);
      return;
    }
    const r = items.resync;
    if (r === null || !key.isInit || o.kind !== 'init' || r.spi !== this.initKey.spi) {
      this.count('drop.unexpected-notice');
      return;
    }
    // Our init-key counter restarted with a lost state; continue above the sender's top.
    this.initKey.sendSeq = Math.max(this.initKey.sendSeq, r.nextSequence - 1);
    out.push({ type: 'event', event: { name: 'resynced', nextSequence: r.nextSequence } });
    this.count('resynced');
    this.transmit(o, nowMs, this.initBackoffMs, out);
  }

  // Installs a distributed key. Seed rules: an init key distribution makes K1 the latest
  // with the init key as N-1; a rotation shifts N -> N-1 exactly once per generation (a
  // duplicate never shifts twice).
  private accept(d: KeyrollDistribution, nowMs: number, out: ReceiverOutput[]): 'installed' | 'duplicate' | 'rejected' {
    if (d.kind === 'init') {
      if (!this.initPending || this.outstanding?.kind !== 'init') return this.reject('unexpected-init');
    } else {
      if (this.initPending || this.latest === null) return this.reject('unexpected-rotation');
      if (d.generation <= this.latest.generation) {
        this.count('duplicate-distribution');
        return 'duplicate';
      }
      if (d.generation !== this.latest.generation + 1) return this.reject('generation-gap', true);
    }
    if (d.spi === this.initKey.spi || (d.kind === 'rotation' && d.spi === this.latest?.spi)) return this.reject('spi-collision', true);
    let dhSecret: Buffer | null = null;
    if (this.params.forwardSecrecy) {
      const e = d.ephemeral;
      if (e === null || this.eph === null || e.keId !== KEYROLL_KE_ID || !constantTimeEqual(e.receiverPublic, this.eph.publicKey)) {
        return this.reject('fs-mismatch', d.kind === 'rotation');
      }
      try {
        dhSecret = this.eph.computeSecret(e.senderPublic);
      } catch {
        return this.reject('fs-bad-public', d.kind === 'rotation');
      }
    } else if (d.ephemeral !== null) {
      return this.reject('fs-unexpected', d.kind === 'rotation');
    }
    const material = deriveGenerationKey({
      seed: d.seed,
      dhSecret,
      kind: d.kind,
      generation: d.generation,
      spi: d.spi,
      deviceId: this.params.deviceId,
      receiverPublic: d.ephemeral?.receiverPublic ?? null,
      senderPublic: d.ephemeral?.senderPublic ?? null,
    });
    dhSecret?.fill(0);
    const key = new ChannelKey(material, d.spi, d.generation, false, 'r2s', this.options.replayWindow);
    if (d.kind === 'init') {
      this.latest = key;
      this.previous = this.initKey;
      this.initPending = false;
    } else {
      this.previous = this.latest;
      this.latest = key;
    }
    this.eph = null; // used up: the next rotation gets a new value
    const period = this.options.rotationPeriodMs;
    this.rotationDueAtMs = this.params.variant === 'explicit' && period !== null ? nowMs + period : null;
    out.push({ type: 'persist' });
    out.push({ type: 'event', event: { name: 'installed', kind: d.kind, generation: key.generation, fingerprint: key.fingerprint } });
    this.count(`installed.${d.kind}`);
    return 'installed';
  }

  private reject(reason: string, reinitialise = false): 'rejected' {
    this.count(`reject.${reason}`);
    // A rotation this end cannot follow leaves it behind the sender for good: start over.
    if (reinitialise && !this.initPending) this.needInit = 'protocol';
    return 'rejected';
  }

  // ---------------------------------------------------------------------------- durable

  durable(): ReceiverDurable {
    return {
      version: DURABLE_VERSION,
      latest: this.latest === null ? null : keyToDurable(this.latest),
      previous: this.previous === null ? null : this.previous.isInit ? 'init' : keyToDurable(this.previous),
      initPending: this.initPending,
      initSendSeqReserved: this.initKey.sendSeqReserved,
      ephemeralPrivate: this.eph === null ? null : Buffer.from(this.eph.privateBytes),
      rotationDueAtMs: this.rotationDueAtMs,
    };
  }

  private restore(d: ReceiverDurable): void {
    const w = this.options.replayWindow;
    this.latest = d.latest === null ? null : keyFromDurable(d.latest, 'r2s', w);
    this.previous = d.previous === null ? null : d.previous === 'init' ? this.initKey : keyFromDurable(d.previous, 'r2s', w);
    this.initKey.sendSeq = d.initSendSeqReserved;
    this.initKey.sendSeqReserved = d.initSendSeqReserved;
    this.eph = d.ephemeralPrivate === null ? null : restoreEphemeral(d.ephemeralPrivate);
    this.rotationDueAtMs = d.rotationDueAtMs;
    // An initialisation that was under way starts again (new message, new value); until
    // it is answered the init key stays the send key, as it was before the restart.
    this.initPending = d.initPending;
    this.needInit = d.initPending || this.latest === null ? 'startup' : null;
  }

  // ------------------------------------------------------------------------------ views

  view(): ReceiverView {
    const o = this.outstanding;
    return {
      deviceId: this.params.deviceId,
      variant: this.params.variant,
      init: this.initKey.view(),
      latest: this.latest?.view() ?? null,
      previous: this.previous?.view() ?? null,
      send: this.sendKey().view(),
      receive: this.receiveKeys().map((k) => k.view()),
      initPending: this.initPending || this.latest === null,
      outstanding: o === null ? null : { kind: o.kind, messageId: o.message.messageId, transmissions: o.transmissions, deadlineMs: o.deadlineMs },
      nextRegistrationAtMs: this.nextRegistrationAtMs,
      rotationDueAtMs: this.rotationDueAtMs,
    };
  }
}
