// The setting server's request processing unit (seed 000, 要求処理部 15): the algorithm of
// the seed's Fig. 12 (S1-S11) and Fig. 13 (S21-S28) over the management table, sans-I/O
// (settings/types.ts): the shell feeds requests and ticks, stores 'persist'/'forget'
// BEFORE it carries out the sends of the same batch, and sends the messages.
//
// Decisions for what the seed leaves open (spec "Gaps"), each marked where it is made:
//   - Authorisation first: the requester address must be the authenticated device's,
//     the SPI not reserved (RFC 4303 §2.1), requester != peer, same address family;
//     otherwise a 'refused' error and nothing else.
//   - A row belongs to the device that owned its address when the entry was made; a
//     request is matched only against its own device's rows, and distributions go only
//     to the two devices of the rows, so no device ever learns another pair's keys.
//   - A peer address no enrolled device has: 'refused' ("peer address not enrolled")
//     instead of activating nobody for 30 s and then answering 'no-response'.
//   - One pending entry per (requester, peer, flow): the seed device keeps one request
//     outstanding per SPD entry, so a request with a new ID while the requester's older
//     entry still waits for the peer supersedes that entry (it is forgotten, no error).
//   - A policy whose transforms keyplane cannot use answers 'no-policy' before anything
//     is created.
import { Counters } from '../util/counters.js';
import { canonicalIp } from '../wire/address.js';
import type { SettingsErrorKind } from '../wire/control-settings.js';
import { drawBytes, newSaParameters, saKeyLengths } from './server-keys.js';
import { ManagementTable, live, snapshot, type LiveEntry, type Side } from './server-table.js';
import { TimerHeap } from './server-timers.js';
import type {
  FlowSelector,
  ManagementEntry,
  ServerEvent,
  ServerInput,
  ServerOptions,
  ServerOutput,
  SettingsError,
  SettingsMessage,
  SettingsRequest,
  SettingsServerCore,
} from './types.js';

// Seed 000 【0087】: request activation every 5 s, at most 6 times.
export const SETTINGS_ACTIVATION_INTERVAL_MS = 5000;
export const SETTINGS_ACTIVATION_MAX_SENDS = 6;
// A mismatch error lists at most this many (request ID, SPI) pairs, the most recent ones.
export const SETTINGS_MAX_MISMATCH_ENTRIES = 64;
const MIN_SPI = 256; // RFC 4303 §2.1
const U32_MAX = 0xffff_ffff;
const ENTRY_ID_BYTES = 8;

export type ServerOptionsInput = Omit<ServerOptions, 'activationIntervalMs' | 'activationMaxSends'> &
  Partial<Pick<ServerOptions, 'activationIntervalMs' | 'activationMaxSends'>>;

export function defaultServerOptions(partial: ServerOptionsInput): ServerOptions {
  return {
    activationIntervalMs: SETTINGS_ACTIVATION_INTERVAL_MS,
    activationMaxSends: SETTINGS_ACTIVATION_MAX_SENDS,
    ...partial,
  };
}

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= U32_MAX;
}

function canonical(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return canonicalIp(text);
  } catch {
    return undefined;
  }
}

function ipFamily(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

// The request with canonical addresses, or undefined when it cannot even be answered (a
// typed input that did not come through the wire decoder).
function normalise(r: SettingsRequest): SettingsRequest | undefined {
  if (typeof r !== 'object' || r === null) return undefined;
  const requester = canonical(r.requester);
  const peer = canonical(r.peer);
  if (!isU32(r.requestId) || r.requestId === 0 || !isU32(r.spi) || requester === undefined || peer === undefined) return undefined;
  let flow: FlowSelector | null = null;
  if (r.flow !== null) {
    const f = r.flow as Partial<FlowSelector> | undefined;
    if (typeof f !== 'object' || f === null) return undefined;
    const { protocol, port } = f;
    if (typeof protocol !== 'number' || !Number.isInteger(protocol) || protocol < 0 || protocol > 255) return undefined;
    if (port !== null && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 0xffff)) return undefined;
    flow = { protocol, port: port ?? null };
  }
  return { requestId: r.requestId, requester, peer, spi: r.spi, flow };
}

