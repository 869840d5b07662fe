// One installed SA with its runtime state (RFC 4301 §4.4.2.1): keyed crypto contexts,
// the sequence counter or replay window, counters and lifetime bookkeeping. Created once
// at install; per-packet work only touches numbers on it.
import { parseIp } from '../wire/address.js';
import { compileSelector, type CompiledSelector } from './selector.js';
import { createSaCrypto, type SaCrypto } from './sa-crypto.js';
import { ReplayWindow, isValidReplayWindowSize, MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW } from './replay.js';
import { DataPlaneError } from './errors.js';
import type { LifetimeLimits, SaConfig, SaStatus } from './types.js';

function bad(sa: SaConfig, message: string): never {
  throw new DataPlaneError('bad-sa', `SA ${String(sa.direction)} spi 0x${(Number(sa.spi) >>> 0).toString(16)}: ${message}`);
}

function checkLimits(sa: SaConfig, which: string, l: LifetimeLimits | undefined): void {
  if (l === undefined) bad(sa, `lifetime.${which} missing (use {} for no limits)`);
  for (const key of ['seconds', 'bytes', 'packets'] as const) {
    const v = l[key];
    if (v !== undefined && (typeof v !== 'number' || !(v > 0))) bad(sa, `lifetime.${which}.${key} must be a positive number, got ${String(v)}`);
  }
}

function parseAddress(sa: SaConfig, field: string, text: string): Uint8Array {
  try {
    return parseIp(text);
  } catch {
    return bad(sa, `${field} ${JSON.stringify(text)} is not an IP address`);
  }
}

// Checks everything except the algorithms (createSaCrypto explains those).
export function validateSaConfig(sa: SaConfig, defaultReplayWindow: number): number {
  if (!Number.isInteger(sa.spi) || sa.spi < 256 || sa.spi > 0xffff_ffff) {
    bad(sa, 'SPI must be 256..2^32-1 (0 is local use, 1..255 reserved by IANA; RFC 4303 §2.1)');
  }
  if (sa.direction !== 'in' && sa.direction !== 'out') bad(sa, 'direction must be "in" or "out"');
  if (sa.mode !== 'tunnel' && sa.mode !== 'transport') bad(sa, 'mode must be "tunnel" or "transport"');
  const local = parseAddress(sa, 'localAddress', sa.localAddress);
  const remote = parseAddress(sa, 'remoteAddress', sa.remoteAddress);
  if (local.length !== remote.length) bad(sa, 'localAddress and remoteAddress are different address families');
  if (sa.encap !== undefined) {
    for (const [k, v] of [
      ['localPort', sa.encap.localPort],
      ['remotePort', sa.encap.remotePort],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) bad(sa, `encap.${k} must be 1..65535`);
    }
  }
  if (typeof sa.esn !== 'boolean') bad(sa, 'esn must be true or false');
  const window = (sa.replayWindow as number | undefined) ?? defaultReplayWindow;
  if (!isValidReplayWindowSize(window)) {
    bad(sa, `replayWindow must be 0 (off) or ${MIN_REPLAY_WINDOW}..${MAX_REPLAY_WINDOW} packets, got ${String(sa.replayWindow)}`);
  }
  if (sa.lifetime === undefined) bad(sa, 'lifetime missing');
  checkLimits(sa, 'soft', sa.lifetime.soft);
  checkLimits(sa, 'hard', sa.lifetime.hard);
  return window;
}

function deadline(startMs: number, seconds: number | undefined): number {
  return seconds === undefined ? Infinity : startMs + seconds * 1000;
}

export class SecurityAssociation {
  readonly spi: number;
  readonly direction: 'in' | 'out';
  readonly installOrder: number; // newer SAs have larger numbers (make-before-break)
  config: SaConfig;
  crypto: SaCrypto;
  selector: CompiledSelector;
  localBytes: Uint8Array;
  remoteBytes: Uint8Array;
  replay: ReplayWindow | null; // inbound only

  // Outbound: the last sequence number sent, 0:0 before the first (RFC 4303 §3.3.3).
  seqHigh = 0;
  seqLow = 0;

