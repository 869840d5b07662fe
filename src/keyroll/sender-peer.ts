// The key sender's state for one receiver (seed 004: "per-receiver isolation of keys,
// SPI tables, timers and flags") and its decisions. KeySender (sender.ts) finds the peer
// and key by SPI, authenticates the packet and hands the decoded registration here.
//
// Key roles (seed 004 table): the sender holds N (latest) and N-1 (previous), sends with
// N-1 and accepts both. Right after an initialisation the init key plays N-1. With no
// keys at all (startup, after losing them) it sends and accepts the init key only.
import { ControlMessageType, type ControlMessageTypeValue } from '../wire/control-types.js';
import type { ControlItem, ControlMessage } from '../wire/control-message.js';
import {
  encodeKeyrollCookie,
  encodeKeyrollDistribution,
  encodeKeyrollResync,
  type KeyrollDistribution,
  type KeyrollItems,
} from '../wire/control-keyroll.js';
import { checkCookie, cookieBucket, makeCookie } from './cookie.js';
import type { Counters } from '../util/counters.js';
import { ChannelKey } from './channel-key.js';
import { sealControl } from './channel-esp.js';
import { deriveGenerationKey } from './kdf.js';
import { KEYROLL_KE_ID, newEphemeral } from './ephemeral.js';
import { TokenBucket } from './rate-limit.js';
import { draw, nextMessageId } from './random.js';
import { copyDistribution, keyFromDurable, keyToDurable, DURABLE_VERSION, type SenderPeerDurable } from './durable.js';
import { KEYROLL_SEED_BYTES } from '../wire/control-keyroll.js';
import type { ChannelParams, SenderOptions, SenderOutput, SenderPeerView } from './types.js';

export interface SpiRegistry {
  allocate(): number; // a fresh SPI, reserved until bind or release
  bind(spi: number, peer: SenderPeer, key: ChannelKey): void;
  release(spi: number): void;
}

interface SenderContext {
  readonly options: SenderOptions;
  readonly spis: SpiRegistry;
  readonly counters: Counters;
  readonly cookieSecret: Uint8Array;
}

type KeyRole = 'latest' | 'previous' | 'init';

// How far above the highest init sequence number seen a resynchronised agent continues.
// Packets of its earlier life may still be in flight (or recorded) with numbers above that
// top; only those carrying a valid cookie could do harm, cookies live at most two
// COOKIE_BUCKET_MS (one minute), and in a minute an agent sends far fewer init-key packets
// than this (its retransmissions are timer-paced, notices rate-limited). 2^32 / 4096 still
// leaves a million such restarts per init key.
export const RESYNC_MARGIN = 4096;


export class SenderPeer {
  readonly initKey: ChannelKey;
  latest: ChannelKey | null = null; // N
  previous: ChannelKey | null = null; // N-1, possibly the init key
  latestProven = false;
  latestDistribution: KeyrollDistribution | null = null;
  // The init request (message ID) the current chain answers. One init request is never
  // answered by two different chains.
  chainOriginMessageId: number | null = null;
  rotationDueAtMs: number | null = null;
  rotationDue = false;
  lastRotationAtMs: number | null = null;
  // Init-key packets from the receiver must carry ever larger sequence numbers (no
  // reordering window): a replayed or reordered init request must never re-initialise.
  initTopSeq = 0;
  private readonly bucket: TokenBucket; // initialisations
  private readonly noticeBucket: TokenBucket; // resync and cookie notices
  // Duplicate suppression: the answer to the last message, sent again for a retransmission.
  private pushId = 0; // message IDs of pushes (the receiver does not check them)
  private lastReply: { readonly messageId: number; readonly type: ControlMessageTypeValue; readonly items: readonly ControlItem[] } | null = null;

  constructor(
    readonly params: ChannelParams,
    private readonly ctx: SenderContext,
    nowMs: number,
  ) {
    this.initKey = new ChannelKey(Buffer.from(params.initKey), params.initSpi, 0, true, 's2r', 0);
    const limit = ctx.options.initRateLimit;
    this.bucket = new TokenBucket(limit.perMinute, limit.burst, nowMs);
    this.noticeBucket = new TokenBucket(limit.perMinute, limit.burst, nowMs);
  }

