// The device's setting management unit (seed 000 S41-S49, S51-S60) plus the hold/resume
// half of its IPsec processing unit (S31-S37), sans-I/O (DESIGN.md layer 4): the data plane
// does S31-S34 itself (SPD lookup; an SA exists -> plain IPsec) and reports an 'acquire'
// with the packet for an extended SPD entry without an outbound SA; this core holds the
// packet (S35), asks the setting server (S41-S43, one outstanding request per SPD entry),
// installs what comes back (S44-S45) and releases the held packets (S36 -> S33), or drops
// them on failure (S37, S49).
//
// Beyond the seed (its "gaps", decided here):
//   - renewal: at renewAtFraction of the SA lifetime the agent asks again (new ID, new
//     SPI; seed §0127) and changes over make-before-break: the new inbound SA first, the
//     new outbound SA only once traffic arrives on the new inbound SA (the peer holds the
//     new SAs) or switchDelayMs later (never later than SWITCH_GUARD_MS before the old
//     outbound SA dies); the old inbound SA stays switchDelayMs more for packets in flight;
//   - an activation that arrives within retransmitIntervalMs after this entry installed a
//     set is a stale copy of the activation the server sent for that very set (the two
//     requests crossed): ignored as 'in-progress' instead of starting a needless rekey;
//     a real one is retransmitted by the server 5 s later and is then answered;
//   - a content-mismatch answer is retried at most MAX_MISMATCH_RETRIES times per cycle
//     (a server that answers nothing else would otherwise keep the agent busy forever);
//   - a failed renewal is retried once half of the remaining lifetime has passed.
//
// Outputs are to be carried out IN ORDER (install the SAs before releasing held packets).
import { Counters } from '../util/counters.js';
import { KeyplaneError } from '../util/errors.js';
import { canonicalIp } from '../wire/address.js';
import type { Policy } from '../ipsec/types.js';
import type { AppliedPolicy, SaParameters, SettingsActivation, SettingsDistribution, SettingsError, SettingsMessage } from '../wire/control-settings.js';
import { HoldQueue } from './agent-hold-queue.js';
import { pickRequestId, pickSpi } from './agent-ids.js';
import { buildSa, distributionProblem, flowEqual, isUsableSpi } from './agent-sa.js';
import type {
  AgentEntryStatus,
  AgentEvent,
  AgentFailure,
  AgentInput,
  AgentOptions,
  AgentOutput,
  AgentSpdEntry,
  RandomSource,
  SettingsAgentCore,
} from './types.js';

// The old outbound SA is replaced at least this long before its hard expiry, so no packet
// is sealed with an SA the peer is about to forget.
export const SWITCH_GUARD_MS = 2000;
// Content-mismatch answers accepted per request cycle before giving up ('refused').
export const MAX_MISMATCH_RETRIES = 4;

const C = 'agent.settings.';

export function defaultAgentOptions(partial: Partial<AgentOptions> & { readonly random: RandomSource }): AgentOptions {
  return {
    retransmitIntervalMs: 5000, // seed 000 S43: every 5 s
    maxSends: 6, // seed 000 S43: at most 6 sends
    holdQueuePackets: 64,
    renewAtFraction: 0.8,
    switchDelayMs: 6000, // > retransmitIntervalMs: the peer's copy of a lost distribution comes with its next retransmission
    udpEncapPort: 4500, // RFC 3948
    replayWindow: 1024,
    ...partial,
  };
}

type Origin = 'acquire' | 'activation' | 'renewal';
type Reason = Extract<AgentEvent, { name: 'request-sent' }>['reason'];

interface Outstanding {
  requestId: number;
  spi: number;
  sends: number;
  nextAtMs: number; // next retransmission, or the timeout after the last send
  reason: Reason;
  readonly origin: Origin;
  mismatches: number;
  readonly excludedIds: Set<number>; // from content-mismatch entry lists (S48)
  readonly excludedSpis: Set<number>;
}

interface SaSet {
  readonly entryId: string;
  readonly requestId: number;
  readonly applied: AppliedPolicy;
  readonly inboundSpi: number;
  readonly outboundSpi: number;
  readonly installedAtMs: number;
  readonly expiresAtMs: number;
  readonly renewAtMs: number;
  renewDueMs: number | null; // null once the renewal started (or was retried and given up)
}

