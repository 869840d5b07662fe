// The controller's end of the control channel (DESIGN.md "Control channel"): the seed-004
// key sender (src/keyroll, sans-I/O) for every enrolled device, run over one UDP socket.
//
// The shell feeds the core packets and ticks and carries out its outputs:
//   - 'persist': store sender.durable(device) (write-ahead: the sends that follow wait
//     for the save, per device, so a controller killed at any moment restarts from a
//     state that covers everything it ever sent);
//   - 'send': to the source of the packet being answered (the core only ever answers);
//   - 'event': a structured log line, without secrets.
// Devices come from the store: all non-revoked ones at start, with their channel state;
// the store is read again every refreshIntervalMs (and soon after a packet for an unknown
// SPI), so devices enrolled, revoked or removed while the controller runs are picked up.
import { readEspSpi } from '../wire/esp.js';
import type { ControlItem } from '../wire/control-message.js';
import { DecodeError } from '../wire/errors.js';
import { Counters } from '../util/counters.js';
import { cryptoRandomSource, defaultSenderOptions, KeySender } from '../keyroll/index.js';
import type { ChannelParams, SenderEvent, SenderOptions, SenderOutput, SenderPeerDurable } from '../keyroll/index.js';
import type { ControllerStore, DeviceRecord } from '../store/types.js';
import { DEFAULT_CONTROL_PORT, formatEndpoint, openControlUdp, type ControlEndpoint, type ControlUdpSocket } from '../io/control-udp.js';
import { anchoredClock } from '../io/clock.js';
import { DueTimer } from '../io/due-timer.js';
import { planSync } from './device-sync.js';
import { logLine, type EventLog } from './log-line.js';
import { keyStatus, type ControllerStatus, type DeviceStatus } from './status.js';

export { DEFAULT_CONTROL_PORT };
export const DEFAULT_LISTEN: ControlEndpoint = { address: '0.0.0.0', port: DEFAULT_CONTROL_PORT };
export const DEFAULT_REFRESH_MS = 2000;
// A packet for an unknown SPI may come from a device enrolled a moment ago: read the
// store again, but not more often than this, so a flood of junk cannot hammer the store.
const UNKNOWN_REFRESH_MIN_MS = 250;
// Packets of a revoked device are logged at most this often per device.
const REFUSED_LOG_INTERVAL_MS = 10_000;
// Pushes kept for a device not heard from yet (push()).
const MAX_HELD_PUSHES = 16;
const HELD_PUSH_MAX_AGE_MS = 60_000;

export type SenderTuning = Partial<Omit<SenderOptions, 'random' | 'onRegistration' | 'knownItemType'>>;

export interface KeyrollServerOptions {
  readonly store: ControllerStore;
  readonly listen?: ControlEndpoint;
  readonly sender?: SenderTuning;
  readonly refreshIntervalMs?: number;
  readonly maxDatagramBytes?: number;
  readonly log: EventLog;
  // Wall-clock milliseconds (default: io/clock.ts): the core's timer values (rotation
  // due, last rotation) are stored and must mean the same after a restart.
  readonly now?: () => number;
  readonly service?: ControllerChannelService;
}

// Other services on the channel (seed 000 settings): their items in registrations, and
// the device list after every refresh from the store (addresses, revocations).
export interface ControllerChannelService {
  readonly knownItemType: (itemType: number) => boolean;
  readonly onRegistration: (deviceId: string, items: readonly ControlItem[], nowMs: number) => void;
  readonly onDevices?: (records: readonly DeviceRecord[]) => void;
}

interface Served {
  record: DeviceRecord;
  lastSeenMs: number | null;
  address: ControlEndpoint | null;
  rx: number;
  tx: number;
  initialisations: number;
  rotations: number;
  resends: number;
  // Write-ahead queue: saves and the sends behind them, in output order.
  queue: Promise<void> | null;
  queued: number;
  dirty: boolean; // the last save failed: save again before sending anything
  heldPushes: { items: readonly ControlItem[]; atMs: number }[]; // push() before the device was heard
}

interface Refused {
  record: DeviceRecord;
  spis: number[];
  refused: number;
  lastLogMs: number;
}