export class SettingsServer implements SettingsServerCore {
  readonly counters = new Counters();
  private readonly table = new ManagementTable();
  // Activation and expiry timers: (due time, entry id). Rescheduling pushes a new item;
  // an item whose time is no longer its entry's due time is stale and skipped.
  private readonly timers = new TimerHeap();

  constructor(private readonly options: ServerOptions) {
    const { activationIntervalMs: interval, activationMaxSends: sends } = options;
    if (!Number.isFinite(interval) || interval <= 0) throw new RangeError(`activationIntervalMs ${interval} must be > 0`);
    if (!Number.isInteger(sends) || sends < 1) throw new RangeError(`activationMaxSends ${sends} must be an integer >= 1`);
  }

  // Never throws: bad input is counted and answered or ignored; an internal failure (a
  // throwing callback or random source) is counted and the outputs so far are returned.
  handle(input: ServerInput, nowMs: number): ServerOutput[] {
    const out: ServerOutput[] = [];
    if (!Number.isFinite(nowMs)) {
      // A NaN time would poison the timer heap's order for good.
      this.counters.add('settings.drop.bad-time');
      return out;
    }
    try {
      if (input?.type === 'request') this.onRequest(input.deviceId, input.request, nowMs, out);
      else if (input?.type === 'tick') this.onTick(nowMs, out);
      else this.counters.add('settings.drop.unknown-input');
    } catch {
      this.counters.add('settings.drop.internal');
    }
    return out;
  }

  nextDueMs(): number {
    // Drop stale items first so the answer is a real due time.
    for (let t = this.timers.peek(); t !== undefined; t = this.timers.peek()) {
      if (this.isCurrent(t)) return t.atMs;
      this.timers.pop();
    }
    return Infinity;
  }

  entries(): readonly ManagementEntry[] {
    return [...this.table.all()].map(snapshot);
  }

  // Pending entries resume their activations (at the next tick when the stored time has
  // passed), complete ones their expiry timers. Malformed entries are skipped and counted.
  restore(entries: readonly ManagementEntry[], nowMs: number): void {
    for (const m of entries) {
      try {
        const e = live(m);
        if (e.rows[0].address === e.rows[1].address || typeof e.id !== 'string') throw new RangeError('bad entry');
        if (e.params === null && e.nextActivationAtMs === null) e.nextActivationAtMs = nowMs;
        if (e.params !== null) {
          e.nextActivationAtMs = null;
          e.expiresAtMs ??= (e.completedAtMs ?? nowMs) + e.applied.lifetimeSeconds * 1000;
        }
        this.table.add(e);
        this.schedule(e);
        this.counters.add('settings.restored');
      } catch {
        this.counters.add('settings.drop.restore');
      }
    }
  }

  // ---------------------------------------------------------------------------- requests

  private onRequest(deviceId: string, raw: SettingsRequest, nowMs: number, out: ServerOutput[]): void {
    this.counters.add('settings.request');
    const req = normalise(raw);
    if (req === undefined || typeof deviceId !== 'string') {
      this.counters.add('settings.drop.malformed');
      return;
    }
    const refusal = this.authorise(deviceId, req);
    if (refusal !== undefined) {
      this.counters.add(`settings.drop.${refusal[0]}`);
      this.error(out, deviceId, req, 'refused', refusal[1], [], 'refused');
      return;
    }
    // This device's rows with this peer and flow (authorisation decision 2 above).
    const mine = this.table.sides(req.requester, req.peer, req.flow).filter((s) => s.entry.rows[s.side].deviceId === deviceId);

    // S2: a row with the same (requester, peer, ID)?
    const same = mine.find((s) => s.entry.rows[s.side].requestId === req.requestId);
    if (same !== undefined) {
      if (same.entry.rows[same.side].spi !== req.spi) {
        // S3 -> S8: the ID was registered with another SPI.
        this.error(out, deviceId, req, 'mismatch', 'request ID already registered with another SPI', this.entryList(mine), 'S8');
      } else if (same.entry.params !== null) {
        // S4 -> S5: the other side is filled, the parameters are settled: a retransmission
        // (the distribution was lost); resend to this requester only.
        out.push({ type: 'send', deviceId, message: distributionFor(same, nowMs) });
        this.counters.add('settings.resend');
        this.event(out, { name: 'request', deviceId, request: req, step: 'S5' });
      } else {
        // S4 -> S6: still waiting for the peer's request.
        this.counters.add('settings.drop.waiting');
        this.event(out, { name: 'request', deviceId, request: req, step: 'S6' });
      }
      return;
    }
    // S7 -> S8: the SPI is already registered for this pair under another ID.
    if (mine.some((s) => s.entry.rows[s.side].spi === req.spi)) {
      this.error(out, deviceId, req, 'mismatch', 'SPI already registered for this peer', this.entryList(mine), 'S8');
      return;
    }
    // S9: the peer asked first and left a blank row for us. Newest first: an older blank
    // row belongs to a request the peer has since given up.
    let blank: Side | undefined;
    for (const s of mine) if (s.entry.rows[s.side].requestId === null && (blank === undefined || s.entry.createdAtMs >= blank.entry.createdAtMs)) blank = s;
    if (blank !== undefined) {
      this.complete(blank, deviceId, req, nowMs, out);
      return;
    }
    this.create(mine, deviceId, req, nowMs, out);
  }