// A renewed set whose inbound SA is installed and whose outbound SA waits for the switch.
interface PendingSwitch {
  readonly set: SaSet;
  readonly outbound: SaParameters;
  readonly deadlineMs: number;
}

interface EntryState {
  readonly entry: AgentSpdEntry;
  readonly queue: HoldQueue;
  heldDropped: number;
  outstanding: Outstanding | null;
  current: SaSet | null;
  pending: PendingSwitch | null;
  retiring: { readonly spi: number; readonly deleteAtMs: number }[]; // old inbound SAs
  lastFailure: { readonly failure: AgentFailure; readonly atMs: number; readonly reason: string } | null;
  failed: boolean;
  lastInstalledAtMs: number | null;
  // Acquires answered by releasing the packet straight back while an outbound SA is
  // believed installed (the install/acquire race of a shell); bounded so a data plane that
  // lost the SA cannot make acquire -> release loop forever.
  releaseBudget: number;
}

function bad(code: string, message: string): never {
  throw new KeyplaneError(`settings.${code}`, message);
}

function checkOptions(o: AgentOptions): void {
  if (typeof o.random !== 'function') bad('bad-agent-options', 'random must be a RandomSource function');
  if (!Number.isFinite(o.retransmitIntervalMs) || o.retransmitIntervalMs <= 0) bad('bad-agent-options', `retransmitIntervalMs must be > 0, got ${o.retransmitIntervalMs}`);
  if (!Number.isInteger(o.maxSends) || o.maxSends < 1) bad('bad-agent-options', `maxSends must be an integer >= 1, got ${o.maxSends}`);
  if (!Number.isInteger(o.holdQueuePackets) || o.holdQueuePackets < 0) bad('bad-agent-options', `holdQueuePackets must be an integer >= 0, got ${o.holdQueuePackets}`);
  if (!(o.renewAtFraction > 0 && o.renewAtFraction < 1)) bad('bad-agent-options', `renewAtFraction must be in (0, 1), got ${o.renewAtFraction}`);
  if (!Number.isFinite(o.switchDelayMs) || o.switchDelayMs < 0) bad('bad-agent-options', `switchDelayMs must be >= 0, got ${o.switchDelayMs}`);
  if (!Number.isInteger(o.udpEncapPort) || o.udpEncapPort < 1 || o.udpEncapPort > 65535) bad('bad-agent-options', `udpEncapPort must be 1..65535, got ${o.udpEncapPort}`);
  // RFC 4303 §3.4.3: at least 32 packets, keyplane's engine wants 64 or more (0 = off).
  if (!Number.isInteger(o.replayWindow) || (o.replayWindow !== 0 && (o.replayWindow < 64 || o.replayWindow > 65536))) {
    bad('bad-agent-options', `replayWindow must be 0 or 64..65536, got ${o.replayWindow}`);
  }
}

function canonicalEntry(e: AgentSpdEntry): AgentSpdEntry {
  let localAddress: string;
  let requestPeer: string;
  try {
    localAddress = canonicalIp(e.localAddress);
    requestPeer = canonicalIp(e.requestPeer);
  } catch {
    bad('bad-agent-entry', `SPD entry ${e.id}: localAddress and requestPeer must be IP addresses`);
  }
  return { ...e, localAddress, requestPeer };
}

// Canonical text of an address from a message, or null (never throws).
function addressOf(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  try {
    return canonicalIp(text);
  } catch {
    return null;
  }
}

export class SettingsAgent implements SettingsAgentCore {
  readonly counters = new Counters();
  private readonly options: AgentOptions;
  private readonly states: EntryState[] = [];
  private readonly byPolicy = new Map<string, EntryState>();

