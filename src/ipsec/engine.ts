// The pure, sans-I/O packet engine shared by every userspace backend: SPD + SAD + ESP
// processing. It never touches sockets, TUN or clocks: the caller passes the packet and
// the time in.
//
// Outbound (RFC 4301 §5.1): flowOf -> SPD (first match) -> DISCARD / BYPASS / PROTECT ->
// newest SA of the policy -> ESP. PROTECT without an SA asks the key plane (acquire),
// at most once per second per policy.
// Inbound (RFC 4301 §5.2, RFC 4303 §3.4): SPI -> SA -> length checks -> replay check ->
// ICV -> replay commit -> trailer/padding -> mode -> selector check.
// Every failure is a counted drop with a stable reason (counter "drop.<reason>").

import type { DataPlaneEvent } from './dataplane.js';
import type { Policy, SaConfig, SaStatus, UdpEncapsulation } from './types.js';
import { Counters } from '../util/counters.js';
import { DecodeError } from '../wire/errors.js';
import { createPacketFlow, flowOf, type PacketFlow } from '../wire/packet-flow.js';
import { ESP_HEADER_BYTES, parseEspTrailer, type EspTrailer } from '../wire/esp.js';
import { Spd } from './spd.js';
import { Sad } from './sad.js';
import { SecurityAssociation } from './sa.js';
import { matchSelector } from './selector.js';
import { espSeal } from './esp-out.js';
import { espLengthProblem, espOpen } from './esp-in.js';
import {
  buildTransportPacket,
  createModePayload,
  NEXT_HEADER_IPV4,
  NEXT_HEADER_IPV6,
  transportPayload,
  tunnelPayload,
} from './esp-mode.js';
import { DEFAULT_REPLAY_WINDOW, MIN_REPLAY_WINDOW, isValidReplayWindowSize } from './replay.js';
import { DataPlaneError } from './errors.js';

export type OutboundResult =
  // Send `esp` (an ESP packet starting at the SPI field) from localAddress to
  // remoteAddress, inside UDP when `encap` is set (RFC 3948).
  | {
      readonly kind: 'send';
      readonly esp: Buffer;
      readonly localAddress: string;
      readonly remoteAddress: string;
      readonly encap: UdpEncapsulation | undefined;
    }
  | { readonly kind: 'bypass' } // the SPD says: pass in clear
  | { readonly kind: 'drop'; readonly reason: string } // DISCARD, no SPD match, or error (counted)
  | { readonly kind: 'acquire'; readonly policyId: string }; // PROTECT matched, no SA yet

export type InboundResult =
  | { readonly kind: 'deliver'; readonly packet: Buffer; readonly spi: number } // inner IP packet
  | { readonly kind: 'drop'; readonly reason: string }; // counted under drop.<reason>

export interface IpsecEngineOptions {
  readonly defaultReplayWindow?: number; // used when an SA says nothing; >= 64
}

export interface IpsecEngine {
  readonly counters: Counters;
  installSa(sa: SaConfig, nowMs: number): void;
  updateSa(sa: SaConfig, nowMs: number): void;
  deleteSa(direction: 'in' | 'out', spi: number): boolean;
  installPolicy(policy: Policy): void;
  deletePolicy(id: string): boolean;
  listSas(): SaStatus[];
  listPolicies(): Policy[];
  // An inner IP packet (IPv4 or IPv6) leaving the protected side.
  protectOutbound(inner: Uint8Array, nowMs: number): OutboundResult;
  // An ESP packet (from the SPI on, after the UDP header and non-ESP-marker check).
  processInbound(esp: Uint8Array, nowMs: number): InboundResult;
  // An IP packet that arrived unprotected (RFC 4301 §5.2 step 3): delivered only when the
  // first SPD match, read from the receiving side, is BYPASS; `spi` is then 0 (no SA).
  // (Additive to the contract.)
  acceptClear(packet: Uint8Array, nowMs: number): InboundResult;
  // Time-based lifetime checks; also returns byte/packet-limit events raised since the
  // last call. Call at least once a second.
  tick(nowMs: number): DataPlaneEvent[];
}

