// The agent's seed-000 part: the sans-I/O SettingsAgent (src/settings) joined to the data
// plane and to the control channel.
//
//   data plane 'acquire' (extended SPD entry, no SA)  -> core: hold the packet, ask
//   control channel items (distribution, activation, errors) -> core
//   core 'send'          -> a settings item on the control channel (KeyrollClient.attach)
//   core 'install-*', 'delete-sa', 'release' -> the data plane, strictly in output order
//                           (one chain: the inbound SA is in before the outbound SA, and
//                           both before the held packets go out again)
//   every second         -> traffic on inbound SAs -> core 'inbound-used' (the signal of
//                           make-before-break: the peer has switched to the new SAs)
//   data plane 'unknown-spi' from a peer -> core as an activation for that peer (the peer
//                           uses SAs this end lost in a restart: set up new ones)
import { Counters } from '../util/counters.js';
import type { ControlItem } from '../wire/control-message.js';
import { encodeSettingsItem, isSettingsItemType, readSettingsItems } from '../wire/control-settings.js';
import { DecodeError } from '../wire/errors.js';
import type { DataPlane } from '../ipsec/dataplane.js';
import { defaultAgentOptions, SettingsAgent } from '../settings/agent.js';
import type { AgentEntryStatus, AgentEvent, AgentOptions, AgentOutput, AgentSpdEntry } from '../settings/types.js';
import { cryptoRandomSource } from '../keyroll/index.js';
import { logFields, logLine, type EventLog } from '../controller/log-line.js';
import { spiHex } from '../util/spi-hex.js';
import { DueTimer } from '../io/due-timer.js';

const USAGE_POLL_MS = 1000;

export type AgentTuning = Partial<Omit<AgentOptions, 'random'>>;

export interface SettingsClientOptions {
  readonly entries: readonly AgentSpdEntry[];
  readonly dataPlane: DataPlane;
  readonly send: (items: readonly ControlItem[]) => void; // to the controller
  readonly log: EventLog;
  readonly now: () => number;
  readonly tuning?: AgentTuning;
}

export class SettingsClient {
  readonly counters = new Counters();
  readonly core: SettingsAgent;
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: DueTimer;
  private poll: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly used = new Set<number>(); // inbound SPIs already reported as used
  private stopped = false;
  private readonly events: { atMs: number; event: AgentEvent }[] = [];

  constructor(private readonly o: SettingsClientOptions) {
    this.core = new SettingsAgent(o.entries, defaultAgentOptions({ ...o.tuning, random: cryptoRandomSource }));
    this.timer = new DueTimer(() => this.o.now(), () => this.input({ type: 'tick' }));
  }

  // Installs the extended SPD entries, then listens for acquires.
  async start(): Promise<void> {
    for (const p of this.core.initialPolicies()) await this.o.dataPlane.installPolicy(p);
    this.unsubscribe = this.o.dataPlane.on((e) => {
      if (e.type === 'acquire') this.input({ type: 'acquire', policyId: e.policyId, packet: e.packet });
      else if (e.type === 'unknown-spi') this.onUnknownSpi(e.remoteAddress);
    });
    this.poll = setInterval(() => void this.pollUsage(), USAGE_POLL_MS);
    this.poll.unref();
    this.armTimer();
  }

  // ESP from a peer of an extended SPD entry under an SPI this end does not have: the
  // peer still uses SAs this end lost (this agent restarted, its data plane is new) and
  // would keep doing so until its next renewal. Treated like a request activation for
  // that peer (S51-S55): a new request, so the controller sets up fresh SAs on both ends.
  // The data plane reports this at most once a second per address; the core ignores it
  // while a request cycle runs or right after an install.
  private onUnknownSpi(remoteAddress: string): void {
    const flows = new Map<string, AgentSpdEntry['flow']>();
    for (const e of this.o.entries) if (e.requestPeer === remoteAddress) flows.set(JSON.stringify(e.flow), e.flow);
    if (flows.size === 0) return;
    this.counters.add('agent.settings.unknown-spi');
    for (const flow of flows.values()) this.input({ type: 'message', message: { kind: 'activation', activation: { peer: remoteAddress, flow } } });
  }

  knownItemType = (itemType: number): boolean => isSettingsItemType(itemType);