  constructor(entries: readonly AgentSpdEntry[], options: AgentOptions) {
    checkOptions(options);
    this.options = options;
    for (const raw of entries) {
      if (this.byPolicy.has(raw.id)) bad('bad-agent-entry', `SPD entry id ${raw.id} appears twice`);
      const entry = canonicalEntry(raw);
      const st: EntryState = {
        entry,
        queue: new HoldQueue(options.holdQueuePackets),
        heldDropped: 0,
        outstanding: null,
        current: null,
        pending: null,
        retiring: [],
        lastFailure: null,
        failed: false,
        lastInstalledAtMs: null,
        releaseBudget: 0,
      };
      this.states.push(st);
      this.byPolicy.set(entry.id, st);
    }
  }

  // ------------------------------------------------------------------ contract

  initialPolicies(): Policy[] {
    return this.states.map((st) => this.policyOf(st.entry, 'tunnel'));
  }

  handle(input: AgentInput, nowMs: number): AgentOutput[] {
    const out: AgentOutput[] = [];
    if (!Number.isFinite(nowMs)) {
      this.counters.add(`${C}input.bad-time`);
      return out;
    }
    try {
      // Timers that are due run first, so an input is judged against the state of `nowMs`
      // however late the shell's tick is.
      this.runTimers(nowMs, out);
      switch (input?.type) {
        case 'acquire':
          this.onAcquire(input.policyId, input.packet, nowMs, out);
          break;
        case 'message':
          this.onMessage(input.message, nowMs, out);
          break;
        case 'inbound-used':
          this.onInboundUsed(input.spi, nowMs, out);
          break;
        case 'tick':
          break;
        default:
          this.counters.add(`${C}input.unknown`);
      }
    } catch {
      // Never throw on input; every path above is meant not to reach here.
      this.counters.add(`${C}internal-error`);
    }
    return out;
  }

  nextDueMs(): number {
    let due = Infinity;
    for (const st of this.states) {
      if (st.outstanding !== null) due = Math.min(due, st.outstanding.nextAtMs);
      if (st.pending !== null) due = Math.min(due, st.pending.deadlineMs);
      if (st.current !== null) {
        due = Math.min(due, st.current.expiresAtMs);
        if (st.current.renewDueMs !== null) due = Math.min(due, st.current.renewDueMs);
      }
      for (const r of st.retiring) due = Math.min(due, r.deleteAtMs);
    }
    return due;
  }

  status(nowMs: number): AgentEntryStatus[] {
    return this.states.map((st) => {
      const o = st.outstanding;
      const c = st.current !== null && nowMs < st.current.expiresAtMs ? st.current : null;
      let state: AgentEntryStatus['state'];
      if (c !== null) state = o !== null || st.pending !== null ? 'renewing' : 'established';
      else if (o !== null) state = 'requesting';
      else state = st.failed ? 'failed' : 'idle';
      return {
        policyId: st.entry.id,
        peer: st.entry.requestPeer,
        state,
        held: st.queue.length,
        heldDropped: st.heldDropped,
        request: o === null ? null : { requestId: o.requestId, spi: o.spi, sends: o.sends, reason: o.reason },
        current:
          c === null
            ? null
            : { entryId: c.entryId, inboundSpi: c.inboundSpi, outboundSpi: c.outboundSpi, installedAtMs: c.installedAtMs, expiresAtMs: c.expiresAtMs, renewAtMs: c.renewAtMs },
        lastFailure: st.lastFailure,
      };
    });
  }

  // ------------------------------------------------------------------ S35: acquire

  private onAcquire(policyId: unknown, packet: unknown, nowMs: number, out: AgentOutput[]): void {
    const st = typeof policyId === 'string' ? this.byPolicy.get(policyId) : undefined;
    if (st === undefined) {
      // S32-S33: not an extended SPD entry of this agent (no request peer): not ours.
      this.counters.add(`${C}acquire.unknown-policy`);
      return;
    }
    if (!(packet instanceof Uint8Array)) {
      this.counters.add(`${C}acquire.bad-packet`);
      return;
    }
    if (st.current !== null) {
      // S34 is the data plane's: with an SA it never asks. An acquire now means the shell
      // raced the installation (the packet was caught before the SA went in): send it
      // again. A bounded number of times per set, then drop (the SA is really missing).
      if (st.releaseBudget > 0) {
        st.releaseBudget--;
        this.counters.add(`${C}acquire.sa-exists.released`);
        out.push({ type: 'release', policyId: st.entry.id, packets: [packet] });
      } else {
        this.counters.add(`${C}acquire.sa-exists.dropped`);
      }
      return;
    }
    this.hold(st, packet, out);
    if (st.outstanding === null) {
      this.startRequest(st, 'acquire', 'acquire', nowMs, out);
    } else {
      // S35/S41: one outstanding request per SPD entry; the packet waits with the others.
      this.counters.add(`${C}acquire.request-outstanding`);
    }
  }

