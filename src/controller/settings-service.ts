// The controller's seed-000 settings service: the sans-I/O SettingsServer (src/settings)
// run on the control channel (requests arrive in agents' registrations, answers leave as
// pushes) with the store behind it.
//
//   - 'persist' / 'forget': the management table in the store, write-ahead: every
//     distribution that follows waits for the save, so keys are never handed out before they are stored
//     and a controller killed at any moment restarts with every entry it ever answered for
//     (seed 000 leaves persistence open; DESIGN.md "Processes");
//   - 'send': encoded as a control item and pushed to the device (KeyrollServer.push); a
//     push that cannot go (device offline, not keyed yet) is counted: the seed protocol
//     retransmits (requests every 5 s, activations every 5 s);
//   - 'event': a log line and a row of `keyplane events` (never keys).
// Devices (addresses) come from the keyroll server's store refresh, policies from the
// store on the same beat (looked up by src/settings/server-policies.ts), so `keyplane policy add` takes effect within one refresh.
import { Counters } from '../util/counters.js';
import { canonicalIp } from '../wire/address.js';
import type { ControlItem } from '../wire/control-message.js';
import { encodeSettingsItem, isSettingsItemType, readSettingsItems } from '../wire/control-settings.js';
import { DecodeError } from '../wire/errors.js';
import { defaultServerOptions, SettingsServer } from '../settings/server.js';
import { PolicyTable } from '../settings/server-policies.js';
import type { ManagementEntry, ServerEvent, ServerOptions, ServerOutput } from '../settings/types.js';
import type { ControllerStore, DeviceRecord, StoredEvent } from '../store/types.js';
import { cryptoRandomSource } from '../keyroll/index.js';
import { logFields, logLine, type EventLog } from './log-line.js';
import type { ControllerChannelService } from './keyroll-server.js';
import { DueTimer } from '../io/due-timer.js';

const EVENT_FLUSH_MS = 200;

export type ServerTuning = Partial<Pick<ServerOptions, 'activationIntervalMs' | 'activationMaxSends'>>;

export interface SettingsServiceOptions {
  readonly store: ControllerStore;
  readonly log: EventLog;
  readonly now: () => number;
  readonly tuning?: ServerTuning;
}

export interface Pusher {
  push(deviceId: string, items: readonly ControlItem[]): boolean;
}

