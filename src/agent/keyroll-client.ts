// The agent's end of the control channel (DESIGN.md "Control channel"): the seed-004 key
// receiver (src/keyroll, sans-I/O) for this device's channel, run over a UDP socket.
//
// The shell feeds the core packets and ticks (one timer, re-armed to nextDueMs()) and
// carries out its outputs:
//   - 'persist': write receiver.durable() to the state file (atomic, 0600) before the
//     sends that follow; synchronous, so nothing can overtake it. If the write fails,
//     nothing is sent until a write succeeds: a key the agent uses must survive a crash.
//   - 'send': to the controller;
//   - 'deliver': other services' items (seed-000 settings), handed to options.onDeliver;
//   - 'event': a structured log line, without secrets.
import { renameSync } from 'node:fs';
import { isIP } from 'node:net';
import { Counters } from '../util/counters.js';
import type { ControlItem } from '../wire/control-message.js';
import { cryptoRandomSource, defaultReceiverOptions, KeyReceiver } from '../keyroll/index.js';
import type { ChannelParams, ReceiverDurable, ReceiverEvent, ReceiverInput, ReceiverOptions, ReceiverOutput } from '../keyroll/index.js';
import { formatEndpoint, openControlUdp, type ControlEndpoint, type ControlUdpSocket } from '../io/control-udp.js';
import { anchoredClock } from '../io/clock.js';
import { DueTimer } from '../io/due-timer.js';
import { logLine, type EventLog } from '../controller/log-line.js';
import { channelIdentity, readStateFile, StateFileError, writeStateFile, type ChannelIdentity } from './state-file.js';
import { agentKeyStatus, type AgentStatus } from './keyroll-status.js';

export type ReceiverTuning = Partial<Omit<ReceiverOptions, 'random' | 'knownItemType'>>;

// Other services on this channel (seed 000 settings): which item types they read, and
// where their items go.
export interface ChannelService {
  readonly knownItemType: (itemType: number) => boolean;
  readonly onDeliver: (items: readonly ControlItem[]) => void;
}

export interface KeyrollClientOptions {
  readonly params: ChannelParams;
  readonly controller: ControlEndpoint; // an IP address (resolve names first)
  readonly bind?: ControlEndpoint; // default: any address of the controller's family, any port
  readonly statePath: string;
  readonly receiver?: ReceiverTuning;
  readonly log: EventLog;
  readonly maxDatagramBytes?: number;
  readonly now?: () => number; // wall-clock ms (default io/clock.ts)
  readonly service?: ChannelService;
}

export class KeyrollClient {
  readonly counters = new Counters();
  private readonly receiver: KeyReceiver;
  private readonly identity: ChannelIdentity;
  private readonly now: () => number;
  private readonly startedAtMs: number;
  private socket: ControlUdpSocket | null = null;
  private readonly timer: DueTimer;
  private dirty = false;
  private stopped = false;
  private lastAnswerMs: number | null = null;
  private lastInstallMs: number | null = null;
  private readonly installs = { init: 0, rotation: 0 };

  private constructor(private readonly o: KeyrollClientOptions) {
    this.now = o.now ?? anchoredClock();
    this.startedAtMs = this.now();
    this.timer = new DueTimer(this.now, () => this.input({ type: 'tick' }));
    this.identity = channelIdentity(o.params);
    const options = defaultReceiverOptions({
      ...o.receiver,
      random: cryptoRandomSource,
      ...(o.service !== undefined ? { knownItemType: o.service.knownItemType } : {}),
    });
    const durable = this.loadState();
    this.receiver = new KeyReceiver(o.params, options, this.startedAtMs, durable);
    const v = this.receiver.view();
    o.log.info(
      logLine('keyroll', {
        event: durable === undefined ? 'fresh-start' : 'state-restored',
        device: o.params.deviceId,
        generation: v.latest?.generation ?? 0,
        fingerprint: v.latest?.fingerprint ?? null,
      }),
    );
  }

  static async start(o: KeyrollClientOptions): Promise<KeyrollClient> {
    const c = new KeyrollClient(o);
    const family = isIP(o.controller.address);
    const bind = o.bind ?? { address: family === 6 ? '::' : '0.0.0.0', port: 0 };
    c.socket = await openControlUdp({
      bind,
      ...(o.maxDatagramBytes !== undefined ? { maxDatagramBytes: o.maxDatagramBytes } : {}),
      onMessage: (bytes) => c.input({ type: 'packet', bytes }),
      onOversize: () => {
        c.counters.add('agent.rx');
        c.counters.add('agent.drop.oversize');
      },
      onSendError: (e) => {
        c.counters.add('agent.tx-error');
        o.log.warn(logLine('send-failed', { to: formatEndpoint(o.controller), error: (e as NodeJS.ErrnoException).code ?? e.message }));
      },
      onError: (e) => o.log.error(logLine('socket-error', { error: e.message })),
    });
    o.log.info(logLine('started', { device: o.params.deviceId, controller: formatEndpoint(o.controller), local: formatEndpoint(c.socket.local) }));
    c.armTimer();
    return c;
  }

  // The state of this channel from the state file, if there is one. A file of another
  // enrollment is ignored (and replaced at the first write); an unreadable one is moved
  // aside. Either way the agent starts with an initialisation, which is always safe.
  private loadState(): ReceiverDurable | undefined {
    const path = this.o.statePath;
    try {
      const r = readStateFile(path, this.identity);
      if (r.kind === 'ok') return r.durable;
      if (r.kind === 'other-channel') {
        this.o.log.warn(logLine('state-ignored', { file: path, reason: 'other enrollment', foundDevice: r.found.deviceId }));
      }
      return undefined;
    } catch (e) {
      if (!(e instanceof StateFileError)) throw e;
      const aside = `${path}.corrupt-${this.startedAtMs}`;
      try {
        renameSync(path, aside);
      } catch {
        // leave it; it is overwritten at the first write
      }
      this.counters.add('agent.state.corrupt');
      this.o.log.error(logLine('state-ignored', { file: path, reason: e.message, movedTo: aside }));
      return undefined;
    }
  }