  private hold(st: EntryState, packet: Uint8Array, out: AgentOutput[]): void {
    if (st.queue.push(packet)) {
      this.counters.add(`${C}hold.held`);
      return;
    }
    st.heldDropped++;
    this.counters.add(`${C}hold.overflow`);
    // One event at 1, 2, 4, 8, ... drops per cycle: visible without a log line per packet.
    const n = st.queue.overflowDrops;
    if ((n & (n - 1)) === 0) this.event(out, { name: 'hold-overflow', policyId: st.entry.id, dropped: n });
  }

  // ------------------------------------------------------------------ S42-S43: requests

  private startRequest(st: EntryState, origin: Origin, reason: Reason, nowMs: number, out: AgentOutput[]): void {
    const excludedIds = new Set<number>();
    const excludedSpis = new Set<number>();
    st.outstanding = {
      requestId: this.freshRequestId(excludedIds),
      spi: this.freshSpi(excludedSpis),
      sends: 0,
      nextAtMs: nowMs,
      reason,
      origin,
      mismatches: 0,
      excludedIds,
      excludedSpis,
    };
    st.failed = false;
    this.counters.add(`${C}request.started.${reason}`);
    this.sendRequest(st, nowMs, out);
  }

  private sendRequest(st: EntryState, nowMs: number, out: AgentOutput[]): void {
    const o = st.outstanding;
    if (o === null) return;
    o.sends++;
    o.nextAtMs = nowMs + this.options.retransmitIntervalMs;
    // S43 / §0134: every retransmission carries the same ID and SPI.
    const message: SettingsMessage = {
      kind: 'request',
      request: { requestId: o.requestId, requester: st.entry.localAddress, peer: st.entry.requestPeer, spi: o.spi, flow: st.entry.flow },
    };
    out.push({ type: 'send', message });
    this.counters.add(o.sends === 1 ? `${C}request.sent` : `${C}request.retransmitted`);
    this.event(out, { name: 'request-sent', policyId: st.entry.id, requestId: o.requestId, spi: o.spi, send: o.sends, reason: o.reason });
  }

  // S42: an ID that no other pending request of this device uses (nor the sets it holds,
  // which the server's table still knows), nor any from a mismatch list (S48).
  private freshRequestId(excluded: ReadonlySet<number>): number {
    const taken = new Set(excluded);
    for (const st of this.states) {
      if (st.outstanding !== null) taken.add(st.outstanding.requestId);
      if (st.current !== null) taken.add(st.current.requestId);
      if (st.pending !== null) taken.add(st.pending.set.requestId);
    }
    return pickRequestId(this.options.random, (v) => taken.has(v));
  }

  // S42: an inbound SPI this agent uses nowhere (installed, pending, retiring, requested).
  private freshSpi(excluded: ReadonlySet<number>): number {
    const taken = new Set(excluded);
    for (const st of this.states) {
      if (st.outstanding !== null) taken.add(st.outstanding.spi);
      if (st.current !== null) taken.add(st.current.inboundSpi);
      if (st.pending !== null) taken.add(st.pending.set.inboundSpi);
      for (const r of st.retiring) taken.add(r.spi);
    }
    return pickSpi(this.options.random, (v) => taken.has(v));
  }

  // ------------------------------------------------------------------ messages

  private onMessage(message: SettingsMessage | undefined, nowMs: number, out: AgentOutput[]): void {
    switch (message?.kind) {
      case 'distribution':
        this.onDistribution(message.distribution, nowMs, out);
        break;
      case 'activation':
        this.onActivation(message.activation, nowMs, out);
        break;
      case 'error':
        this.onError(message.error, nowMs, out);
        break;
      case 'request':
        // Requests go device -> server only.
        this.counters.add(`${C}message.unexpected-request`);
        break;
      default:
        this.counters.add(`${C}message.unknown`);
    }
  }