  // [counter suffix, reason] when the request is refused.
  private authorise(deviceId: string, req: SettingsRequest): [string, string] | undefined {
    if (!this.options.ownsAddress(deviceId, req.requester)) return ['not-owner', 'requester address does not belong to this device'];
    if (req.spi < MIN_SPI) return ['reserved-spi', `SPI ${req.spi} is reserved (0..255, RFC 4303 §2.1)`];
    if (req.requester === req.peer) return ['self-peer', 'requester and peer are the same address'];
    if (ipFamily(req.requester) !== ipFamily(req.peer)) return ['family-mismatch', 'requester and peer are of different address families'];
    return undefined;
  }

  // S8: this requester's (ID, SPI) pairs registered with this peer and flow.
  private entryList(mine: readonly Side[]): { requestId: number; spi: number }[] {
    const list: { requestId: number; spi: number }[] = [];
    for (const s of mine) {
      const r = s.entry.rows[s.side];
      if (r.requestId !== null && r.spi !== null) list.push({ requestId: r.requestId, spi: r.spi });
    }
    return list.slice(-SETTINGS_MAX_MISMATCH_ENTRIES);
  }

  // S9 -> S10 -> S11.
  private complete(blank: Side, deviceId: string, req: SettingsRequest, nowMs: number, out: ServerOutput[]): void {
    const e = blank.entry;
    const lengths = saKeyLengths(e.applied);
    if (typeof lengths === 'string') {
      // Only a restored entry can get here (new ones are checked in create()).
      this.counters.add('settings.drop.bad-policy');
      this.error(out, deviceId, req, 'no-policy', `policy ${e.policyId} cannot be used: ${lengths}`.slice(0, 200), [], 'S26');
      return;
    }
    const spis: [number, number] = blank.side === 0 ? [req.spi, e.rows[1].spi ?? 0] : [e.rows[0].spi ?? 0, req.spi];
    // S10: params[0] = SA row0 -> row1 with row1's SPI, params[1] = SA row1 -> row0 with
    // row0's SPI (受信側SPI: the SPI the receiving device proposed). Drawn before anything
    // changes, so a failing random source leaves the entry as it was.
    const params = [newSaParameters(lengths, spis[1], this.options.random), newSaParameters(lengths, spis[0], this.options.random)] as const;
    const row = e.rows[blank.side];
    row.requestId = req.requestId;
    row.spi = req.spi;
    e.params = params;
    e.completedAtMs = nowMs;
    e.nextActivationAtMs = null; // S24 -> S25: the peer's request stops the activations
    e.expiresAtMs = nowMs + e.applied.lifetimeSeconds * 1000; // 【0081】 the entry lives as long as its SAs
    this.schedule(e);
    const renewal = this.table.sides(req.requester, req.peer, req.flow).some((s) => s.entry !== e && s.entry.params !== null);
    out.push({ type: 'persist', entry: snapshot(e) });
    // S11: both ends at once, each with its own request ID and its own view of the SAs.
    out.push({ type: 'send', deviceId: row.deviceId, message: distributionFor(blank) });
    const other: Side = { entry: e, side: blank.side === 0 ? 1 : 0 };
    out.push({ type: 'send', deviceId: e.rows[other.side].deviceId, message: distributionFor(other) });
    this.counters.add('settings.distributed');
    if (renewal) this.counters.add('settings.renewal');
    this.event(out, { name: 'request', deviceId, request: req, step: 'S11' });
    this.event(out, {
      name: 'distributed',
      entryId: e.id,
      a: e.rows[0].address,
      b: e.rows[1].address,
      spis: [e.rows[0].spi ?? 0, e.rows[1].spi ?? 0],
      lifetimeSeconds: e.applied.lifetimeSeconds,
      renewal,
    });
  }

