// Validation of the channel parameters both ends get from enrollment, and the default
// timer and limit values.
import { KeyrollError } from './errors.js';
import { KEYROLL_KEY_BYTES } from './kdf.js';
import { cryptoRandomSource } from './random.js';
import { isValidReplayWindowSize, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW } from '../ipsec/replay.js';
import type { ChannelParams, ReceiverOptions, SenderOptions } from './types.js';

export function checkChannelParams(p: ChannelParams): void {
  const idBytes = Buffer.byteLength(p.deviceId, 'utf8');
  if (idBytes < 1 || idBytes > 255) throw new KeyrollError('keyroll.bad-config', `device ID must be 1..255 bytes, got ${idBytes}`);
  if (p.initKey.length !== KEYROLL_KEY_BYTES) {
    throw new KeyrollError('keyroll.bad-config', `${p.deviceId}: init key must be ${KEYROLL_KEY_BYTES} bytes, got ${p.initKey.length}`);
  }
  if (!Number.isInteger(p.initSpi) || p.initSpi < 256 || p.initSpi > 0xffff_ffff) {
    throw new KeyrollError('keyroll.bad-config', `${p.deviceId}: init SPI must be 256..2^32-1 (RFC 4303 §2.1)`);
  }
  if (p.variant !== 'explicit' && p.variant !== 'spi') throw new KeyrollError('keyroll.bad-config', `variant must be "explicit" or "spi"`);
  if (typeof p.forwardSecrecy !== 'boolean') throw new KeyrollError('keyroll.bad-config', 'forwardSecrecy must be true or false');
}

function bad(message: string): never {
  throw new KeyrollError('keyroll.bad-config', message);
}

function duration(name: string, v: number | null, allowNull: boolean): void {
  if (v === null && allowNull) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`${name} must be a finite number of milliseconds >= 0${allowNull ? ' or null' : ''}`);
}

function checkWindow(v: number): void {
  if (!isValidReplayWindowSize(v) || v === 0) bad(`replayWindow must be ${MIN_REPLAY_WINDOW}..${MAX_REPLAY_WINDOW} packets`);
}

export function checkSenderOptions(o: SenderOptions): void {
  if (typeof o.random !== 'function') bad('random must be a RandomSource');
  duration('rotationPeriodMs', o.rotationPeriodMs, true);
  duration('minRotationIntervalMs', o.minRotationIntervalMs, false);
  if (!(o.initRateLimit.perMinute > 0) || !(o.initRateLimit.burst >= 1)) bad('initRateLimit needs perMinute > 0 and burst >= 1');
  checkWindow(o.replayWindow);
}

export function checkReceiverOptions(o: ReceiverOptions): void {
  if (typeof o.random !== 'function') bad('random must be a RandomSource');
  duration('registrationIntervalMs', o.registrationIntervalMs, false);
  duration('replyTimeoutMs', o.replyTimeoutMs, false);
  duration('rotationPeriodMs', o.rotationPeriodMs, true);
  duration('initRetryMaxMs', o.initRetryMaxMs, false);
  if (!(o.replyTimeoutMs > 0)) bad('replyTimeoutMs must be > 0');
  if (!Number.isInteger(o.maxResends) || o.maxResends < 0) bad('maxResends must be an integer >= 0');
  checkWindow(o.replayWindow);
}

// Defaults for a production controller: the controller rotates every channel hourly
// (seed flow 6/9), a receiver can ask at most once a minute, and an agent may
// (re)initialise 3 times in a row, then 6 times a minute.
export function defaultSenderOptions(overrides: Partial<SenderOptions> = {}): SenderOptions {
  return {
    random: cryptoRandomSource,
    rotationPeriodMs: 3_600_000,
    minRotationIntervalMs: 60_000,
    initRateLimit: { perMinute: 6, burst: 3 },
    replayWindow: 64,
    ...overrides,
  };
}

// Defaults for an agent: register every 30 s, wait 5 s for the answer, retry once (seed
// flows 5 and 11), then initialise; rotation is left to the controller's timer.
export function defaultReceiverOptions(overrides: Partial<ReceiverOptions> = {}): ReceiverOptions {
  return {
    random: cryptoRandomSource,
    registrationIntervalMs: 30_000,
    replyTimeoutMs: 5_000,
    maxResends: 1,
    rotationPeriodMs: null,
    initRetryMaxMs: 60_000,
    replayWindow: 64,
    ...overrides,
  };
}