  // The entry whose outstanding request an answer names (S44: ID, requester and peer
  // identify the request; §0130). The flow must match too.
  private answered(requestId: unknown, requester: unknown, peer: unknown, flow: unknown): EntryState | undefined {
    const req = addressOf(requester);
    const p = addressOf(peer);
    if (req === null || p === null) return undefined;
    return this.states.find(
      (st) =>
        st.outstanding !== null &&
        st.outstanding.requestId === requestId &&
        st.entry.localAddress === req &&
        st.entry.requestPeer === p &&
        flowEqual(st.entry.flow, flow as AgentSpdEntry['flow']),
    );
  }

  // S44-S46 (after an acquire) and S56-S57 (after an activation).
  private onDistribution(d: SettingsDistribution | undefined, nowMs: number, out: AgentOutput[]): void {
    if (d === undefined || d === null || typeof d !== 'object') {
      this.counters.add(`${C}distribution.malformed`);
      return;
    }
    const st = this.answered(d.requestId, d.requester, d.peer, d.flow);
    if (st === undefined || st.outstanding === null) {
      const peer = addressOf(d.peer);
      const installed = this.states.some(
        (s) => s.entry.requestPeer === peer && (s.current?.entryId === d.entryId || s.pending?.set.entryId === d.entryId),
      );
      // A copy of one already installed (the network duplicated it, or the server
      // answered a retransmission that crossed the first answer): nothing to do.
      this.counters.add(installed ? `${C}distribution.duplicate` : `${C}distribution.unmatched`);
      return;
    }
    const problem = distributionProblem(d, st.outstanding.spi);
    if (problem !== null) {
      // Ignored as a whole (nothing installed); the request keeps being retransmitted.
      this.counters.add(`${C}distribution.bad.${problem}`);
      return;
    }
    if (this.outboundSpiInUse(d.toPeer.spi)) {
      // Two peers chose the same SPI for this device: the data plane keys outbound SAs
      // by (direction, SPI) and could not hold both.
      this.counters.add(`${C}distribution.bad.outbound-spi-in-use`);
      return;
    }
    this.install(st, d, nowMs, out);
  }

  private outboundSpiInUse(spi: number): boolean {
    return this.states.some((s) => s.current?.outboundSpi === spi || s.pending?.set.outboundSpi === spi);
  }

  private install(st: EntryState, d: SettingsDistribution, nowMs: number, out: AgentOutput[]): void {
    const o = st.outstanding!;
    st.outstanding = null;
    st.failed = false;
    st.lastInstalledAtMs = nowMs;
    const applied = d.policy;
    const lifetimeMs = applied.lifetimeSeconds * 1000;
    const renewAtMs = nowMs + Math.floor(lifetimeMs * this.options.renewAtFraction);
    const set: SaSet = {
      entryId: d.entryId,
      requestId: o.requestId,
      applied,
      inboundSpi: d.fromPeer.spi,
      outboundSpi: d.toPeer.spi,
      installedAtMs: nowMs,
      expiresAtMs: nowMs + lifetimeMs,
      renewAtMs,
      renewDueMs: renewAtMs,
    };
    const renewal = st.current !== null;
    this.counters.add(renewal ? `${C}installed.renewal` : `${C}installed.new`);
    this.counters.add(`${C}installed.after.${o.origin}`);
    // S45, inbound first: the peer got its copy at the same time and may send at once.
    out.push({ type: 'install-sa', sa: this.saConfig(st.entry, set, d.fromPeer, 'in', nowMs) });
    if (!renewal) {
      out.push({ type: 'install-sa', sa: this.saConfig(st.entry, set, d.toPeer, 'out', nowMs) });
      // S45: the applied policy is written into the SPD entry.
      out.push({ type: 'install-policy', policy: this.policyOf(st.entry, applied.mode) });
      st.current = set;
      st.releaseBudget = this.options.holdQueuePackets;
      this.event(out, { name: 'installed', policyId: st.entry.id, entryId: set.entryId, inboundSpi: set.inboundSpi, outboundSpi: set.outboundSpi, renewal });
    } else {
      const current = st.current!;
      if (st.pending !== null) {
        // A newer set overtakes one still waiting for its switch: its outbound SA was never
        // used; its inbound SA may be, by a peer that switched: keep it for the grace.
        this.retire(st, st.pending.set.inboundSpi, nowMs + this.options.switchDelayMs);
        this.counters.add(`${C}renewal.superseded`);
        st.pending = null;
      }
      out.push({ type: 'install-policy', policy: this.policyOf(st.entry, applied.mode) });
      const deadlineMs = Math.min(nowMs + this.options.switchDelayMs, current.expiresAtMs - SWITCH_GUARD_MS);
      st.pending = { set, outbound: copyParameters(d.toPeer), deadlineMs };
      this.event(out, { name: 'installed', policyId: st.entry.id, entryId: set.entryId, inboundSpi: set.inboundSpi, outboundSpi: set.outboundSpi, renewal });
      if (deadlineMs <= nowMs) this.switchOver(st, 'delay', nowMs, out);
    }
    // S46 -> S36 -> S33: the held packets go out through the SA now installed.
    const held = st.queue.take();
    if (held.length > 0) {
      this.counters.add(`${C}hold.released`, held.length);
      out.push({ type: 'release', policyId: st.entry.id, packets: held });
    }
  }

