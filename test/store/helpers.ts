// Shared helpers for the store tests: temporary folders, a store in one, real keyroll
// channel states (a KeySender and a KeyReceiver talking until keys have rotated), and a
// scan of raw files for key bytes in every encoding the store might use.
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { KeySender } from '../../src/keyroll/sender.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../../src/keyroll/params.js';
import { DURABLE_VERSION } from '../../src/keyroll/durable.js';
import type { ChannelParams, SenderPeerDurable } from '../../src/keyroll/types.js';
import { openSqliteStore, type SqliteControllerStore } from '../../src/store/sqlite.js';

export interface Dir {
  readonly path: string;
  file(name: string): string;
  remove(): void;
}

export function tempDir(prefix = 'keyplane-store-'): Dir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function storeIn(dir: Dir, masterKey = 'master.key'): SqliteControllerStore {
  return openSqliteStore({ path: dir.file('controller.db'), masterKeyFile: dir.file(masterKey) });
}

// A durable as a plain tree with byte strings as Buffers, for deepEqual.
export function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

// Every distinct sender-side durable state of one channel while the receiver initialises
// and the sender rotates `rotations` times (real cores, CSPRNG keys).
export function realChannelStates(params: ChannelParams, rotations: number): SenderPeerDurable[] {
  const sender = new KeySender(defaultSenderOptions({ rotationPeriodMs: 10_000, minRotationIntervalMs: 0 }));
  sender.addReceiver(params, 0);
  const receiver = new KeyReceiver(params, defaultReceiverOptions({ registrationIntervalMs: 1_000 }), 0);
  const states: SenderPeerDurable[] = [];
  let rotated = 0;
  const toSender: Uint8Array[] = [];
  for (let now = 0; now < 10_000_000 && rotated < rotations; now += 500) {
    for (const o of receiver.handle({ type: 'tick' }, now)) if (o.type === 'send') toSender.push(o.bytes);
    sender.handle({ type: 'tick' }, now);
    while (toSender.length > 0) {
      for (const o of sender.handle({ type: 'packet', bytes: toSender.shift()! }, now)) {
        if (o.type === 'persist') states.push(sender.durable(params.deviceId));
        if (o.type === 'event' && o.event.name === 'rotated') rotated++;
        if (o.type === 'send') for (const r of receiver.handle({ type: 'packet', bytes: o.bytes }, now)) if (r.type === 'send') toSender.push(r.bytes);
      }
    }
  }
  if (rotated < rotations) throw new Error(`only ${rotated} rotations happened`);
  return states;
}

// A deterministic, valid state numbered `i` (its initTopSeq), for crash tests.
export function numberedState(i: number): SenderPeerDurable {
  const bytes = (label: string, n: number) => createHash('sha512').update(`${label}/${i}`).digest().subarray(0, n);
  return {
    version: DURABLE_VERSION,
    latest: { generation: i + 1, spi: 0x1000 + i, material: bytes('latest', 32), sendSeqReserved: 1024 * i, receiveTop: i },
    previous: i % 2 === 0 ? 'init' : { generation: i, spi: 0x1000 + i - 1, material: bytes('previous', 32), sendSeqReserved: 0, receiveTop: 7 },
    latestDistribution: {
      kind: 'rotation',
      generation: i + 1,
      spi: 0x1000 + i,
      seed: bytes('seed', 32),
      ephemeral: { keId: 31, senderPublic: bytes('spub', 32), receiverPublic: bytes('rpub', 32) },
    },
    chainOriginMessageId: i,
    rotationDueAtMs: null,
    rotationDue: false,
    lastRotationAtMs: i * 1000,
    initTopSeq: i,
    initSendSeqReserved: 2048,
  };
}

// The byte strings a durable holds that must never appear in a file in the clear.
export function secretsOf(d: SenderPeerDurable): Buffer[] {
  const out: Buffer[] = [];
  for (const k of [d.latest, d.previous]) if (k !== null && k !== 'init') out.push(Buffer.from(k.material));
  if (d.latestDistribution !== null) out.push(Buffer.from(d.latestDistribution.seed));
  return out;
}

// Where `secret` occurs in `haystack` as raw bytes, hex, base64 or base64url: any
// 12-byte window of it, at any alignment, so a secret split across pages or embedded in a
// longer encoded value is still found.
export function findSecret(haystack: Buffer, secret: Uint8Array): string | undefined {
  const s = Buffer.from(secret);
  const text = haystack.toString('latin1');
  const lower = text.toLowerCase();
  for (let off = 0; off + 12 <= s.length; off += 4) {
    const w = s.subarray(off, off + 12);
    if (haystack.includes(w)) return `raw bytes ${off}..${off + 12}`;
    if (lower.includes(w.toString('hex'))) return `hex of bytes ${off}..${off + 12}`;
  }
  for (const enc of ['base64', 'base64url'] as const) {
    for (let shift = 0; shift < 3; shift++) {
      // Characters 4..20 encode 12 bytes that all come from the secret, whatever the
      // secret's position modulo 3 inside a longer encoded value.
      const needle = Buffer.concat([Buffer.alloc(shift), s]).toString(enc).slice(4, 20);
      if (text.includes(needle)) return `${enc} (alignment ${shift})`;
    }
  }
  return undefined;
}

export function readIfExists(path: string): Buffer {
  return existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
}