export class KeyrollServer {
  readonly counters = new Counters();
  private readonly sender: KeySender;
  private readonly served = new Map<string, Served>();
  private readonly refused = new Map<string, Refused>();
  private readonly refusedSpis = new Map<number, string>();
  private readonly now: () => number;
  private readonly startedAtMs: number;
  private readonly refreshIntervalMs: number;
  private readonly options: SenderOptions;
  private socket: ControlUdpSocket | null = null;
  private readonly tickTimer: DueTimer;
  private refreshTimer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private lastRefreshMs = 0;
  private stopped = false;

  private constructor(private readonly o: KeyrollServerOptions) {
    this.now = o.now ?? anchoredClock();
    this.startedAtMs = this.now();
    this.refreshIntervalMs = o.refreshIntervalMs ?? DEFAULT_REFRESH_MS;
    const svc = o.service;
    this.options = defaultSenderOptions({
      ...o.sender,
      random: cryptoRandomSource,
      ...(svc !== undefined
        ? {
            knownItemType: svc.knownItemType,
            // The service answers by push (its own protocol retransmits), not in the ack.
            onRegistration: (deviceId: string, items: readonly ControlItem[], nowMs: number) => {
              if (items.length > 0) svc.onRegistration(deviceId, items, nowMs);
              return [];
            },
          }
        : {}),
    });
    this.sender = new KeySender(this.options);
    this.tickTimer = new DueTimer(this.now, () => {
      const nowMs = this.now();
      this.carryOut(this.sender.handle({ type: 'tick' }, nowMs), null, nowMs);
      this.armTimer();
    });
  }

  // Loads the devices, then binds the socket (so no early packet meets an empty table).
  static async start(o: KeyrollServerOptions): Promise<KeyrollServer> {
    const s = new KeyrollServer(o);
    await s.refresh();
    s.socket = await openControlUdp({
      bind: o.listen ?? DEFAULT_LISTEN,
      ...(o.maxDatagramBytes !== undefined ? { maxDatagramBytes: o.maxDatagramBytes } : {}),
      onMessage: (bytes, from) => s.onPacket(bytes, from),
      onOversize: (length, from) => {
        s.counters.add('controller.rx');
        s.counters.add('controller.drop.oversize');
        s.o.log.warn(logLine('drop', { reason: 'oversize', bytes: length, from: formatEndpoint(from) }));
      },
      onSendError: (e, to) => {
        s.counters.add('controller.tx-error');
        s.o.log.warn(logLine('send-failed', { to: formatEndpoint(to), error: (e as NodeJS.ErrnoException).code ?? e.message }));
      },
      onError: (e) => s.o.log.error(logLine('socket-error', { error: e.message })),
    });
    s.scheduleRefresh();
    s.armTimer();
    o.log.info(logLine('listening', { address: formatEndpoint(s.socket.local), devices: s.served.size, revoked: s.refused.size }));
    return s;
  }

  get local(): ControlEndpoint {
    if (this.socket === null) throw new Error('not started');
    return this.socket.local;
  }

  // Sends items of another service to a device now (KeySender.push), to the address its
  // last packet came from, behind any pending write-ahead save of its channel state.
  // False when it cannot go: unknown/revoked device, no address yet, or no usable key.
  // A device not heard from since this controller started (no address yet, or no key it
  // has proven) gets its pushes when its next packet arrives: they wait, a few and not for
  // long (the services retransmit anyway), instead of being lost.
  push(deviceId: string, items: readonly ControlItem[]): boolean {
    const d = this.served.get(deviceId);
    if (this.stopped || d === undefined) return false;
    if (d.address === null) {
      this.holdPush(d, items);
      return false;
    }
    const outs = this.sender.push(deviceId, items);
    if (!outs.some((o) => o.type === 'send')) {
      this.holdPush(d, items);
      return false;
    }
    this.carryOut(outs, null, this.now());
    return true;
  }

  private holdPush(d: Served, items: readonly ControlItem[]): void {
    this.counters.add('controller.push.held');
    d.heldPushes.push({ items, atMs: this.now() });
    if (d.heldPushes.length > MAX_HELD_PUSHES) {
      d.heldPushes.shift();
      this.counters.add('controller.push.held-dropped');
    }
  }

  // After a device's packet was answered: its held pushes, the fresh ones only.
  private flushPushes(d: Served, nowMs: number): void {
    const held = d.heldPushes.splice(0).filter((h) => nowMs - h.atMs <= HELD_PUSH_MAX_AGE_MS);
    for (const h of held) {
      const outs = this.sender.push(d.record.id, h.items);
      if (!outs.some((o) => o.type === 'send')) {
        this.holdPush(d, h.items); // still no key the device has proven
        continue;
      }
      this.counters.add('controller.push.held-sent');
      this.carryOut(outs, null, nowMs);
    }
  }