  // Make-before-break: the peer has the new SAs (it sent on the new inbound SA) or the
  // delay passed: seal with the new outbound SA from now on.
  private switchOver(st: EntryState, cause: 'inbound-used' | 'delay', nowMs: number, out: AgentOutput[]): void {
    const p = st.pending;
    if (p === null) return;
    st.pending = null;
    const old = st.current;
    out.push({ type: 'install-sa', sa: this.saConfig(st.entry, p.set, p.outbound, 'out', nowMs) });
    if (old !== null) {
      out.push({ type: 'delete-sa', direction: 'out', spi: old.outboundSpi });
      // Packets the peer sealed with the old SA may still be in flight.
      this.retire(st, old.inboundSpi, Math.min(nowMs + this.options.switchDelayMs, old.expiresAtMs));
    }
    st.current = p.set;
    st.releaseBudget = this.options.holdQueuePackets;
    this.counters.add(`${C}renewal.switched.${cause}`);
    this.event(out, { name: 'switched', policyId: st.entry.id, outboundSpi: p.set.outboundSpi, cause });
  }

  private retire(st: EntryState, spi: number, deleteAtMs: number): void {
    st.retiring.push({ spi, deleteAtMs });
  }

  // S51-S55: the server asks this device to request settings towards `peer`.
  private onActivation(a: SettingsActivation | undefined, nowMs: number, out: AgentOutput[]): void {
    if (a === undefined || a === null || typeof a !== 'object') {
      this.counters.add(`${C}activation.malformed`);
      return;
    }
    const peer = addressOf(a.peer);
    // S52: the entry whose setting-request peer address is the message's peer (and whose
    // flow is the one asked for); the first in SPD order if several.
    const st = peer === null ? undefined : this.states.find((s) => s.entry.requestPeer === peer && flowEqual(s.entry.flow, a.flow));
    const shown = peer ?? String(a.peer);
    if (st === undefined) {
      // S53: ignored; the server gives up after its sends and tells the requester.
      this.counters.add(`${C}activation.no-entry`);
      this.event(out, { name: 'activation-ignored', peer: shown, reason: 'no-entry' });
      return;
    }
    if (st.outstanding !== null) {
      // §0143: no new request while a retry cycle for the entry runs.
      this.counters.add(`${C}activation.in-progress`);
      this.event(out, { name: 'activation-ignored', peer: shown, reason: 'in-progress' });
      return;
    }
    if (st.lastInstalledAtMs !== null && nowMs - st.lastInstalledAtMs < this.options.retransmitIntervalMs) {
      this.counters.add(`${C}activation.just-installed`);
      this.event(out, { name: 'activation-ignored', peer: shown, reason: 'in-progress' });
      return;
    }
    // S54-S55: a request as for an acquire; its result is not reported to held traffic.
    this.counters.add(`${C}activation.accepted`);
    this.startRequest(st, 'activation', 'activation', nowMs, out);
  }