  // S21 -> S22 -> S23 (or S26).
  private create(mine: readonly Side[], deviceId: string, req: SettingsRequest, nowMs: number, out: ServerOutput[]): void {
    const policy = this.options.lookupPolicy(req.requester, req.peer, req.flow);
    if (policy === undefined) {
      this.error(out, deviceId, req, 'no-policy', 'no distribution policy for this pair', [], 'S26');
      return;
    }
    const lengths = saKeyLengths(policy.applied);
    if (typeof lengths === 'string') {
      this.counters.add('settings.drop.bad-policy');
      this.error(out, deviceId, req, 'no-policy', `policy ${policy.name} cannot be used: ${lengths}`.slice(0, 200), [], 'S26');
      return;
    }
    const peerDevice = this.options.deviceOfAddress(req.peer);
    if (peerDevice === undefined) {
      this.counters.add('settings.drop.peer-not-enrolled');
      this.error(out, deviceId, req, 'refused', 'peer address not enrolled', [], 'refused');
      return;
    }
    // One pending entry per requester, peer and flow (decision 4 above).
    for (const s of mine) {
      if (s.entry.params === null && s.side === 0) {
        this.table.remove(s.entry.id);
        out.push({ type: 'forget', entryId: s.entry.id });
        this.counters.add('settings.superseded');
        this.event(out, { name: 'expired', entryId: s.entry.id, complete: false });
      }
    }
    // S22: row 0 = the requester, row 1 = the peer's blank row.
    const e: LiveEntry = {
      id: this.newEntryId(),
      rows: [
        { address: req.requester, deviceId, requestId: req.requestId, spi: req.spi },
        { address: req.peer, deviceId: peerDevice, requestId: null, spi: null },
      ],
      flow: req.flow,
      policyId: policy.id,
      applied: policy.applied,
      params: null,
      createdAtMs: nowMs,
      completedAtMs: null,
      activationsSent: 0,
      nextActivationAtMs: nowMs,
      expiresAtMs: null,
    };
    this.table.add(e);
    this.event(out, { name: 'request', deviceId, request: req, step: 'S23' });
    // S23: the first activation now; activate() persists the entry before sending.
    this.activate(e, nowMs, out);
  }

  private newEntryId(): string {
    for (;;) {
      const id = Buffer.from(drawBytes(this.options.random, ENTRY_ID_BYTES)).toString('hex');
      if (this.table.get(id) === undefined) return id;
    }
  }

  // ------------------------------------------------------------------------------- timers

  private dueOf(e: LiveEntry): number | null {
    return e.params === null ? e.nextActivationAtMs : e.expiresAtMs;
  }

  private isCurrent(t: { readonly atMs: number; readonly id: string }): boolean {
    const e = this.table.get(t.id);
    return e !== undefined && this.dueOf(e) === t.atMs;
  }

  private schedule(e: LiveEntry): void {
    const at = this.dueOf(e);
    if (at !== null) this.timers.push(at, e.id);
  }

  private onTick(nowMs: number, out: ServerOutput[]): void {
    for (let t = this.timers.peek(); t !== undefined && t.atMs <= nowMs; t = this.timers.peek()) {
      this.timers.pop();
      const e = this.table.get(t.id);
      if (e === undefined || this.dueOf(e) !== t.atMs) continue; // stale
      if (e.params === null) this.activate(e, nowMs, out);
      else this.expire(e, out);
    }
  }