  get deviceId(): string {
    return this.params.deviceId;
  }

  sendKey(): ChannelKey {
    return this.previous ?? this.initKey;
  }

  roleOf(key: ChannelKey): KeyRole {
    if (key === this.latest) return 'latest';
    if (key === this.previous) return 'previous';
    return 'init';
  }

  private count(name: string): void {
    this.ctx.counters.add(`keyroll.${name}`);
  }

  private refreshFlag(nowMs: number): void {
    // The seed's rotation timer "sets a per-receiver flag". Evaluated lazily: the flag is
    // only ever read when a registration arrives, so no timer has to fire for it.
    if (this.rotationDueAtMs !== null && nowMs >= this.rotationDueAtMs) this.rotationDue = true;
  }

  // ------------------------------------------------------------------ stale init packets

  // An authenticated init-key packet at or below the highest init sequence number seen:
  // a replay, a duplicate, a reordered retransmission, or an agent that restarted and lost
  // its counters. Only the last one needs help, but they look the same: tell the sender
  // of that message ID where to continue (rate-limited, no key state changes). The agent
  // accepts this only as the answer to its outstanding message, so for the others it is
  // a dropped notice.
  staleInitPacket(seq: number, message: ControlMessage | null, nowMs: number, out: SenderOutput[]): void {
    this.count('drop.replay');
    if (message === null) return;
    // Its own bucket: replayed init packets must not use up the tokens a genuine
    // initialisation needs.
    if (!this.noticeBucket.take(nowMs)) {
      this.count('notice.rate-limited');
      return;
    }
    const nextSequence = Math.min(0xffff_ffff, this.initTopSeq + 1 + RESYNC_MARGIN);
    this.seal(this.initKey, { type: ControlMessageType.NOTICE, messageId: message.messageId, items: [encodeKeyrollResync({ spi: this.initKey.spi, nextSequence })] }, out);
    out.push({ type: 'event', event: { name: 'resync-sent', deviceId: this.deviceId, nextSequence } });
  }

  // ----------------------------------------------------------------------------- push

  // Items of another service sent now, unasked (control-types.ts PUSH). Only under a
  // distributed key: the init key is shared since enrollment and anything under it can be
  // forged by whoever learns it. Returns false when there is no such key yet (the agent
  // has not initialised): the caller's protocol retransmits.
  push(items: readonly ControlItem[], out: SenderOutput[]): boolean {
    // N-1 as the seed's sender rule says; right after an initialisation N-1 is the init
    // key, so then N, once the receiver has proven it holds N (it accepts both).
    let key = this.sendKey();
    if (key.isInit && this.latest !== null && this.latestProven) key = this.latest;
    if (key.isInit) {
      this.count('push.no-key');
      return false;
    }
    this.pushId = nextMessageId(this.pushId);
    this.count('push.tx');
    this.seal(key, { type: ControlMessageType.PUSH, messageId: this.pushId, items }, out);
    return true;
  }

  // ------------------------------------------------------------------------ registration

  process(key: ChannelKey, message: ControlMessage, items: KeyrollItems, nowMs: number, out: SenderOutput[]): void {
    const role = this.roleOf(key);
    // Proof that the receiver holds N: a packet it protected with N (seed 004: rotate
    // "only when the receiver proved it holds the latest key").
    if (role === 'latest') this.latestProven = true;
    this.refreshFlag(nowMs);

    if (this.lastReply !== null && this.lastReply.messageId === message.messageId) {
      this.count('duplicate-message');
      this.seal(this.sendKey(), { type: this.lastReply.type, messageId: message.messageId, items: this.lastReply.items }, out);
      return;
    }

    const before = { latest: this.latest, previous: this.previous };
    const decision = this.decide(role, key, message, items, nowMs, out);
    if (decision === 'drop') return;

    const replyItems: ControlItem[] = [];
    if (decision !== 'ack') {
      if (decision === 'resend') {
        out.push({ type: 'event', event: { name: 'resent', deviceId: this.deviceId, generation: this.latest!.generation, fingerprint: this.latest!.fingerprint } });
      }
      replyItems.push(encodeKeyrollDistribution(this.latestDistribution!));
    }
    // Other services ride only on messages protected by a distributed key: whatever is
    // under the init key can be read by anyone who ever learns it.
    const hook = this.ctx.options.onRegistration;
    if (hook !== undefined && !key.isInit) replyItems.push(...hook(this.deviceId, items.others, nowMs));

    if (this.latest !== before.latest || this.previous !== before.previous) out.push({ type: 'persist', deviceId: this.deviceId });
    this.lastReply = { messageId: message.messageId, type: ControlMessageType.REGISTRATION_ACK, items: replyItems };
    this.seal(this.sendKey(), { type: ControlMessageType.REGISTRATION_ACK, messageId: message.messageId, items: replyItems }, out);
  }

