// The key sender (controller side of seed 004) for many receivers: one SPI space for all
// of them (the SPI of an inbound packet names the key and therefore the receiver), a
// SenderPeer per receiver, and the inbound path RFC 4303 §3.4 prescribes: SA lookup by
// SPI, replay check, ICV, window update, then the payload.
//
// The sender has no timers: its only timer in the seed (rotation) just raises a flag that
// is read when the receiver's next registration arrives, so it is evaluated then.
// nextDueMs() is therefore always Infinity and 'tick' does nothing.
import { Counters } from '../util/counters.js';
import { readEspSpi } from '../wire/esp.js';
import { DecodeError } from '../wire/errors.js';
import { ControlMessageType } from '../wire/control-types.js';
import type { ControlItem } from '../wire/control-message.js';
import { isKeyrollItemType, readKeyrollItems, type KeyrollItems } from '../wire/control-keyroll.js';
import { decodeControl, openEsp, packetSequence } from './channel-esp.js';
import type { ChannelKey } from './channel-key.js';
import { KeyrollError } from './errors.js';
import { checkChannelParams, checkSenderOptions } from './params.js';
import { draw, drawUint32 } from './random.js';
import { SenderPeer, type SpiRegistry } from './sender-peer.js';
import type { ChannelParams, SenderInput, SenderOptions, SenderOutput, SenderPeerDurable, SenderPeerView } from './types.js';

// null peer and key: the SPI is allocated while its key is being made.
type SpiEntry = { readonly peer: SenderPeer; readonly key: ChannelKey } | { readonly peer: null; readonly key: null };

export class KeySender {
  readonly counters = new Counters();
  private readonly peers = new Map<string, SenderPeer>();
  private readonly spis = new Map<number, SpiEntry>();
  private readonly registry: SpiRegistry;
  private readonly cookieSecret: Uint8Array;

  constructor(private readonly options: SenderOptions) {
    checkSenderOptions(options);
    this.cookieSecret = Buffer.from(draw(options.random, 32));
    const spis = this.spis;
    const random = options.random;
    this.registry = {
      allocate(): number {
        for (;;) {
          const spi = drawUint32(random);
          if (spi >= 256 && !spis.has(spi)) {
            spis.set(spi, { peer: null, key: null });
            return spi;
          }
        }
      },
      bind(spi, peer, key) {
        spis.set(spi, { peer, key });
      },
      release(spi) {
        spis.delete(spi);
      },
    };
  }

  // Enrolls a receiver (its channel parameters come from enrollment), optionally with the
  // durable state stored before a restart.
  addReceiver(params: ChannelParams, nowMs: number, durable?: SenderPeerDurable): void {
    checkChannelParams(params);
    if (this.peers.has(params.deviceId)) throw new KeyrollError('keyroll.duplicate-device', `device ${params.deviceId} already added`);
    if (this.spis.has(params.initSpi)) throw new KeyrollError('keyroll.duplicate-spi', `init SPI ${params.initSpi} already in use`);
    const peer = new SenderPeer(params, { options: this.options, spis: this.registry, counters: this.counters, cookieSecret: this.cookieSecret }, nowMs);
    this.peers.set(params.deviceId, peer);
    this.spis.set(params.initSpi, { peer, key: peer.initKey });
    if (durable !== undefined) peer.restore(durable);
  }

  // Revocation: the receiver's keys and SPIs are gone; its packets become unknown SPIs.
  removeReceiver(deviceId: string): void {
    const peer = this.peer(deviceId);
    peer.retireAll();
    this.spis.delete(peer.initKey.spi);
    this.peers.delete(deviceId);
  }

  receivers(): string[] {
    return [...this.peers.keys()];
  }

  hasReceiver(deviceId: string): boolean {
    return this.peers.has(deviceId);
  }

  private peer(deviceId: string): SenderPeer {
    const p = this.peers.get(deviceId);
    if (p === undefined) throw new KeyrollError('keyroll.unknown-device', `no receiver ${deviceId}`);
    return p;
  }

  view(deviceId: string, nowMs: number): SenderPeerView {
    return this.peer(deviceId).view(nowMs);
  }

  durable(deviceId: string): SenderPeerDurable {
    return this.peer(deviceId).durable();
  }

  // Sends items of another service (seed 000 distributions, activations, errors) to one
  // receiver now, unasked, under the key it is sure to hold (control-types.ts PUSH).
  // Empty when the receiver has no distributed key yet (see SenderPeer.push).
  push(deviceId: string, items: readonly ControlItem[]): SenderOutput[] {
    const out: SenderOutput[] = [];
    this.peer(deviceId).push(items, out);
    return out;
  }

  nextDueMs(): number {
    return Infinity;
  }

  handle(input: SenderInput, nowMs: number): SenderOutput[] {
    if (input.type === 'tick') return [];
    const out: SenderOutput[] = [];
    this.onPacket(input.bytes, nowMs, out);
    return out;
  }

  private count(name: string): void {
    this.counters.add(`keyroll.${name}`);
  }

  private known = (type: number): boolean => isKeyrollItemType(type) || (this.options.knownItemType?.(type) ?? false);

  private onPacket(bytes: Uint8Array, nowMs: number, out: SenderOutput[]): void {
    let spi: number;
    try {
      spi = readEspSpi(bytes);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.count('drop.decode');
      return;
    }
    const entry = this.spis.get(spi);
    if (entry === undefined || entry.peer === null) {
      this.count('drop.unknown-spi');
      return;
    }
    const { peer, key } = entry;
    const seq = packetSequence(bytes);
    // RFC 4303 §3.4.3: the replay check comes before the ICV check. The init key uses the
    // stricter rule in SenderPeer (checked after decryption, below).
    let hi = 0;
    if (!key.isInit) {
      hi = key.replayWindow().check(seq);
      if (hi < 0) {
        this.count('drop.replay');
        return;
      }
    } else if (seq === 0) {
      this.count('drop.replay');
      return;
    }
    const opened = openEsp(key, bytes);
    if (typeof opened === 'string') {
      this.count(`drop.${opened}`);
      return;
    }
    const message = decodeControl(opened.payload, this.known);
    if (key.isInit) {
      if (seq <= peer.initTopSeq) {
        peer.staleInitPacket(seq, message, nowMs, out);
        return;
      }
      peer.initTopSeq = seq;
      // Write-ahead: the top must be stored before anything is answered, or a restart
      // would accept this packet again (init-key traffic is rare, so this is cheap).
      out.push({ type: 'persist', deviceId: peer.deviceId });
    } else {
      key.replayWindow().commit(hi, seq);
    }
    if (message === null) {
      this.count('drop.decode');
      return;
    }
    if (message.type !== ControlMessageType.REGISTRATION) {
      this.count('drop.unexpected-type');
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
    peer.process(key, message, items, nowMs, out);
  }
}