  // ------------------------------------------------------------------------- packets

  private onPacket(bytes: Buffer, from: ControlEndpoint): void {
    if (this.stopped) return;
    this.counters.add('controller.rx');
    const unknownBefore = this.sender.counters.get('keyroll.drop.unknown-spi');
    const nowMs = this.now();
    let outs: SenderOutput[];
    try {
      outs = this.sender.handle({ type: 'packet', bytes }, nowMs);
    } catch (e) {
      // Packets never make the core throw (errors.ts); if one does, it is a bug: keep
      // serving the other devices.
      this.counters.add('controller.error');
      this.o.log.error(logLine('core-error', { error: e instanceof Error ? e.message : String(e) }));
      return;
    }
    if (this.sender.counters.get('keyroll.drop.unknown-spi') > unknownBefore) this.onUnknownSpi(bytes, from, nowMs);
    for (const d of this.carryOut(outs, from, nowMs)) if (d.heldPushes.length > 0) this.flushPushes(d, nowMs);
    this.armTimer();
  }

  // The core knows no such SPI: a revoked device (refused and counted), a device enrolled
  // since the last refresh (read the store again soon), or junk.
  private onUnknownSpi(bytes: Buffer, from: ControlEndpoint, nowMs: number): void {
    let spi: number;
    try {
      spi = readEspSpi(bytes);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return;
    }
    const id = this.refusedSpis.get(spi);
    const r = id === undefined ? undefined : this.refused.get(id);
    if (r !== undefined) {
      this.counters.add('controller.drop.revoked');
      r.refused += 1;
      if (nowMs - r.lastLogMs >= REFUSED_LOG_INTERVAL_MS) {
        r.lastLogMs = nowMs;
        this.o.log.warn(logLine('refused', { device: r.record.id, name: r.record.name, reason: 'revoked', from: formatEndpoint(from), refused: r.refused }));
      }
      return;
    }
    this.counters.add('controller.drop.unknown-device');
    if (nowMs - this.lastRefreshMs >= UNKNOWN_REFRESH_MIN_MS) void this.refresh();
  }

  // Returns the devices whose packet was answered.
  private carryOut(outs: readonly SenderOutput[], from: ControlEndpoint | null, nowMs: number): Set<Served> {
    const answered = new Set<Served>();
    for (const out of outs) {
      if (out.type === 'event') {
        this.onEvent(out.event);
        continue;
      }
      const d = this.served.get(out.deviceId);
      if (d === undefined) continue; // removed meanwhile
      if (out.type === 'persist') {
        // Snapshot now: the state right after this input, which covers every send of it.
        const state = this.sender.durable(out.deviceId);
        this.enqueue(d, () => this.save(d, state));
        continue;
      }
      if (from !== null && !answered.has(d)) {
        answered.add(d);
        d.address = from;
        d.lastSeenMs = nowMs;
        d.rx += 1;
      }
      const to = from ?? d.address;
      if (to === null) {
        this.counters.add('controller.drop.no-address');
        continue;
      }
      const bytes = out.bytes;
      if (d.queue === null && !d.dirty) this.transmit(d, bytes, to);
      else this.enqueue(d, () => this.sendWhenDurable(d, bytes, to));
    }
    return answered;
  }

  private transmit(d: Served, bytes: Uint8Array, to: ControlEndpoint): void {
    if (this.socket === null) return;
    this.socket.send(bytes, to);
    d.tx += 1;
    this.counters.add('controller.tx');
  }

  private async sendWhenDurable(d: Served, bytes: Uint8Array, to: ControlEndpoint): Promise<void> {
    if (d.dirty && this.sender.hasReceiver(d.record.id)) await this.save(d, this.sender.durable(d.record.id));
    if (d.dirty) {
      this.counters.add('controller.drop.not-durable');
      return;
    }
    this.transmit(d, bytes, to);
  }

  private enqueue(d: Served, job: () => Promise<void>): void {
    d.queued += 1;
    const next = (d.queue ?? Promise.resolve()).then(job).finally(() => {
      d.queued -= 1;
      if (d.queued === 0) d.queue = null;
    });
    d.queue = next;
  }