  // What the registration asks for. 'rotated' and 'initialised' have already changed the
  // keys; 'resend' re-sends latestDistribution unchanged; 'ack' answers without a key.
  private decide(
    role: KeyRole,
    key: ChannelKey,
    message: ControlMessage,
    items: KeyrollItems,
    nowMs: number,
    out: SenderOutput[],
  ): 'ack' | 'resend' | 'rotated' | 'initialised' | 'drop' {
    const eph = items.ephemeral;
    if (this.params.variant === 'explicit') {
      const req = items.request;
      if (req?.kind === 'init') return this.initialise(message.messageId, eph?.publicKey ?? null, items.cookie, nowMs, out);
      // Explicit agents use the init key only for init requests.
      if (key.isInit) {
        this.count('drop.init-key-misuse');
        return 'drop';
      }
      if (role === 'previous') {
        // The agent does not hold N: never rotate past it (at most one undelivered
        // generation); give it N again if it asked for anything or a rotation is due.
        return req !== null || this.rotationDue ? this.resend() : 'ack';
      }
      // Under N: the proof is there.
      if (req?.kind === 'update') return this.rotate('update-request', eph?.publicKey ?? null, nowMs, out);
      if (this.rotationDue) return this.rotate('timer', eph?.publicKey ?? null, nowMs, out);
      return 'ack';
    }
    // SPI variant: no request items; the key says it all.
    if (items.request !== null) this.count('ignored-request-item');
    if (key.isInit) return this.initialise(message.messageId, eph?.publicKey ?? null, items.cookie, nowMs, out);
    if (role === 'previous') return this.resend();
    if (this.rotationDue) return this.rotate('timer', eph?.publicKey ?? null, nowMs, out);
    return 'ack';
  }

  private resend(): 'resend' | 'ack' {
    // Seed flow 4/10: re-send the same latest key, never a new one.
    if (this.latestDistribution === null || this.latest === null) return 'ack';
    return 'resend';
  }

  private initialise(
    messageId: number,
    receiverPublic: Uint8Array | null,
    cookie: Uint8Array | null,
    nowMs: number,
    out: SenderOutput[],
  ): 'resend' | 'initialised' | 'drop' {
    const afterInit = this.previous === this.initKey && this.latest !== null;
    if (this.latest !== null && this.chainOriginMessageId === messageId) {
      // A retransmission of the init request this chain answers. After an initialisation
      // the init key plays N-1, and "previous key -> resend": the agent did not get K1, so
      // it gets the same K1 again. Once the chain has moved on, it is a late copy that
      // must not undo the rotations since (the agent has K1, or it gives up this message
      // ID and asks again with a new one).
      if (afterInit) return 'resend';
      this.count('drop.stale-init');
      return 'drop';
    }
    // Any other init request means the agent starts over; it may have lost its sequence
    // counters, so K1 (whose window has seen them) is not given out again: a new key.
    if (this.latest !== null) {
      // A chain the receiver may be using would be destroyed: only for a request proven
      // fresh by a cookie (cookie.ts). Without one, answer with a cookie and change nothing.
      const secret = this.ctx.cookieSecret;
      if (cookie === null || !checkCookie(secret, cookie, this.deviceId, nowMs)) {
        this.count(cookie === null ? 'init.cookie-sent' : 'init.bad-cookie');
        if (!this.noticeBucket.take(nowMs)) {
          this.count('notice.rate-limited');
          return 'drop';
        }
        const fresh = makeCookie(secret, this.deviceId, cookieBucket(nowMs));
        this.seal(this.initKey, { type: ControlMessageType.NOTICE, messageId, items: [encodeKeyrollCookie(fresh)] }, out);
        return 'drop';
      }
    }
    if (!this.bucket.take(nowMs)) {
      this.count('init.rate-limited');
      out.push({ type: 'event', event: { name: 'init-rate-limited', deviceId: this.deviceId } });
      return 'drop';
    }
    const made = this.makeKey('init', (this.latest?.generation ?? 0) + 1, receiverPublic);
    if (made === null) return 'drop';
    // Seed flows 1, 2, 7, 8: new K1; send = init, receive = {K1, init}; N and N-1 go.
    this.retire(this.latest);
    this.retire(this.previous);
    this.latest = made.key;
    this.previous = this.initKey;
    this.latestDistribution = made.distribution;
    this.chainOriginMessageId = messageId;
    this.afterNewKey(nowMs);
    this.count('initialised');
    out.push({ type: 'event', event: { name: 'initialised', deviceId: this.deviceId, generation: made.key.generation, fingerprint: made.key.fingerprint } });
    return 'initialised';
  }