  // S44/S47: error answers.
  private onError(e: SettingsError | undefined, nowMs: number, out: AgentOutput[]): void {
    if (e === undefined || e === null || typeof e !== 'object') {
      this.counters.add(`${C}error.malformed`);
      return;
    }
    const st = this.answered(e.requestId, e.requester, e.peer, e.flow);
    if (st === undefined || st.outstanding === null) {
      this.counters.add(`${C}error.unmatched`);
      return;
    }
    const reason = typeof e.reason === 'string' ? e.reason.slice(0, 200) : '';
    switch (e.kind) {
      case 'mismatch':
        this.onMismatch(st, e, nowMs, out);
        break;
      case 'no-policy':
        this.counters.add(`${C}error.no-policy`);
        this.fail(st, 'no-policy', reason || 'no matching policy on the setting server', nowMs, out);
        break;
      case 'no-response':
        this.counters.add(`${C}error.no-response`);
        this.fail(st, 'no-response', reason || 'the peer did not ask the setting server', nowMs, out);
        break;
      case 'refused':
        this.counters.add(`${C}error.refused`);
        this.fail(st, 'refused', reason || 'the setting server refused the request', nowMs, out);
        break;
      default:
        this.counters.add(`${C}error.unknown-kind`);
    }
  }

  // S47-S48: the server knows our ID or SPI from an earlier life: choose values outside
  // its entry list and start a new retransmission cycle.
  private onMismatch(st: EntryState, e: SettingsError, nowMs: number, out: AgentOutput[]): void {
    const o = st.outstanding!;
    this.counters.add(`${C}error.mismatch`);
    o.mismatches++;
    if (o.mismatches > MAX_MISMATCH_RETRIES) {
      this.fail(st, 'refused', `content mismatch ${o.mismatches} times`, nowMs, out);
      return;
    }
    o.excludedIds.add(o.requestId);
    o.excludedSpis.add(o.spi);
    if (Array.isArray(e.entries)) {
      for (const x of e.entries) {
        if (x !== null && typeof x === 'object') {
          if (typeof x.requestId === 'number') o.excludedIds.add(x.requestId);
          if (isUsableSpi(x.spi)) o.excludedSpis.add(x.spi);
        }
      }
    }
    // Drop this request's own values from the "taken" scan before choosing (they are
    // excluded explicitly above).
    st.outstanding = null;
    o.requestId = this.freshRequestId(o.excludedIds);
    o.spi = this.freshSpi(o.excludedSpis);
    st.outstanding = o;
    o.sends = 0;
    o.reason = 'mismatch';
    this.sendRequest(st, nowMs, out);
  }

  // S49 / S37 (and S58/S60 quietly): the request failed.
  private fail(st: EntryState, failure: AgentFailure, reason: string, nowMs: number, out: AgentOutput[]): void {
    const o = st.outstanding;
    st.outstanding = null;
    const dropped = st.queue.take();
    if (dropped.length > 0) {
      st.heldDropped += dropped.length;
      this.counters.add(`${C}hold.dropped`, dropped.length);
    }
    this.counters.add(`${C}request.failed.${failure}`);
    if (o?.origin === 'activation' && dropped.length === 0) {
      // S58/S60: a request the server started has no held traffic to report to.
      this.counters.add(`${C}activation.failed.${failure}`);
    } else {
      const why = o?.origin === 'renewal' ? `renewal: ${reason}` : reason;
      st.lastFailure = { failure, atMs: nowMs, reason: why };
      if (st.current === null) st.failed = true;
      this.event(out, { name: 'failed', policyId: st.entry.id, failure, droppedPackets: dropped.length, reason: why });
    }
    const c = st.current;
    if (c !== null && c.renewDueMs === null && st.pending === null) {
      // The set still works: try to renew once more when half the time left has passed.
      const retryAtMs = nowMs + Math.max(this.options.retransmitIntervalMs, Math.floor((c.expiresAtMs - nowMs) / 2));
      if (retryAtMs < c.expiresAtMs - SWITCH_GUARD_MS) c.renewDueMs = retryAtMs;
    }
  }

