// One key sender and one key receiver wired back to back by hand, for step-by-step flow
// tests: the test decides when the receiver's timers fire and which packets arrive.
// Randomness comes from the simulator's seeded PRNG, so every run is the same.
import { Prng } from '../../src/sim/prng.js';
import { KeySender } from '../../src/keyroll/sender.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../../src/keyroll/params.js';
import { senderInitKeyStateOnly } from '../../src/keyroll/durable.js';
import type {
  ChannelParams,
  KeyrollVariant,
  ReceiverDurable,
  ReceiverEvent,
  ReceiverOptions,
  ReceiverOutput,
  SenderEvent,
  SenderOptions,
  SenderOutput,
  SenderPeerDurable,
} from '../../src/keyroll/types.js';
import type { RandomSource } from '../../src/keyroll/types.js';

export const DEVICE = 'agent-1';

export function prngSource(p: Prng): RandomSource {
  return (n) => p.bytes(n);
}

export interface DuoOptions {
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy?: boolean;
  readonly seed?: number;
  readonly sender?: Partial<SenderOptions>;
  readonly receiver?: Partial<ReceiverOptions>;
}

export class Duo {
  readonly params: ChannelParams;
  readonly senderOptions: SenderOptions;
  readonly receiverOptions: ReceiverOptions;
  sender: KeySender;
  receiver: KeyReceiver;
  now = 0;
  toSender: Uint8Array[] = [];
  toReceiver: Uint8Array[] = [];
  senderEvents: SenderEvent[] = [];
  receiverEvents: ReceiverEvent[] = [];
  senderDurable: SenderPeerDurable | undefined;
  receiverDurable: ReceiverDurable | undefined;
  readonly prng: Prng;

  constructor(o: DuoOptions) {
    this.prng = Prng.fromSeed(o.seed ?? 4);
    this.params = {
      deviceId: DEVICE,
      initKey: this.prng.bytes(32),
      initSpi: 1001, // seed 004 figure 21: init key <-> SPI 1001
      variant: o.variant,
      forwardSecrecy: o.forwardSecrecy ?? true,
    };
    this.senderOptions = defaultSenderOptions({
      random: prngSource(this.prng.fork('sender')),
      rotationPeriodMs: null,
      minRotationIntervalMs: 0,
      ...o.sender,
    });
    this.receiverOptions = defaultReceiverOptions({
      random: prngSource(this.prng.fork('receiver')),
      registrationIntervalMs: 30_000,
      replyTimeoutMs: 5_000,
      ...o.receiver,
    });
    this.sender = new KeySender(this.senderOptions);
    this.sender.addReceiver(this.params, 0);
    this.receiver = new KeyReceiver(this.params, this.receiverOptions, 0);
  }

  private fromSender(outs: SenderOutput[]): void {
    for (const o of outs) {
      if (o.type === 'send') this.toReceiver.push(o.bytes);
      else if (o.type === 'persist') this.senderDurable = this.sender.durable(o.deviceId);
      else this.senderEvents.push(o.event);
    }
  }

  private fromReceiver(outs: ReceiverOutput[]): void {
    for (const o of outs) {
      if (o.type === 'send') this.toSender.push(o.bytes);
      else if (o.type === 'persist') this.receiverDurable = this.receiver.durable();
      else if (o.type === 'event') this.receiverEvents.push(o.event);
    }
  }

  // Moves the clock to the receiver's next due time (at least `minMs`) and ticks it.
  // Returns the number of packets it sent.
  receiverTimer(): number {
    const before = this.toSender.length;
    this.now = Math.max(this.now, this.receiver.nextDueMs());
    this.fromReceiver(this.receiver.handle({ type: 'tick' }, this.now));
    return this.toSender.length - before;
  }

  advance(ms: number): void {
    this.now += ms;
  }

  receiverInput(input: Parameters<KeyReceiver['handle']>[0]): void {
    this.fromReceiver(this.receiver.handle(input, this.now));
  }

  // Delivers every queued packet to the sender (or drops them all).
  deliverToSender(options: { drop?: boolean } = {}): Uint8Array[] {
    const packets = this.toSender.splice(0);
    if (options.drop !== true) for (const p of packets) this.fromSender(this.sender.handle({ type: 'packet', bytes: p }, this.now));
    return packets;
  }

  deliverToReceiver(options: { drop?: boolean } = {}): Uint8Array[] {
    const packets = this.toReceiver.splice(0);
    if (options.drop !== true) for (const p of packets) this.fromReceiver(this.receiver.handle({ type: 'packet', bytes: p }, this.now));
    return packets;
  }

  // Delivers back and forth until nothing is in flight (no timers fire).
  settle(): void {
    for (let i = 0; i < 20 && (this.toSender.length > 0 || this.toReceiver.length > 0); i++) {
      this.deliverToSender();
      this.deliverToReceiver();
    }
  }

  // One registration round trip driven by the receiver's timer: returns whether it sent.
  roundTrip(): boolean {
    const sent = this.receiverTimer() > 0;
    this.deliverToSender();
    this.deliverToReceiver();
    return sent;
  }

  // The sender restarts: with its durable state (no key loss) or without (key loss).
  // Key loss keeps only the init key's record (senderInitKeyStateOnly); `everything`
  // loses that too (a controller whose store is gone).
  restartSender(keepState: boolean, everything = false): void {
    if (!keepState && this.senderDurable !== undefined) this.senderDurable = everything ? undefined : senderInitKeyStateOnly(this.senderDurable);
    this.sender = new KeySender(this.senderOptions);
    this.sender.addReceiver(this.params, this.now, this.senderDurable);
  }

  restartReceiver(keepState: boolean): void {
    this.receiver = new KeyReceiver(this.params, this.receiverOptions, this.now, keepState ? this.receiverDurable : undefined);
    if (!keepState) this.receiverDurable = undefined;
  }

  sview(): ReturnType<KeySender['view']> {
    return this.sender.view(DEVICE, this.now);
  }

  rview(): ReturnType<KeyReceiver['view']> {
    return this.receiver.view();
  }

  lastSenderEvent(): SenderEvent | undefined {
    return this.senderEvents[this.senderEvents.length - 1];
  }
}