  private async save(d: Served, state: SenderPeerDurable): Promise<void> {
    try {
      await this.o.store.saveChannelState(d.record.id, state);
      if (d.dirty) this.o.log.info(logLine('store-recovered', { device: d.record.id }));
      d.dirty = false;
    } catch (e) {
      d.dirty = true;
      this.counters.add('controller.store.save-failed');
      this.o.log.error(logLine('store-save-failed', { device: d.record.id, error: e instanceof Error ? e.message : String(e) }));
    }
  }

  private onEvent(e: SenderEvent): void {
    const d = this.served.get(e.deviceId);
    const name = d?.record.name;
    switch (e.name) {
      case 'initialised':
        if (d) d.initialisations += 1;
        this.o.log.info(logLine('keyroll', { event: e.name, device: e.deviceId, name, generation: e.generation, fingerprint: e.fingerprint }));
        break;
      case 'rotated':
        if (d) d.rotations += 1;
        this.o.log.info(logLine('keyroll', { event: e.name, device: e.deviceId, name, generation: e.generation, fingerprint: e.fingerprint, reason: e.reason }));
        break;
      case 'resent':
        if (d) d.resends += 1;
        this.o.log.info(logLine('keyroll', { event: e.name, device: e.deviceId, name, generation: e.generation, fingerprint: e.fingerprint }));
        break;
      case 'init-rate-limited':
        this.o.log.warn(logLine('keyroll', { event: e.name, device: e.deviceId, name }));
        break;
      case 'resync-sent':
        this.o.log.info(logLine('keyroll', { event: e.name, device: e.deviceId, name, nextSequence: e.nextSequence }));
        break;
    }
  }

  // --------------------------------------------------------------------------- timers