  private onInboundUsed(spi: unknown, nowMs: number, out: AgentOutput[]): void {
    const st = this.states.find((s) => s.pending !== null && s.pending.set.inboundSpi === spi);
    if (st !== undefined) {
      this.switchOver(st, 'inbound-used', nowMs, out);
      return;
    }
    this.counters.add(`${C}inbound-used.no-switch`);
  }

  // ------------------------------------------------------------------ timers

  private runTimers(nowMs: number, out: AgentOutput[]): void {
    for (const st of this.states) {
      // In time order within an entry: a switch is due before its old set's expiry.
      if (st.pending !== null && nowMs >= st.pending.deadlineMs) this.switchOver(st, 'delay', nowMs, out);
      if (st.current !== null && nowMs >= st.current.expiresAtMs) this.expire(st, out);
      if (st.retiring.length > 0) {
        const keep: EntryState['retiring'] = [];
        for (const r of st.retiring) {
          if (nowMs >= r.deleteAtMs) {
            out.push({ type: 'delete-sa', direction: 'in', spi: r.spi });
            this.counters.add(`${C}sa.retired`);
          } else {
            keep.push(r);
          }
        }
        st.retiring = keep;
      }
      const c = st.current;
      if (c !== null && c.renewDueMs !== null && nowMs >= c.renewDueMs) {
        c.renewDueMs = null;
        if (st.outstanding === null && st.pending === null) {
          // §0127: ask again before the SA expires; new ID and SPI.
          this.startRequest(st, 'renewal', 'renewal', nowMs, out);
        } else {
          // A request (an activation's) or a newer set is already on its way.
          this.counters.add(`${C}renewal.skipped`);
        }
      }
      const o = st.outstanding;
      if (o !== null && nowMs >= o.nextAtMs) {
        if (o.sends >= this.options.maxSends) {
          // S43 -> S49: six sends and no answer.
          this.counters.add(`${C}request.timeout`);
          this.fail(st, 'timeout', `no answer from the setting server after ${o.sends} requests`, nowMs, out);
        } else {
          this.sendRequest(st, nowMs, out);
        }
      }
    }
  }

  // Hard expiry without a renewal: the SAs go; the next packet asks again (S35).
  private expire(st: EntryState, out: AgentOutput[]): void {
    const c = st.current!;
    st.current = null;
    out.push({ type: 'delete-sa', direction: 'in', spi: c.inboundSpi });
    out.push({ type: 'delete-sa', direction: 'out', spi: c.outboundSpi });
    this.counters.add(`${C}sa.expired`);
  }

  // ------------------------------------------------------------------ helpers

  private policyOf(entry: AgentSpdEntry, mode: 'tunnel' | 'transport'): Policy {
    return {
      id: entry.id,
      priority: entry.priority,
      selector: entry.selector,
      action: 'protect',
      protect: { mode, localTunnel: entry.localAddress, remoteTunnel: entry.requestPeer, requestPeer: entry.requestPeer },
    };
  }

  // The SA as installed at `nowMs`: its hard lifetime ends with the set (an outbound SA
  // installed at the switch gets what is left), its soft one at the renewal time (the
  // agent's own timer renews; the data plane's soft-expire event is informational).
  private saConfig(entry: AgentSpdEntry, set: SaSet, params: SaParameters, direction: 'in' | 'out', nowMs: number) {
    const hardSeconds = Math.max(1, (set.expiresAtMs - nowMs) / 1000);
    const softSeconds = set.renewAtMs > nowMs ? (set.renewAtMs - nowMs) / 1000 : null;
    return buildSa({
      entry,
      applied: set.applied,
      params,
      direction,
      encapPort: this.options.udpEncapPort,
      replayWindow: this.options.replayWindow,
      hardSeconds,
      softSeconds,
    });
  }

  private event(out: AgentOutput[], event: AgentEvent): void {
    out.push({ type: 'event', event });
  }
}

function copyParameters(p: SaParameters): SaParameters {
  return {
    spi: p.spi,
    encryptionKey: Uint8Array.from(p.encryptionKey),
    integrityKey: p.integrityKey === null ? null : Uint8Array.from(p.integrityKey),
  };
}