  // Items the controller sent on the control channel.
  onDeliver = (items: readonly ControlItem[]): void => {
    let messages;
    try {
      messages = readSettingsItems(items);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.counters.add('agent.settings.drop.decode');
      this.o.log.warn(logLine('settings-drop', { reason: `decode: ${e.message}` }));
      return;
    }
    for (const message of messages) this.input({ type: 'message', message });
  };

  private input(input: Parameters<SettingsAgent['handle']>[0]): void {
    if (this.stopped) return;
    this.carryOut(this.core.handle(input, this.o.now()));
    this.armTimer();
  }

  private carryOut(outs: readonly AgentOutput[]): void {
    const dp = this.o.dataPlane;
    for (const out of outs) {
      switch (out.type) {
        case 'send':
          try {
            this.o.send([encodeSettingsItem(out.message)]);
            this.counters.add('agent.settings.tx');
          } catch (e) {
            this.counters.add('agent.settings.error.encode');
            this.o.log.error(logLine('settings-encode-failed', { error: e instanceof Error ? e.message : String(e) }));
          }
          break;
        case 'install-policy': {
          const policy = out.policy;
          this.then('install-policy', async () => {
            // S45 writes the applied policy into the SPD entry. The entry is there since
            // start(), and the ESP engine takes the mode from the SA, so it is left in
            // place: replacing it would drop its routes into the TUN device for a moment,
            // and packets could then leave in clear.
            if ((await dp.listPolicies()).some((p) => p.id === policy.id)) return;
            await dp.installPolicy(policy);
          });
          break;
        }
        case 'install-sa': {
          const sa = out.sa;
          this.then('install-sa', async () => {
            try {
              await dp.installSa(sa);
            } catch (e) {
              // Same (direction, SPI) already there (a duplicate distribution raced a
              // retransmission): replace its keys instead.
              if ((e as { code?: string }).code !== 'sa-exists') throw e;
              await dp.updateSa(sa);
            }
          });
          break;
        }
        case 'delete-sa': {
          const { direction, spi } = out;
          this.used.delete(spi);
          this.then('delete-sa', async () => void (await dp.deleteSa(direction, spi)));
          break;
        }
        case 'release': {
          const packets = out.packets;
          this.then('release', () => dp.resubmit(packets));
          break;
        }
        case 'event':
          this.onEvent(out.event);
          break;
      }
    }
  }

  private then(what: string, op: () => Promise<void>): void {
    this.chain = this.chain.then(op).catch((e: unknown) => {
      this.counters.add(`agent.settings.dataplane-error.${what}`);
      this.o.log.error(logLine('dataplane-error', { op: what, error: e instanceof Error ? e.message : String(e) }));
    });
  }

  private onEvent(e: AgentEvent): void {
    this.events.push({ atMs: this.o.now(), event: e });
    if (this.events.length > 100) this.events.shift();
    const fields: Record<string, unknown> = { event: e.name };
    for (const [k, v] of Object.entries(e)) {
      if (k === 'name') continue;
      fields[k] = k.toLowerCase().endsWith('spi') && typeof v === 'number' ? spiHex(v) : v;
    }
    if (e.name === 'failed' || e.name === 'hold-overflow') this.o.log.warn(logLine('settings', logFields(fields)));
    else this.o.log.info(logLine('settings', logFields(fields)));
  }

  // Make-before-break: report inbound SAs that carried traffic since the last look.
  private async pollUsage(): Promise<void> {
    if (this.stopped) return;
    let sas;
    try {
      sas = await this.o.dataPlane.listSas();
    } catch {
      return;
    }
    for (const s of sas) {
      if (s.direction !== 'in' || s.counters.packets === 0 || this.used.has(s.spi)) continue;
      this.used.add(s.spi);
      this.input({ type: 'inbound-used', spi: s.spi });
    }
  }

  private armTimer(): void {
    this.timer.arm(this.core.nextDueMs());
  }

  status(): { entries: AgentEntryStatus[]; recent: { at: string; event: AgentEvent }[]; counters: Record<string, number> } {
    return {
      entries: this.core.status(this.o.now()),
      recent: this.events.slice(-20).map((x) => ({ at: new Date(x.atMs).toISOString(), event: x.event })),
      counters: { ...this.counters.snapshot(), ...this.core.counters.snapshot() },
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timer.stop();
    if (this.poll !== null) clearInterval(this.poll);
    this.unsubscribe?.();
    await this.chain;
  }
}