  // One timer, re-armed to the core's next due time. KeySender evaluates its rotation
  // flags lazily (nextDueMs() is Infinity today), so this normally never fires; it is
  // here so a core that does want ticks gets them.
  private armTimer(): void {
    this.tickTimer.arm(this.sender.nextDueMs());
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh().finally(() => this.scheduleRefresh());
    }, this.refreshIntervalMs);
  }

  // ---------------------------------------------------------------------- the store

  // Brings the sender in line with the store. One refresh at a time; a caller arriving
  // during one shares it.
  refresh(): Promise<void> {
    if (this.refreshing !== null) return this.refreshing;
    this.lastRefreshMs = this.now();
    this.refreshing = this.doRefresh()
      .catch((e: unknown) => {
        this.counters.add('controller.store.read-failed');
        this.o.log.error(logLine('store-read-failed', { error: e instanceof Error ? e.message : String(e) }));
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const records = await this.o.store.listDevices();
    if (this.stopped) return;
    const plan = planSync(records, new Set(this.served.keys()), new Set(this.refused.keys()));
    for (const r of plan.revoke) await this.refuse(r);
    for (const id of plan.remove) {
      this.sender.removeReceiver(id);
      this.served.delete(id);
      this.o.log.info(logLine('device-removed', { device: id }));
    }
    for (const id of plan.forget) this.forgetRefused(id);
    for (const r of plan.add) await this.serve(r);
    this.o.service?.onDevices?.(records);
  }

  private async serve(r: DeviceRecord): Promise<void> {
    let initKey: Uint8Array;
    let state: SenderPeerDurable | undefined;
    try {
      initKey = await this.o.store.initKey(r.id);
      state = await this.o.store.loadChannelState(r.id);
    } catch (e) {
      this.counters.add('controller.store.read-failed');
      this.o.log.error(logLine('device-load-failed', { device: r.id, name: r.name, error: e instanceof Error ? e.message : String(e) }));
      return;
    }
    if (this.stopped || this.sender.hasReceiver(r.id)) return;
    const params: ChannelParams = { deviceId: r.id, initKey, initSpi: r.initSpi, variant: r.variant, forwardSecrecy: r.forwardSecrecy };
    try {
      this.sender.addReceiver(params, this.now(), state);
    } catch (e) {
      // E.g. its init SPI is, for now, the SPI of another device's distributed key (one
      // SPI space): tried again at the next refresh, after that key rotated away.
      this.counters.add('controller.device-load-failed');
      this.o.log.error(logLine('device-load-failed', { device: r.id, name: r.name, error: e instanceof Error ? e.message : String(e) }));
      return;
    }
    this.forgetRefused(r.id);
    this.served.set(r.id, {
      record: r,
      lastSeenMs: null,
      address: null,
      rx: 0,
      tx: 0,
      initialisations: 0,
      rotations: 0,
      resends: 0,
      queue: null,
      queued: 0,
      dirty: false,
      heldPushes: [],
    });
    const v = this.sender.view(r.id, this.now());
    this.o.log.info(logLine('device-loaded', { device: r.id, name: r.name, variant: r.variant, forwardSecrecy: r.forwardSecrecy, generation: v.latest?.generation ?? 0 }));
  }

  // A revoked device: its keys leave the sender (its packets become unknown SPIs, which
  // onUnknownSpi counts as refused). Its SPIs are remembered for that count only.
  private async refuse(r: DeviceRecord): Promise<void> {
    const spis = new Set<number>([r.initSpi]);
    if (this.sender.hasReceiver(r.id)) {
      const v = this.sender.view(r.id, this.now());
      for (const k of [v.latest, v.previous]) if (k !== null) spis.add(k.spi);
      this.sender.removeReceiver(r.id);
      this.served.delete(r.id);
    } else {
      // Revoked before this controller started: the SPIs it was using are in its state.
      const state = await this.o.store.loadChannelState(r.id).catch(() => undefined);
      for (const k of [state?.latest, state?.previous]) if (k !== undefined && k !== null && k !== 'init') spis.add(k.spi);
    }
    this.refused.set(r.id, { record: r, spis: [...spis], refused: 0, lastLogMs: -Infinity });
    for (const spi of spis) this.refusedSpis.set(spi, r.id);
    this.o.log.info(logLine('device-revoked', { device: r.id, name: r.name }));
  }

  private forgetRefused(id: string): void {
    const r = this.refused.get(id);
    if (r === undefined) return;
    for (const spi of r.spis) if (this.refusedSpis.get(spi) === id) this.refusedSpis.delete(spi);
    this.refused.delete(id);
  }

  // ---------------------------------------------------------------------------- status

  status(): ControllerStatus {
    const nowMs = this.now();
    const devices: DeviceStatus[] = [];
    for (const [id, d] of this.served) {
      const v = this.sender.view(id, nowMs);
      devices.push({
        id,
        name: d.record.name,
        variant: v.variant,
        forwardSecrecy: v.forwardSecrecy,
        generation: v.latest?.generation ?? 0,
        latest: v.latest === null ? null : keyStatus(v.latest),
        previous: v.previous === null ? null : keyStatus(v.previous),
        send: keyStatus(v.send),
        receive: v.receive.map(keyStatus),
        latestProven: v.latestProven,
        rotationDue: v.rotationDue,
        lastSeenAt: d.lastSeenMs === null ? null : new Date(d.lastSeenMs).toISOString(),
        lastAddress: d.address === null ? null : formatEndpoint(d.address),
        rx: d.rx,
        tx: d.tx,
        initialisations: d.initialisations,
        rotations: d.rotations,
        resends: d.resends,
        storeDirty: d.dirty,
      });
    }
    devices.sort((a, b) => a.name.localeCompare(b.name));
    const revoked = [...this.refused.values()]
      .map((r) => ({ id: r.record.id, name: r.record.name, revokedAt: new Date(r.record.revokedAtMs ?? 0).toISOString(), refused: r.refused }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return {
      pid: process.pid,
      startedAt: new Date(this.startedAtMs).toISOString(),
      uptimeSeconds: Math.round((nowMs - this.startedAtMs) / 1000),
      listen: this.socket === null ? '-' : formatEndpoint(this.socket.local),
      rotationSeconds: this.options.rotationPeriodMs === null ? null : this.options.rotationPeriodMs / 1000,
      devices,
      revoked,
      counters: { ...this.counters.snapshot(), ...this.sender.counters.snapshot() },
    };
  }

  // ------------------------------------------------------------------------------ stop

  // Stops receiving, then waits for every pending save (and the sends behind it), so
  // a graceful stop leaves the store with everything that was sent.
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.tickTimer.stop();
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    const pending = [...this.served.values()].map((d) => d.queue).filter((q): q is Promise<void> => q !== null);
    await Promise.allSettled(pending);
    await this.refreshing;
    await this.socket?.close();
    this.socket = null;
  }
}