// Stable drop reasons (counter "drop.<reason>"). Decode failures of a packet's IP header
// are "decode.<DecodeErrorReason>" (outbound) or "inner-malformed" (after decryption).
export const DropReason = {
  // outbound
  NO_POLICY: 'no-policy', // no SPD entry matched (RFC 4301 §5.1: discard)
  POLICY_DISCARD: 'policy-discard',
  ACQUIRE_PENDING: 'acquire-pending', // PROTECT, no SA, acquire already sent this second
  SEQ_EXHAUSTED: 'seq-exhausted', // the SA's sequence counter would wrap: rekey needed
  TRANSPORT_FRAGMENT: 'transport-fragment',
  TRANSPORT_EXT_HEADER: 'transport-ext-header',
  TOO_BIG: 'too-big',
  // inbound
  TRUNCATED: 'truncated',
  BAD_LENGTH: 'bad-length',
  UNKNOWN_SPI: 'unknown-spi',
  SA_EXPIRED: 'sa-expired',
  REPLAY: 'replay',
  AUTH: 'auth',
  PADDING: 'padding',
  DUMMY: 'dummy', // Next Header 59, TFC dummy packet (RFC 4303 §2.6)
  BAD_NEXT_HEADER: 'bad-next-header',
  INNER_MALFORMED: 'inner-malformed',
  SELECTOR: 'selector', // decrypted packet outside the SA's selectors (RFC 4301 §5.2)
  UNPROTECTED: 'unprotected', // arrived in clear but the SPD says PROTECT
} as const;

// RFC 4301 §5.1 leaves the acquire rate to the implementation; one per second per policy
// is enough for a key plane and keeps a packet flood from becoming a request flood.
const ACQUIRE_INTERVAL_MS = 1000;

const BYPASS: OutboundResult = Object.freeze({ kind: 'bypass' });

class Engine implements IpsecEngine {
  readonly counters = new Counters();
  private readonly spd = new Spd();
  private readonly sad = new Sad();
  private readonly defaultReplayWindow: number;
  private installs = 0;
  private pending: DataPlaneEvent[] = [];
  private readonly lastAcquireMs = new Map<string, number>();
  private readonly dropResults = new Map<string, { readonly kind: 'drop'; readonly reason: string }>();
  // Scratch objects: processing is synchronous and never re-entered.
  private readonly flow: PacketFlow = createPacketFlow();
  private readonly mode = createModePayload();
  private readonly trailer: EspTrailer = { payloadLength: 0, padLength: 0, nextHeader: 0, isDummy: false };

  constructor(options?: IpsecEngineOptions) {
    const w = options?.defaultReplayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (!isValidReplayWindowSize(w) || w < 64) {
      throw new DataPlaneError('bad-sa', `defaultReplayWindow must be 64..65536 packets (RFC 4303 §3.4.3 minimum ${MIN_REPLAY_WINDOW}), got ${w}`);
    }
    this.defaultReplayWindow = w;
  }

  // ------------------------------------------------------------------ configuration

  installSa(config: SaConfig, nowMs: number): void {
    if (this.sad.has(config.direction, config.spi)) {
      throw new DataPlaneError('sa-exists', `SA ${config.direction} spi 0x${(config.spi >>> 0).toString(16)} is already installed`);
    }
    const sa = new SecurityAssociation(config, nowMs, this.installs++, this.defaultReplayWindow);
    this.sad.add(sa);
  }

  updateSa(config: SaConfig, nowMs: number): void {
    const sa = this.sad.get(config.direction, config.spi);
    if (sa === undefined) {
      throw new DataPlaneError('sa-not-found', `SA ${config.direction} spi 0x${(config.spi >>> 0).toString(16)} is not installed`);
    }
    const oldPolicy = sa.config.policyId;
    sa.update(config, nowMs, this.defaultReplayWindow);
    this.sad.reindex(sa, oldPolicy);
  }

  deleteSa(direction: 'in' | 'out', spi: number): boolean {
    return this.sad.remove(direction, spi) !== undefined;
  }

  installPolicy(policy: Policy): void {
    this.spd.add(policy);
  }

  deletePolicy(id: string): boolean {
    this.lastAcquireMs.delete(id);
    return this.spd.remove(id);
  }

  listSas(): SaStatus[] {
    return this.sad.all().map((sa) => sa.status());
  }

  listPolicies(): Policy[] {
    return this.spd.list();
  }

  // ------------------------------------------------------------------ packets

  private drop(reason: string): { readonly kind: 'drop'; readonly reason: string } {
    this.counters.add(`drop.${reason}`);
    let r = this.dropResults.get(reason);
    if (r === undefined) {
      r = Object.freeze({ kind: 'drop', reason });
      this.dropResults.set(reason, r);
    }
    return r;
  }