export class SettingsService implements ControllerChannelService {
  readonly counters = new Counters();
  readonly core: SettingsServer;
  private pusher: Pusher | null = null;
  private owner = new Map<string, string>(); // address -> device id (non-revoked devices)
  private policies = new PolicyTable([]);
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private dirty = false; // a save failed: nothing is sent until a save succeeds
  private readonly timer: DueTimer;
  private pendingEvents: Omit<StoredEvent, 'id'>[] = [];
  private eventTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: SettingsServiceOptions) {
    this.core = new SettingsServer(
      defaultServerOptions({
        ...o.tuning,
        random: cryptoRandomSource,
        deviceOfAddress: (address) => this.owner.get(address),
        ownsAddress: (deviceId, address) => this.owner.get(address) === deviceId,
        lookupPolicy: (requester, peer, flow) => this.policies.lookup(requester, peer, flow),
      }),
    );
    this.timer = new DueTimer(
      () => this.o.now(),
      () => {
        this.carryOut(this.core.handle({ type: 'tick' }, this.o.now()));
        this.armTimer();
      },
    );
  }

  // Where sends go (the keyroll server, once it runs). Sends before that are counted as
  // failed pushes; the seed protocol's retransmissions recover them.
  setPusher(pusher: Pusher): void {
    this.pusher = pusher;
  }

  // Loads the management table and the policies; call before the channel starts, so no
  // request meets an empty table.
  async start(): Promise<void> {
    const entries = await this.o.store.listEntries();
    this.core.restore(entries, this.o.now());
    await this.reloadPolicies();
    this.o.log.info(logLine('settings-started', { entries: entries.length, pending: entries.filter((e) => e.params === null).length, policies: this.policies.size }));
    this.armTimer();
  }

  // ------------------------------------------------------------ ControllerChannelService

  knownItemType = (itemType: number): boolean => isSettingsItemType(itemType);

  onRegistration = (deviceId: string, items: readonly ControlItem[], nowMs: number): void => {
    if (this.stopped) return;
    let messages;
    try {
      messages = readSettingsItems(items);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.counters.add('settings.drop.decode');
      this.o.log.warn(logLine('settings-drop', { device: deviceId, reason: `decode: ${e.message}` }));
      return;
    }
    for (const m of messages) {
      if (m.kind !== 'request') {
        this.counters.add('settings.drop.unexpected-message');
        continue;
      }
      this.carryOut(this.core.handle({ type: 'request', deviceId, request: m.request }, nowMs));
    }
    this.armTimer();
  };

  onDevices = (records: readonly DeviceRecord[]): void => {
    const owner = new Map<string, string>();
    for (const r of records) {
      if (r.revokedAtMs !== null) continue;
      for (const a of r.addresses) owner.set(canonicalIp(a), r.id);
    }
    this.owner = owner;
    void this.reloadPolicies();
  };

  private async reloadPolicies(): Promise<void> {
    try {
      this.policies = new PolicyTable(await this.o.store.listPolicies());
    } catch (e) {
      this.counters.add('settings.store.read-failed');
      this.o.log.error(logLine('store-read-failed', { what: 'policies', error: e instanceof Error ? e.message : String(e) }));
    }
  }

  // --------------------------------------------------------------------------- outputs

  private carryOut(outs: readonly ServerOutput[]): void {
    for (const out of outs) {
      switch (out.type) {
        case 'persist': {
          const entry = out.entry;
          this.enqueue(() => this.save(() => this.o.store.saveEntry(entry)));
          break;
        }
        case 'forget': {
          const id = out.entryId;
          this.enqueue(() => this.save(() => this.o.store.deleteEntry(id)));
          break;
        }
        case 'send': {
          let item: ControlItem;
          try {
            item = encodeSettingsItem(out.message);
          } catch (e) {
            this.counters.add('settings.error.encode');
            this.o.log.error(logLine('settings-encode-failed', { error: e instanceof Error ? e.message : String(e) }));
            break;
          }
          const to = out.deviceId;
          // Only distributions carry keys, so only they wait for the saves before them
          // (write-ahead). Activations and errors go at once: an activation for an entry
          // a crash then loses is harmless (the peer's request meets no entry and the
          // requester's retransmission recreates it), and it saves a commit on the
          // first-packet path.
          if ((this.queued === 0 && !this.dirty) || out.message.kind !== 'distribution') this.push(to, item);
          else this.enqueue(async () => (this.dirty ? this.counters.add('settings.drop.not-durable') : this.push(to, item)));
          break;
        }
        case 'event':
          this.onEvent(out.event);
          break;
      }
    }
  }

  private push(deviceId: string, item: ControlItem): void {
    if (this.pusher?.push(deviceId, [item]) === true) this.counters.add('settings.push');
    else this.counters.add('settings.push.failed');
  }

  private enqueue(job: () => Promise<void>): void {
    this.queued += 1;
    this.queue = this.queue.then(job).finally(() => {
      this.queued -= 1;
    });
  }

  private async save(op: () => Promise<void>): Promise<void> {
    try {
      await op();
      if (this.dirty) this.o.log.info(logLine('store-recovered', { what: 'settings' }));
      this.dirty = false;
    } catch (e) {
      this.dirty = true;
      this.counters.add('settings.store.save-failed');
      this.o.log.error(logLine('store-save-failed', { what: 'settings', error: e instanceof Error ? e.message : String(e) }));
    }
  }

  private onEvent(e: ServerEvent): void {
    const atMs = this.o.now();
    let deviceId: string | null = null;
    let detail: Record<string, unknown>;
    switch (e.name) {
      case 'request':
        deviceId = e.deviceId;
        detail = { step: e.step, requestId: e.request.requestId, requester: e.request.requester, peer: e.request.peer, spi: e.request.spi, flow: e.request.flow };
        this.o.log.info(logLine('settings', logFields({ event: 'request', device: e.deviceId, ...detail })));
        break;
      case 'distributed':
        detail = { entry: e.entryId, a: e.a, b: e.b, spis: e.spis, lifetimeSeconds: e.lifetimeSeconds, renewal: e.renewal };
        this.o.log.info(logLine('settings', logFields({ event: 'distributed', ...detail })));
        break;
      case 'activation':
        detail = { entry: e.entryId, to: e.to, send: e.send };
        this.o.log.info(logLine('settings', logFields({ event: 'activation', ...detail })));
        break;
      case 'error':
        deviceId = e.deviceId;
        detail = { kind: e.error.kind, requestId: e.error.requestId, requester: e.error.requester, peer: e.error.peer, reason: e.error.reason };
        this.o.log.warn(logLine('settings', logFields({ event: 'error', device: e.deviceId, ...detail })));
        break;
      case 'expired':
        detail = { entry: e.entryId, complete: e.complete };
        this.o.log.info(logLine('settings', logFields({ event: 'expired', ...detail })));
        break;
    }
    this.pendingEvents.push({ atMs, kind: e.name, deviceId, detail });
    if (this.eventTimer === null && !this.stopped) {
      this.eventTimer = setTimeout(() => {
        this.eventTimer = null;
        void this.flushEvents();
      }, EVENT_FLUSH_MS);
    }
  }

  private async flushEvents(): Promise<void> {
    const batch = this.pendingEvents.splice(0);
    if (batch.length === 0) return;
    try {
      await this.o.store.appendEvents(batch);
    } catch (e) {
      this.counters.add('settings.store.events-failed');
      this.o.log.error(logLine('store-save-failed', { what: 'events', error: e instanceof Error ? e.message : String(e) }));
    }
  }

  // ----------------------------------------------------------------------------- timers

  private armTimer(): void {
    this.timer.arm(this.core.nextDueMs());
  }

  entries(): readonly ManagementEntry[] {
    return this.core.entries();
  }

  status(): { entries: number; pending: number; complete: number; policies: number; addresses: number; counters: Record<string, number> } {
    const entries = this.core.entries();
    const complete = entries.filter((e) => e.params !== null).length;
    return {
      entries: entries.length,
      pending: entries.length - complete,
      complete,
      policies: this.policies.size,
      addresses: this.owner.size,
      counters: { ...this.counters.snapshot(), ...this.core.counters.snapshot() },
    };
  }

  // Waits for every pending save and the sends behind it, then writes the last events.
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timer.stop();
    if (this.eventTimer !== null) clearTimeout(this.eventTimer);
    this.eventTimer = null;
    await this.queue;
    await this.flushEvents();
  }
}
