// The agent's keyroll state file: the KeyReceiver's durable state (src/keyroll/durable.ts),
// which holds channel keys, so it is written like the enrollment file: mode 0600, in a
// directory only the owner can enter, replaced atomically (write a temporary file, fsync,
// rename, fsync the directory), so a crash leaves either the old or the new state, never
// half of one. The core's 'persist' output demands the write before the packets that
// follow it are sent (write-ahead); the caller does that, synchronously.
//
// The file names the channel it belongs to (device ID, init SPI, init key fingerprint).
// State of another enrollment is never used: the agent then starts with an
// initialisation, which is always safe (seed 004 flow 2).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KeyplaneError } from '../util/errors.js';
import { DURABLE_VERSION, keyFingerprint, type ChannelParams, type KeyDurable, type ReceiverDurable } from '../keyroll/index.js';

export class StateFileError extends KeyplaneError {}

export const STATE_FORMAT = 'keyplane-agent-keyroll-state';
export const STATE_FORMAT_VERSION = 1;

export interface ChannelIdentity {
  readonly deviceId: string;
  readonly initSpi: number;
  readonly initKeyFingerprint: string; // one-way digest (kdf.ts), never the key
}

export function channelIdentity(p: ChannelParams): ChannelIdentity {
  return { deviceId: p.deviceId, initSpi: p.initSpi, initKeyFingerprint: keyFingerprint(p.initKey) };
}

export type StateReadResult =
  | { readonly kind: 'missing' }
  | { readonly kind: 'other-channel'; readonly found: ChannelIdentity }
  | { readonly kind: 'ok'; readonly durable: ReceiverDurable };

// ------------------------------------------------------------------------------ write

export function writeStateFile(path: string, identity: ChannelIdentity, durable: ReceiverDurable): void {
  const body = `${JSON.stringify({ format: STATE_FORMAT, version: STATE_FORMAT_VERSION, channel: identity, durable: encodeDurable(durable) })}\n`;
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  // 'wx' after removing a leftover: never write through someone else's file or symlink.
  try {
    unlinkSync(tmp);
  } catch {
    // none left behind
  }
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const buf = Buffer.from(body, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself is durable only once the directory is on disk.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

// ------------------------------------------------------------------------------- read

export function readStateFile(path: string, identity: ChannelIdentity): StateReadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw new StateFileError('state.unreadable', `cannot read state file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StateFileError('state.corrupt', `state file ${path} is not JSON`);
  }
  const r = new Reader(path);
  const top = r.object(parsed, 'file');
  if (top['format'] !== STATE_FORMAT) r.fail(`not a keyplane agent state file (format ${JSON.stringify(top['format'])})`);
  if (top['version'] !== STATE_FORMAT_VERSION) r.fail(`unsupported state file version ${JSON.stringify(top['version'])}`);
  const ch = r.object(top['channel'], 'channel');
  const found: ChannelIdentity = {
    deviceId: r.string(ch['deviceId'], 'channel.deviceId'),
    initSpi: r.uint(ch['initSpi'], 'channel.initSpi'),
    initKeyFingerprint: r.string(ch['initKeyFingerprint'], 'channel.initKeyFingerprint'),
  };
  if (found.deviceId !== identity.deviceId || found.initSpi !== identity.initSpi || found.initKeyFingerprint !== identity.initKeyFingerprint) {
    return { kind: 'other-channel', found };
  }
  return { kind: 'ok', durable: decodeDurable(r, top['durable']) };
}

// --------------------------------------------------------------------- JSON mapping

type Json = Record<string, unknown>;

function encodeKey(k: KeyDurable): Json {
  return {
    generation: k.generation,
    spi: k.spi,
    material: Buffer.from(k.material).toString('base64'),
    sendSeqReserved: k.sendSeqReserved,
    receiveTop: k.receiveTop,
  };
}

function encodeDurable(d: ReceiverDurable): Json {
  return {
    version: d.version,
    latest: d.latest === null ? null : encodeKey(d.latest),
    previous: d.previous === null || d.previous === 'init' ? d.previous : encodeKey(d.previous),
    initPending: d.initPending,
    initSendSeqReserved: d.initSendSeqReserved,
    ephemeralPrivate: d.ephemeralPrivate === null ? null : Buffer.from(d.ephemeralPrivate).toString('base64'),
    rotationDueAtMs: d.rotationDueAtMs,
  };
}

class Reader {
  constructor(private readonly path: string) {}

  fail(detail: string): never {
    throw new StateFileError('state.corrupt', `state file ${this.path}: ${detail}`);
  }

  object(v: unknown, what: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${what} must be an object`);
    return v as Json;
  }

  string(v: unknown, what: string): string {
    if (typeof v !== 'string') this.fail(`${what} must be a string`);
    return v;
  }

  uint(v: unknown, what: string, max = 0xffff_ffff): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) this.fail(`${what} must be an integer 0..${max}`);
    return v;
  }

  bool(v: unknown, what: string): boolean {
    if (typeof v !== 'boolean') this.fail(`${what} must be true or false`);
    return v;
  }

  bytes(v: unknown, what: string, length: number): Buffer {
    const s = this.string(v, what);
    const b = Buffer.from(s, 'base64');
    if (b.length !== length || b.toString('base64') !== s) this.fail(`${what} must be ${length} bytes of base64`);
    return b;
  }

  timeMs(v: unknown, what: string): number | null {
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`${what} must be a number or null`);
    return v;
  }

  key(v: unknown, what: string): KeyDurable {
    const o = this.object(v, what);
    return {
      generation: this.uint(o['generation'], `${what}.generation`),
      spi: this.uint(o['spi'], `${what}.spi`),
      material: this.bytes(o['material'], `${what}.material`, 32),
      sendSeqReserved: this.uint(o['sendSeqReserved'], `${what}.sendSeqReserved`),
      receiveTop: this.uint(o['receiveTop'], `${what}.receiveTop`),
    };
  }
}

function decodeDurable(r: Reader, v: unknown): ReceiverDurable {
  const o = r.object(v, 'durable');
  if (o['version'] !== DURABLE_VERSION) r.fail(`durable.version must be ${DURABLE_VERSION}`);
  const prev = o['previous'];
  return {
    version: DURABLE_VERSION,
    latest: o['latest'] === null ? null : r.key(o['latest'], 'durable.latest'),
    previous: prev === null || prev === 'init' ? prev : r.key(prev, 'durable.previous'),
    initPending: r.bool(o['initPending'], 'durable.initPending'),
    initSendSeqReserved: r.uint(o['initSendSeqReserved'], 'durable.initSendSeqReserved'),
    // X25519 private values are 32 bytes (RFC 7748 §5).
    ephemeralPrivate: o['ephemeralPrivate'] === null ? null : r.bytes(o['ephemeralPrivate'], 'durable.ephemeralPrivate', 32),
    rotationDueAtMs: r.timeMs(o['rotationDueAtMs'], 'durable.rotationDueAtMs'),
  };
}