  get local(): ControlEndpoint {
    if (this.socket === null) throw new Error('not started');
    return this.socket.local;
  }

  // Items of another service for the controller: sent now if the channel is idle and
  // keyed, else with the next registration (KeyReceiver 'attach').
  attach(items: readonly ControlItem[]): void {
    this.input({ type: 'attach', items });
  }

  // Operator request: start an initialisation now (seed flows 2 and 8).
  reinitialise(): void {
    this.input({ type: 'reinitialise' });
  }

  private input(input: ReceiverInput): void {
    if (this.stopped) return;
    const nowMs = this.now();
    const waitingFor = input.type === 'packet' ? this.receiver.view().outstanding?.messageId : undefined;
    if (input.type === 'packet') this.counters.add('agent.rx');
    const outs = this.receiver.handle(input, nowMs);
    if (waitingFor !== undefined && this.receiver.view().outstanding?.messageId !== waitingFor) this.lastAnswerMs = nowMs;
    this.carryOut(outs, nowMs);
    this.armTimer();
  }

  private carryOut(outs: readonly ReceiverOutput[], nowMs: number): void {
    for (const out of outs) {
      switch (out.type) {
        case 'persist':
          this.persist();
          break;
        case 'send':
          if (this.dirty) this.persist(); // write-ahead: never send what a crash could forget
          if (this.dirty) {
            this.counters.add('agent.drop.not-durable');
            break;
          }
          if (this.socket !== null) {
            this.socket.send(out.bytes, this.o.controller);
            this.counters.add('agent.tx');
          }
          break;
        case 'deliver':
          if (this.o.service === undefined) {
            this.o.log.info(logLine('deliver', { messageId: out.messageId, items: out.items.length }));
            break;
          }
          try {
            this.o.service.onDeliver(out.items);
          } catch (e) {
            this.counters.add('agent.service-error');
            this.o.log.error(logLine('service-error', { error: e instanceof Error ? e.message : String(e) }));
          }
          break;
        case 'event':
          this.onEvent(out.event, nowMs);
          break;
      }
    }
  }

  private persist(): void {
    try {
      writeStateFile(this.o.statePath, this.identity, this.receiver.durable());
      if (this.dirty) this.o.log.info(logLine('state-recovered', { file: this.o.statePath }));
      this.dirty = false;
    } catch (e) {
      if (!this.dirty) this.o.log.error(logLine('state-write-failed', { file: this.o.statePath, error: e instanceof Error ? e.message : String(e) }));
      this.dirty = true;
      this.counters.add('agent.state.write-failed');
    }
  }

  private onEvent(e: ReceiverEvent, nowMs: number): void {
    const device = this.o.params.deviceId;
    switch (e.name) {
      case 'installed':
        this.installs[e.kind] += 1;
        this.lastInstallMs = nowMs;
        this.o.log.info(logLine('keyroll', { event: e.name, device, kind: e.kind, generation: e.generation, fingerprint: e.fingerprint }));
        // Register under the new key at once: the proof lets the controller push to this
        // agent (seed-000 activations and distributions) without waiting for a heartbeat.
        if (e.kind === 'init' && this.o.service !== undefined) queueMicrotask(() => this.attach([]));
        break;
      case 'timeout':
        this.o.log.info(logLine('keyroll', { event: e.name, device, kind: e.kind, messageId: e.messageId }));
        break;
      case 'init-started':
        this.o.log.info(logLine('keyroll', { event: e.name, device, reason: e.reason }));
        break;
      case 'resynced':
        this.o.log.info(logLine('keyroll', { event: e.name, device, nextSequence: e.nextSequence }));
        break;
      case 'challenged':
        this.o.log.info(logLine('keyroll', { event: e.name, device }));
        break;
    }
  }

  // One timer, re-armed to the core's next due time after every input.
  private armTimer(): void {
    this.timer.arm(this.receiver.nextDueMs());
  }

  status(): AgentStatus {
    const nowMs = this.now();
    const v = this.receiver.view();
    return {
      pid: process.pid,
      startedAt: new Date(this.startedAtMs).toISOString(),
      uptimeSeconds: Math.round((nowMs - this.startedAtMs) / 1000),
      deviceId: v.deviceId,
      variant: v.variant,
      forwardSecrecy: this.o.params.forwardSecrecy,
      controller: formatEndpoint(this.o.controller),
      local: this.socket === null ? '-' : formatEndpoint(this.socket.local),
      stateFile: this.o.statePath,
      generation: v.latest?.generation ?? 0,
      initPending: v.initPending,
      latest: v.latest === null ? null : agentKeyStatus(v.latest),
      previous: v.previous === null ? null : agentKeyStatus(v.previous),
      send: agentKeyStatus(v.send),
      receive: v.receive.map(agentKeyStatus),
      outstanding: v.outstanding === null ? null : { kind: v.outstanding.kind, transmissions: v.outstanding.transmissions },
      lastAnswerAt: this.lastAnswerMs === null ? null : new Date(this.lastAnswerMs).toISOString(),
      lastInstallAt: this.lastInstallMs === null ? null : new Date(this.lastInstallMs).toISOString(),
      installs: { ...this.installs },
      stateDirty: this.dirty,
      counters: { ...this.counters.snapshot(), ...this.receiver.counters.snapshot() },
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timer.stop();
    await this.socket?.close();
    this.socket = null;
  }
}