  protectOutbound(inner: Uint8Array, nowMs: number): OutboundResult {
    let flow: PacketFlow;
    try {
      flow = flowOf(inner, this.flow);
    } catch (err) {
      if (err instanceof DecodeError) return this.drop(`decode.${err.reason}`);
      throw err;
    }
    const policy = this.spd.lookupOutbound(flow);
    if (policy === undefined) return this.drop(DropReason.NO_POLICY);
    if (policy.action === 'discard') return this.drop(DropReason.POLICY_DISCARD);
    if (policy.action === 'bypass') {
      this.counters.add('tx.bypass');
      return BYPASS;
    }
    let sa = this.sad.outboundForPolicy(policy.id);
    while (sa !== undefined && nowMs >= sa.hardDeadlineMs) {
      this.expireHard(sa, nowMs);
      sa = this.sad.outboundForPolicy(policy.id);
    }
    if (sa === undefined) {
      if (policy.protect?.requestPeer !== undefined) {
        // Seed 000 S35: the key plane holds every packet of an extended SPD entry.
        this.counters.add('tx.acquire');
        return { kind: 'acquire', policyId: policy.id };
      }
      const last = this.lastAcquireMs.get(policy.id);
      if (last !== undefined && nowMs - last < ACQUIRE_INTERVAL_MS && nowMs >= last) {
        return this.drop(DropReason.ACQUIRE_PENDING);
      }
      this.lastAcquireMs.set(policy.id, nowMs);
      this.counters.add('tx.acquire');
      return { kind: 'acquire', policyId: policy.id };
    }
    const mode = this.mode;
    if (sa.config.mode === 'tunnel') {
      tunnelPayload(inner, flow, mode);
    } else {
      const problem = transportPayload(inner, flow, mode);
      if (problem !== null) return this.drop(problem);
    }
    if (!sa.nextSequence()) {
      // RFC 4303 §3.3.3: the counter must not cycle; a new SA is needed. Tell the key
      // plane through the soft-expire event (once) and keep refusing to send.
      if (!sa.softFired) this.fireSoft(sa, nowMs);
      return this.drop(DropReason.SEQ_EXHAUSTED);
    }
    const esp = espSeal(sa.crypto, mode.payload, mode.nextHeader, sa.seqHigh, sa.seqLow, sa.forcedIv ?? undefined);
    this.account(sa, mode.payload.length, nowMs);
    this.counters.add('tx.esp');
    return {
      kind: 'send',
      esp,
      localAddress: sa.config.localAddress,
      remoteAddress: sa.config.remoteAddress,
      encap: sa.config.encap,
    };
  }

  processInbound(esp: Uint8Array, nowMs: number): InboundResult {
    this.counters.add('rx.esp');
    if (esp.length < ESP_HEADER_BYTES) return this.drop(DropReason.TRUNCATED);
    const spi = ((esp[0]! << 24) | (esp[1]! << 16) | (esp[2]! << 8) | esp[3]!) >>> 0;
    const sa = this.sad.inboundSa(spi);
    if (sa === undefined) return this.drop(DropReason.UNKNOWN_SPI);
    if (nowMs >= sa.hardDeadlineMs) {
      this.expireHard(sa, nowMs);
      return this.drop(DropReason.SA_EXPIRED);
    }
    const lengthProblem = espLengthProblem(sa.crypto, esp.length);
    if (lengthProblem !== null) return this.drop(lengthProblem);
    const seqLow = ((esp[4]! << 24) | (esp[5]! << 16) | (esp[6]! << 8) | esp[7]!) >>> 0;
    const replay = sa.replay!;
    // RFC 4303 §3.4.3: check before the ICV (cheap rejection of duplicates) ...
    const seqHigh = replay.check(seqLow);
    if (seqHigh < 0) {
      sa.replayDrops++;
      return this.drop(DropReason.REPLAY);
    }
    const plaintext = espOpen(sa.crypto, esp, seqHigh);
    if (plaintext === null) {
      sa.authFailures++;
      return this.drop(DropReason.AUTH);
    }
    // ... and update the window only once the ICV verified.
    replay.commit(seqHigh, seqLow);
    let trailer: EspTrailer;
    try {
      trailer = parseEspTrailer(plaintext, this.trailer);
    } catch (err) {
      if (err instanceof DecodeError) return this.drop(DropReason.PADDING);
      throw err;
    }
    this.account(sa, trailer.payloadLength, nowMs);
    if (trailer.isDummy) return this.drop(DropReason.DUMMY);
    const payload = plaintext.subarray(0, trailer.payloadLength);
    let packet: Buffer;
    if (sa.config.mode === 'tunnel') {
      if (trailer.nextHeader !== NEXT_HEADER_IPV4 && trailer.nextHeader !== NEXT_HEADER_IPV6) {
        return this.drop(DropReason.BAD_NEXT_HEADER);
      }
      packet = payload;
    } else {
      const built = buildTransportPacket(sa.remoteBytes, sa.localBytes, trailer.nextHeader, payload, sa.config.encap !== undefined);
      if (built === null) return this.drop(DropReason.INNER_MALFORMED);
      packet = built;
    }
    let flow: PacketFlow;
    try {
      flow = flowOf(packet, this.flow);
    } catch (err) {
      if (err instanceof DecodeError) return this.drop(DropReason.INNER_MALFORMED);
      throw err;
    }
    if (sa.config.mode === 'tunnel' && (flow.version === 4) !== (trailer.nextHeader === NEXT_HEADER_IPV4)) {
      return this.drop(DropReason.BAD_NEXT_HEADER);
    }
    // RFC 4301 §5.2 step 4: the decrypted packet must match the SA's selectors.
    if (!matchSelector(sa.selector, flow, true)) return this.drop(DropReason.SELECTOR);
    this.counters.add('rx.delivered');
    // Tunnel mode: drop TFC padding after the inner packet's own length (RFC 4303 §2.7).
    return { kind: 'deliver', packet: flow.packetLength < packet.length ? packet.subarray(0, flow.packetLength) : packet, spi };
  }

