// Builders for the SettingsAgent tests: entries, options with a seeded PRNG, hand-made
// distributions and errors (what the setting server would send), and output filters.
import { randomBytes } from 'node:crypto';
import { Prng } from '../../src/sim/prng.js';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import { defaultAgentOptions, SettingsAgent } from '../../src/settings/agent.js';
import type { AgentEvent, AgentOptions, AgentOutput, AgentSpdEntry, RandomSource } from '../../src/settings/types.js';
import type { AppliedPolicy, SettingsDistribution, SettingsError, SettingsMessage, SettingsRequest } from '../../src/wire/control-settings.js';
import type { SaConfig } from '../../src/ipsec/types.js';
import type { DataPlane } from '../../src/ipsec/dataplane.js';

export const A = '192.0.2.1';
export const B = '192.0.2.2';

export const ENTRY: AgentSpdEntry = {
  id: 'to-b',
  priority: 10,
  selector: { local: { start: '10.0.1.0', end: '10.0.1.255' }, remote: { start: '10.0.2.0', end: '10.0.2.255' } },
  localAddress: A,
  requestPeer: B,
  flow: null,
};

export const ENTRY_C: AgentSpdEntry = {
  id: 'to-c',
  priority: 20,
  selector: { local: { start: '10.0.1.0', end: '10.0.1.255' }, remote: { start: '10.0.3.0', end: '10.0.3.255' } },
  localAddress: A,
  requestPeer: '192.0.2.3',
  flow: null,
};

export function prngSource(seed: number): RandomSource {
  const prng = Prng.fromSeed(seed);
  return (n) => prng.bytes(n);
}

// A RandomSource that hands out the given uint32 values (big-endian, as the agent reads
// them) first, then falls back to a seeded PRNG.
export function scriptedSource(values: number[], seed = 1): RandomSource {
  const rest = prngSource(seed);
  return (n) => {
    const v = values.shift();
    if (v === undefined || n !== 4) return rest(n);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return b;
  };
}

export function options(over: Partial<AgentOptions> = {}, seed = 7): AgentOptions {
  return defaultAgentOptions({ random: prngSource(seed), ...over });
}

export function agent(entries: readonly AgentSpdEntry[] = [ENTRY], over: Partial<AgentOptions> = {}, seed = 7): SettingsAgent {
  return new SettingsAgent(entries, options(over, seed));
}

export const GCM128: AppliedPolicy = {
  protocol: 'esp',
  mode: 'tunnel',
  encryption: { id: ENCR.AES_GCM_16, keyBits: 128 },
  integrity: null,
  esn: false,
  lifetimeSeconds: 3600,
};

export const CBC_SHA256: AppliedPolicy = {
  protocol: 'esp',
  mode: 'transport',
  encryption: { id: ENCR.AES_CBC, keyBits: 256 },
  integrity: { id: INTEG.HMAC_SHA2_256_128 },
  esn: true,
  lifetimeSeconds: 3600,
};

// Key material lengths: RFC 4106 §8.1 (GCM key + 4-byte salt), RFC 3602 (AES key),
// RFC 4868 §2.1.1 (HMAC-SHA-256 key = 32 bytes).
function keyLengths(p: AppliedPolicy): { enc: number; integ: number | null } {
  if (p.encryption.id === ENCR.AES_CBC) return { enc: p.encryption.keyBits / 8, integ: p.integrity === null ? null : 32 };
  return { enc: p.encryption.keyBits / 8 + 4, integ: null };
}

let entrySeq = 0;
export function entryIdHex(): string {
  entrySeq++;
  return entrySeq.toString(16).padStart(16, '0');
}

// The distribution the server would send to the requester of `req` (seed 000 S10), the
// peer having proposed `peerSpi` for its inbound SA.
export function distributionFor(req: SettingsRequest, peerSpi: number, policy: AppliedPolicy = GCM128, over: Partial<SettingsDistribution> = {}): SettingsDistribution {
  const k = keyLengths(policy);
  return {
    requestId: req.requestId,
    requester: req.requester,
    peer: req.peer,
    flow: req.flow,
    entryId: entryIdHex(),
    policy,
    toPeer: { spi: peerSpi, encryptionKey: randomBytes(k.enc), integrityKey: k.integ === null ? null : randomBytes(k.integ) },
    fromPeer: { spi: req.spi, encryptionKey: randomBytes(k.enc), integrityKey: k.integ === null ? null : randomBytes(k.integ) },
    ...over,
  };
}