  private rotate(reason: 'update-request' | 'timer', receiverPublic: Uint8Array | null, nowMs: number, out: SenderOutput[]): 'rotated' | 'ack' {
    if (this.latest === null || !this.latestProven) return 'ack';
    if (this.lastRotationAtMs !== null && nowMs - this.lastRotationAtMs < this.ctx.options.minRotationIntervalMs) {
      this.count('rotation.too-soon');
      return 'ack';
    }
    const made = this.makeKey('rotation', this.latest.generation + 1, receiverPublic);
    if (made === null) return 'ack';
    // Seed flows 3, 6, 9: N+1; receive = {N+1, N}, send = N; N-1 goes (the init key only
    // leaves its role: it is never deleted).
    this.retire(this.previous);
    this.previous = this.latest;
    this.latest = made.key;
    this.latestDistribution = made.distribution;
    this.afterNewKey(nowMs);
    this.count(`rotated.${reason}`);
    out.push({ type: 'event', event: { name: 'rotated', deviceId: this.deviceId, generation: made.key.generation, fingerprint: made.key.fingerprint, reason } });
    return 'rotated';
  }

  private afterNewKey(nowMs: number): void {
    this.latestProven = false;
    this.rotationDue = false; // seed: the flag is cleared when the new key is sent
    this.lastRotationAtMs = nowMs;
    const period = this.ctx.options.rotationPeriodMs;
    this.rotationDueAtMs = period === null ? null : nowMs + period;
    this.lastReply = null;
  }

  private makeKey(
    kind: 'init' | 'rotation',
    generation: number,
    receiverPublic: Uint8Array | null,
  ): { key: ChannelKey; distribution: KeyrollDistribution } | null {
    const random = this.ctx.options.random;
    let dhSecret: Buffer | null = null;
    let ephemeral: KeyrollDistribution['ephemeral'] = null;
    if (this.params.forwardSecrecy) {
      if (receiverPublic === null) {
        this.count('drop.fs-missing-public');
        return null;
      }
      const eph = newEphemeral(random);
      try {
        dhSecret = eph.computeSecret(receiverPublic);
      } catch {
        this.count('drop.fs-bad-public'); // RFC 7748 §6.1: all-zero result from a small-order point
        return null;
      }
      ephemeral = { keId: KEYROLL_KE_ID, senderPublic: eph.publicKey, receiverPublic: Buffer.from(receiverPublic) };
      // The private value goes out of scope here: nothing can recompute DH later.
    }
    const spi = this.ctx.spis.allocate();
    const seed = Buffer.from(draw(random, KEYROLL_SEED_BYTES));
    const material = deriveGenerationKey({
      seed,
      dhSecret,
      kind,
      generation,
      spi,
      deviceId: this.deviceId,
      receiverPublic: ephemeral?.receiverPublic ?? null,
      senderPublic: ephemeral?.senderPublic ?? null,
    });
    dhSecret?.fill(0);
    const key = new ChannelKey(material, spi, generation, false, 's2r', this.ctx.options.replayWindow);
    this.ctx.spis.bind(spi, this, key);
    return { key, distribution: { kind, generation, spi, seed, ephemeral } };
  }