  acceptClear(packet: Uint8Array, _nowMs: number): InboundResult {
    this.counters.add('rx.clear');
    let flow: PacketFlow;
    try {
      flow = flowOf(packet, this.flow);
    } catch (err) {
      if (err instanceof DecodeError) return this.drop(`decode.${err.reason}`);
      throw err;
    }
    const policy = this.spd.lookupInbound(flow);
    if (policy === undefined) return this.drop(DropReason.NO_POLICY);
    if (policy.action === 'discard') return this.drop(DropReason.POLICY_DISCARD);
    if (policy.action === 'protect') return this.drop(DropReason.UNPROTECTED);
    const whole = flow.packetLength < packet.length ? packet.subarray(0, flow.packetLength) : packet;
    return { kind: 'deliver', packet: Buffer.from(whole.buffer, whole.byteOffset, whole.length), spi: 0 };
  }

  // ------------------------------------------------------------------ lifetimes

  private account(sa: SecurityAssociation, bytes: number, nowMs: number): void {
    sa.bytes += bytes;
    sa.packets += 1;
    sa.lastUsedAtMs = nowMs;
    const lifetime = sa.config.lifetime;
    if (sa.reached(lifetime.hard)) {
      this.expireHard(sa, nowMs);
    } else if (!sa.softFired && sa.reached(lifetime.soft)) {
      this.fireSoft(sa, nowMs);
    }
  }

  private fireSoft(sa: SecurityAssociation, nowMs: number): void {
    sa.softFired = true;
    this.counters.add('sa.soft-expire');
    this.pending.push({ type: 'soft-expire', spi: sa.spi, direction: sa.direction, atMs: nowMs });
  }

  private expireHard(sa: SecurityAssociation, nowMs: number): void {
    if (sa.removed) return;
    this.sad.remove(sa.direction, sa.spi);
    this.counters.add('sa.hard-expire');
    this.pending.push({ type: 'hard-expire', spi: sa.spi, direction: sa.direction, atMs: nowMs });
  }

  tick(nowMs: number): DataPlaneEvent[] {
    for (const sa of this.sad.all()) {
      if (nowMs >= sa.hardDeadlineMs) this.expireHard(sa, nowMs);
      else if (!sa.softFired && nowMs >= sa.softDeadlineMs) this.fireSoft(sa, nowMs);
    }
    const events = this.pending;
    this.pending = [];
    return events;
  }

  // For engineTestHooks only.
  saFor(direction: 'in' | 'out', spi: number): SecurityAssociation | undefined {
    return this.sad.get(direction, spi);
  }
}

export function createIpsecEngine(options?: IpsecEngineOptions): IpsecEngine {
  return new Engine(options);
}

// Test-only access to SA internals that no production path may set: the outbound sequence
// counter (to test exhaustion and ESN rollover without sending 2^32 packets), a fixed
// explicit IV (to reproduce published test vectors) and the replay window's top.
export interface IpsecEngineTestHooks {
  // The next packet on this outbound SA is sent with sequence number high:low + 1.
  setLastSentSequence(spi: number, high: number, low: number): void;
  // Outbound SA `spi` sends with this explicit IV (null: back to normal IV choice).
  forceIv(spi: number, iv: Uint8Array | null): void;
  replayTop(spi: number): readonly [number, number];
}

export function engineTestHooks(engine: IpsecEngine): IpsecEngineTestHooks {
  if (!(engine instanceof Engine)) throw new TypeError('not an engine from createIpsecEngine');
  const sa = (direction: 'in' | 'out', spi: number): SecurityAssociation => {
    const found = engine.saFor(direction, spi);
    if (found === undefined) throw new RangeError(`no ${direction} SA 0x${spi.toString(16)}`);
    return found;
  };
  return {
    setLastSentSequence(spi, high, low) {
      const s = sa('out', spi);
      s.seqHigh = high >>> 0;
      s.seqLow = low >>> 0;
    },
    forceIv(spi, iv) {
      sa('out', spi).forcedIv = iv;
    },
    replayTop(spi) {
      return sa('in', spi).replay!.top;
    },
  };
}