  // S23/S24: the next request activation, or after the last one's interval S27/S28.
  private activate(e: LiveEntry, nowMs: number, out: ServerOutput[]): void {
    const blankSide = e.rows[1].requestId === null ? 1 : 0;
    const blank = e.rows[blankSide];
    const asker = e.rows[1 - blankSide]!;
    if (e.activationsSent >= this.options.activationMaxSends) {
      // S27: nobody answered: delete the entry; S28: tell the requester.
      this.table.remove(e.id);
      out.push({ type: 'forget', entryId: e.id });
      this.event(out, { name: 'expired', entryId: e.id, complete: false });
      if (asker.requestId !== null) {
        const req: SettingsRequest = { requestId: asker.requestId, requester: asker.address, peer: blank.address, spi: asker.spi ?? 0, flow: e.flow };
        this.error(out, asker.deviceId, req, 'no-response', `no request from the peer after ${e.activationsSent} activations`, [], null);
      }
      return;
    }
    e.activationsSent++;
    e.nextActivationAtMs = nowMs + this.options.activationIntervalMs;
    this.schedule(e);
    out.push({ type: 'persist', entry: snapshot(e) });
    const message: SettingsMessage = { kind: 'activation', activation: { peer: asker.address, flow: e.flow } };
    out.push({ type: 'send', deviceId: blank.deviceId, message });
    this.counters.add('settings.activation');
    this.event(out, { name: 'activation', entryId: e.id, to: blank.address, send: e.activationsSent });
  }

  // 【0081】 the entry-expiry timer of a complete entry.
  private expire(e: LiveEntry, out: ServerOutput[]): void {
    this.table.remove(e.id);
    out.push({ type: 'forget', entryId: e.id });
    this.counters.add('settings.expired');
    this.event(out, { name: 'expired', entryId: e.id, complete: true });
  }

  // ------------------------------------------------------------------------------ outputs

  private error(
    out: ServerOutput[],
    deviceId: string,
    req: SettingsRequest,
    kind: SettingsErrorKind,
    reason: string,
    entries: SettingsError['entries'],
    step: string | null,
  ): void {
    const error: SettingsError = { kind, requestId: req.requestId, requester: req.requester, peer: req.peer, flow: req.flow, entries, reason };
    out.push({ type: 'send', deviceId, message: { kind: 'error', error } });
    this.counters.add(`settings.error.${kind}`);
    const { entries: _omit, ...shown } = error;
    if (step !== null) this.event(out, { name: 'request', deviceId, request: req, step });
    this.event(out, { name: 'error', deviceId, error: shown });
  }

  private event(out: ServerOutput[], event: ServerEvent): void {
    out.push({ type: 'event', event });
  }
}

// The distribution for one side of a complete entry, addressed to that side: its own
// request ID, toPeer = the SA it sends with, fromPeer = the SA it receives with.
// `nowMs` given (an S5 resend): the lifetime is what is left of the entry's, not the full
// one, so both ends expire (and renew) the set at the same time even when one end's copy
// arrived late; otherwise the late end would keep sending on SAs its peer has already
// deleted (found by the simulation, test/settings/sim.test.ts).
function distributionFor(s: Side, nowMs?: number): SettingsMessage {
  const e = s.entry;
  const left = nowMs === undefined || e.expiresAtMs === null ? e.applied.lifetimeSeconds : Math.max(1, Math.ceil((e.expiresAtMs - nowMs) / 1000));
  const policy = left >= e.applied.lifetimeSeconds ? e.applied : { ...e.applied, lifetimeSeconds: left };
  const params = e.params!;
  const me = e.rows[s.side];
  const other = s.side === 0 ? 1 : 0;
  return {
    kind: 'distribution',
    distribution: {
      requestId: me.requestId!,
      requester: me.address,
      peer: e.rows[other].address,
      flow: e.flow,
      entryId: e.id,
      policy,
      toPeer: params[s.side],
      fromPeer: params[other],
    },
  };
}