  private retire(key: ChannelKey | null): void {
    if (key !== null && !key.isInit) this.ctx.spis.release(key.spi);
  }

  // Drops every distributed key (the receiver is being removed).
  retireAll(): void {
    this.retire(this.latest);
    this.retire(this.previous);
    this.latest = null;
    this.previous = null;
  }

  private seal(key: ChannelKey, message: ControlMessage, out: SenderOutput[]): void {
    const sealed = sealControl(key, message, this.ctx.options.random);
    if (sealed === null) {
      this.count('drop.sequence-exhausted');
      return;
    }
    if (sealed.persist) out.push({ type: 'persist', deviceId: this.deviceId });
    out.push({ type: 'send', deviceId: this.deviceId, bytes: sealed.bytes });
  }

  // ------------------------------------------------------------------- durable / views

  durable(): SenderPeerDurable {
    return {
      version: DURABLE_VERSION,
      latest: this.latest === null ? null : keyToDurable(this.latest),
      previous: this.previous === null ? null : this.previous.isInit ? 'init' : keyToDurable(this.previous),
      latestDistribution: this.latestDistribution === null ? null : copyDistribution(this.latestDistribution),
      chainOriginMessageId: this.chainOriginMessageId,
      rotationDueAtMs: this.rotationDueAtMs,
      rotationDue: this.rotationDue,
      lastRotationAtMs: this.lastRotationAtMs,
      initTopSeq: this.initTopSeq,
      initSendSeqReserved: this.initKey.sendSeqReserved,
    };
  }

  restore(d: SenderPeerDurable): void {
    const window = this.ctx.options.replayWindow;
    if (d.latest !== null) {
      this.latest = keyFromDurable(d.latest, 's2r', window);
      this.ctx.spis.bind(this.latest.spi, this, this.latest);
    }
    if (d.previous === 'init') this.previous = this.initKey;
    else if (d.previous !== null) {
      this.previous = keyFromDurable(d.previous, 's2r', window);
      this.ctx.spis.bind(this.previous.spi, this, this.previous);
    }
    this.latestDistribution = d.latestDistribution === null ? null : copyDistribution(d.latestDistribution);
    this.chainOriginMessageId = d.chainOriginMessageId;
    this.rotationDueAtMs = d.rotationDueAtMs;
    this.rotationDue = d.rotationDue;
    this.lastRotationAtMs = d.lastRotationAtMs;
    this.initTopSeq = d.initTopSeq;
    this.initKey.sendSeq = d.initSendSeqReserved;
    this.initKey.sendSeqReserved = d.initSendSeqReserved;
  }

  // Read-only: observing a peer never changes what it does next.
  view(nowMs: number): SenderPeerView {
    const init = this.initKey.view();
    const receive = this.latest === null ? [init] : [this.latest.view(), ...(this.previous === null ? [] : [this.previous.view()])];
    const spiTable: { spi: number; key: 'init' | 'latest' | 'previous' }[] = [{ spi: this.initKey.spi, key: 'init' }];
    if (this.latest !== null) spiTable.push({ spi: this.latest.spi, key: 'latest' });
    if (this.previous !== null && !this.previous.isInit) spiTable.push({ spi: this.previous.spi, key: 'previous' });
    return {
      deviceId: this.deviceId,
      variant: this.params.variant,
      forwardSecrecy: this.params.forwardSecrecy,
      init,
      latest: this.latest?.view() ?? null,
      previous: this.previous?.view() ?? null,
      send: this.sendKey().view(),
      receive,
      latestProven: this.latestProven,
      rotationDue: this.rotationDue || (this.rotationDueAtMs !== null && nowMs >= this.rotationDueAtMs),
      rotationDueAtMs: this.rotationDueAtMs,
      initTokens: this.bucket.available(nowMs),
      spiTable,
    };
  }
}