  // Counters (SaCounters).
  bytes = 0;
  packets = 0;
  replayDrops = 0;
  authFailures = 0;
  readonly installedAtMs: number;
  lastUsedAtMs: number | null = null;

  // Lifetime accounting restarts on updateSa (a renewed lifetime counts from then).
  lifetimeStartMs: number;
  lifetimeBaseBytes = 0;
  lifetimeBasePackets = 0;
  softDeadlineMs: number;
  hardDeadlineMs: number;
  softFired = false;
  removed = false;

  // Test hook: a fixed explicit IV for the next packets (test vectors), or null.
  forcedIv: Uint8Array | null = null;

  constructor(config: SaConfig, nowMs: number, installOrder: number, defaultReplayWindow: number) {
    const window = validateSaConfig(config, defaultReplayWindow);
    this.spi = config.spi >>> 0;
    this.direction = config.direction;
    this.installOrder = installOrder;
    this.config = config;
    this.crypto = createSaCrypto(config);
    this.selector = compileSelectorFor(config);
    this.localBytes = parseIp(config.localAddress);
    this.remoteBytes = parseIp(config.remoteAddress);
    this.replay = config.direction === 'in' ? new ReplayWindow(window, config.esn) : null;
    this.installedAtMs = nowMs;
    this.lifetimeStartMs = nowMs;
    this.softDeadlineMs = deadline(nowMs, config.lifetime.soft.seconds);
    this.hardDeadlineMs = deadline(nowMs, config.lifetime.hard.seconds);
  }

  // New keys, lifetime, selector, addresses; sequence/replay state and counters stay, so
  // traffic in flight keeps flowing and nothing can be replayed across the update.
  update(config: SaConfig, nowMs: number, defaultReplayWindow: number): void {
    const window = validateSaConfig(config, defaultReplayWindow);
    if (config.esn !== this.config.esn) bad(config, 'esn cannot change on update (the sequence space would be reinterpreted)');
    if (config.mode !== this.config.mode) bad(config, 'mode cannot change on update');
    const crypto = createSaCrypto(config);
    const selector = compileSelectorFor(config);
    this.crypto = crypto;
    this.selector = selector;
    this.config = config;
    this.localBytes = parseIp(config.localAddress);
    this.remoteBytes = parseIp(config.remoteAddress);
    if (this.replay !== null && this.replay.size !== window) this.replay = this.replay.resized(window);
    this.lifetimeStartMs = nowMs;
    this.lifetimeBaseBytes = this.bytes;
    this.lifetimeBasePackets = this.packets;
    this.softDeadlineMs = deadline(nowMs, config.lifetime.soft.seconds);
    this.hardDeadlineMs = deadline(nowMs, config.lifetime.hard.seconds);
    this.softFired = false;
  }

  // Advances the outbound counter; false when the next value would wrap (2^32-1 is the
  // last without ESN, 2^64-1 with): the SA must not send again (RFC 4303 §3.3.3).
  nextSequence(): boolean {
    if (this.seqLow !== 0xffff_ffff) {
      this.seqLow += 1;
      return true;
    }
    if (!this.crypto.esn || this.seqHigh === 0xffff_ffff) return false;
    this.seqHigh += 1;
    this.seqLow = 0;
    return true;
  }

  // Usage since the lifetime started vs. limits.
  reached(limits: LifetimeLimits): boolean {
    return (
      (limits.bytes !== undefined && this.bytes - this.lifetimeBaseBytes >= limits.bytes) ||
      (limits.packets !== undefined && this.packets - this.lifetimeBasePackets >= limits.packets)
    );
  }

  status(): SaStatus {
    return {
      spi: this.spi,
      direction: this.direction,
      counters: {
        bytes: this.bytes,
        packets: this.packets,
        replayDrops: this.replayDrops,
        authFailures: this.authFailures,
        installedAtMs: this.installedAtMs,
        lastUsedAtMs: this.lastUsedAtMs,
      },
      softExpired: this.softFired,
    };
  }
}

function compileSelectorFor(config: SaConfig): CompiledSelector {
  try {
    return compileSelector(config.selector ?? {});
  } catch (err) {
    return bad(config, (err as Error).message);
  }
}