export function distributionMessage(d: SettingsDistribution): { type: 'message'; message: SettingsMessage } {
  return { type: 'message', message: { kind: 'distribution', distribution: d } };
}

export function errorMessage(req: SettingsRequest, kind: SettingsError['kind'], entries: SettingsError['entries'] = []): { type: 'message'; message: SettingsMessage } {
  return {
    type: 'message',
    message: { kind: 'error', error: { kind, requestId: req.requestId, requester: req.requester, peer: req.peer, flow: req.flow, entries, reason: `test ${kind}` } },
  };
}

export function activation(peer: string, flow: SettingsRequest['flow'] = null): { type: 'message'; message: SettingsMessage } {
  return { type: 'message', message: { kind: 'activation', activation: { peer, flow } } };
}

export function acquire(packet: Uint8Array, policyId = ENTRY.id): { type: 'acquire'; policyId: string; packet: Uint8Array } {
  return { type: 'acquire', policyId, packet };
}

// ------------------------------------------------------------------ output filters

export function requests(out: readonly AgentOutput[]): SettingsRequest[] {
  return out.flatMap((o) => (o.type === 'send' && o.message.kind === 'request' ? [o.message.request] : []));
}

export function events<N extends AgentEvent['name']>(out: readonly AgentOutput[], name: N): Extract<AgentEvent, { name: N }>[] {
  return out.flatMap((o) => (o.type === 'event' && o.event.name === name ? [o.event as Extract<AgentEvent, { name: N }>] : []));
}

export function installs(out: readonly AgentOutput[]): SaConfig[] {
  return out.flatMap((o) => (o.type === 'install-sa' ? [o.sa] : []));
}

export function deletes(out: readonly AgentOutput[]): { direction: 'in' | 'out'; spi: number }[] {
  return out.flatMap((o) => (o.type === 'delete-sa' ? [{ direction: o.direction, spi: o.spi }] : []));
}

export function releases(out: readonly AgentOutput[]): Uint8Array[][] {
  return out.flatMap((o) => (o.type === 'release' ? [[...o.packets]] : []));
}

// Output kinds in order, events by name: a compact picture of what the agent did.
export function shape(out: readonly AgentOutput[]): string[] {
  return out.map((o) => {
    switch (o.type) {
      case 'event':
        return `event:${o.event.name}`;
      case 'install-sa':
        return `install-sa:${o.sa.direction}`;
      case 'delete-sa':
        return `delete-sa:${o.direction}`;
      case 'send':
        return `send:${o.message.kind}`;
      default:
        return o.type;
    }
  });
}

export function only<T>(items: readonly T[]): T {
  if (items.length !== 1) throw new Error(`expected exactly one item, got ${items.length}`);
  return items[0]!;
}

export function pkt(n: number): Uint8Array {
  return Uint8Array.of(0x45, n);
}

// Ticks the agent at each due time up to `untilMs`; returns every output with its time.
export function runUntil(a: SettingsAgent, untilMs: number): { atMs: number; out: AgentOutput[] }[] {
  const log: { atMs: number; out: AgentOutput[] }[] = [];
  for (let due = a.nextDueMs(); due <= untilMs; due = a.nextDueMs()) {
    if (log.length > 10_000) throw new Error('the agent keeps asking for ticks at the same time');
    log.push({ atMs: due, out: a.handle({ type: 'tick' }, due) });
  }
  return log;
}

// A minimal shell: carries out an agent's outputs on a data plane, in order. The
// DataPlane's installPolicy refuses an existing id, so "insert or replace" is delete +
// install; sends go to `send`.
export async function applyTo(plane: DataPlane, out: readonly AgentOutput[], send: (m: SettingsMessage) => void = () => {}): Promise<void> {
  for (const o of out) {
    switch (o.type) {
      case 'install-policy':
        await plane.deletePolicy(o.policy.id);
        await plane.installPolicy(o.policy);
        break;
      case 'install-sa':
        await plane.installSa(o.sa);
        break;
      case 'delete-sa':
        await plane.deleteSa(o.direction, o.spi);
        break;
      case 'release':
        await plane.resubmit(o.packets);
        break;
      case 'send':
        send(o.message);
        break;
      case 'event':
        break;
    }
  }
}
