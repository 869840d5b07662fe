// The JSON the admin API returns (docs/admin-api.md) for devices, policies, SAs and
// events. Shared with `keyplane device list` in local-store mode so both modes print the
// same thing. Views carry identifiers, addresses, SPIs, algorithm names and times, and
// never a key: an SA view is built from the entry's public fields only.
import { encryptionTransform, integrityTransform } from '../crypto/registry.js';
import type { AppliedPolicy, DistributionPolicy, ManagementEntry } from '../settings/types.js';
import type { DeviceRecord, StoredEvent } from '../store/types.js';
import { spiHex } from '../util/spi-hex.js';
import { formatEspProposal } from '../config/esp-proposal.js';

// The agent renews at this fraction of the SA lifetime (settings/types.ts
// AgentOptions.renewAtFraction), so that is when `sa list` says the next renewal is due.
export const DEFAULT_RENEW_AT_FRACTION = 0.8;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface DeviceView {
  readonly id: string;
  readonly name: string;
  readonly status: 'active' | 'revoked';
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly initSpi: string;
  readonly variant: string;
  readonly forwardSecrecy: boolean;
  readonly addresses: readonly string[];
}

export function deviceView(d: DeviceRecord): DeviceView {
  return {
    id: d.id,
    name: d.name,
    status: d.revokedAtMs === null ? 'active' : 'revoked',
    createdAt: new Date(d.createdAtMs).toISOString(),
    revokedAt: iso(d.revokedAtMs),
    initSpi: spiHex(d.initSpi),
    variant: d.variant,
    forwardSecrecy: d.forwardSecrecy,
    addresses: [...d.addresses],
  };
}

function encryptionName(id: number, keyBits: number): string {
  try {
    return encryptionTransform(id, keyBits, { allowTestOnly: true }).name;
  } catch {
    return `encr${id}/${keyBits}`;
  }
}

function integrityName(id: number): string {
  try {
    return integrityTransform(id).name;
  } catch {
    return `integ${id}`;
  }
}

// The proposal keyword; IDs the registry does not know (a store written by a newer
// keyplane) show as numbers rather than failing the listing.
function espName(a: AppliedPolicy): string {
  return formatEspProposal(a) ?? `${encryptionName(a.encryption.id, a.encryption.keyBits)}${a.integrity === null ? '' : `-${integrityName(a.integrity.id)}`}`;
}

export interface FlowView {
  readonly protocol: number;
  readonly port: number | null;
}

export interface PolicyView {
  readonly id: string;
  readonly name: string;
  readonly a: string;
  readonly b: string;
  readonly flow: FlowView | null;
  readonly protocol: 'esp';
  readonly mode: 'tunnel' | 'transport';
  readonly esp: string; // proposal keyword, e.g. "aes256gcm16", "aes128-sha256"
  readonly encryption: { readonly id: number; readonly keyBits: number; readonly name: string };
  readonly integrity: { readonly id: number; readonly name: string } | null;
  readonly esn: boolean;
  readonly lifetimeSeconds: number;
  readonly createdAt: string;
}

export function policyView(p: DistributionPolicy): PolicyView {
  const a = p.applied;
  return {
    id: p.id,
    name: p.name,
    a: p.a,
    b: p.b,
    flow: p.flow === null ? null : { protocol: p.flow.protocol, port: p.flow.port },
    protocol: a.protocol,
    mode: a.mode,
    esp: espName(a),
    encryption: { id: a.encryption.id, keyBits: a.encryption.keyBits, name: encryptionName(a.encryption.id, a.encryption.keyBits) },
    integrity: a.integrity === null ? null : { id: a.integrity.id, name: integrityName(a.integrity.id) },
    esn: a.esn,
    lifetimeSeconds: a.lifetimeSeconds,
    createdAt: new Date(p.createdAtMs).toISOString(),
  };
}

export interface SaEndView {
  readonly address: string;
  readonly deviceId: string;
  readonly device: string | null; // name, null when the device is gone
  readonly requestId: number | null;
  readonly inboundSpi: string | null; // the SPI this end proposed and receives on
}

// One complete management-table entry: the pair of SAs a <-> b.
export interface SaView {
  readonly entryId: string;
  readonly a: SaEndView; // the end that asked first
  readonly b: SaEndView;
  readonly spis: { readonly aToB: string; readonly bToA: string };
  readonly flow: FlowView | null;
  readonly policyId: string;
  readonly policy: string | null;
  readonly protocol: 'esp';
  readonly mode: 'tunnel' | 'transport';
  readonly esp: string;
  readonly encryption: string;
  readonly integrity: string | null;
  readonly esn: boolean;
  readonly lifetimeSeconds: number;
  readonly createdAt: string;
  readonly completedAt: string;
  readonly ageSeconds: number;
  readonly expiresAt: string | null;
  readonly renewAt: string; // completedAt + renewAtFraction * lifetime
  // false once a newer complete entry exists for the same pair and flow (a renewal);
  // the old entry stays until its expiry timer deletes it (seed 000).
  readonly current: boolean;
}

// A pending entry: the first side asked, the peer has not yet (activations go out).
export interface PendingView {
  readonly entryId: string;
  readonly requester: SaEndView;
  readonly peer: SaEndView;
  readonly flow: FlowView | null;
  readonly policyId: string;
  readonly policy: string | null;
  readonly createdAt: string;
  readonly activationsSent: number;
  readonly nextActivationAt: string | null;
}

export interface Names {
  readonly devices: ReadonlyMap<string, string>; // id -> name
  readonly policies: ReadonlyMap<string, string>;
}

function end(row: ManagementEntry['rows'][number], names: Names): SaEndView {
  return {
    address: row.address,
    deviceId: row.deviceId,
    device: names.devices.get(row.deviceId) ?? null,
    requestId: row.requestId,
    inboundSpi: row.spi === null ? null : spiHex(row.spi),
  };
}

function pairKey(e: ManagementEntry): string {
  const [x, y] = [e.rows[0].address, e.rows[1].address].sort();
  return `${x} ${y} ${e.flow === null ? '' : `${e.flow.protocol}/${e.flow.port ?? '*'}`}`;
}

export function saViews(entries: readonly ManagementEntry[], nowMs: number, names: Names, renewAtFraction = DEFAULT_RENEW_AT_FRACTION): { sas: SaView[]; pending: PendingView[] } {
  const complete = entries.filter((e) => e.completedAtMs !== null && e.rows[0].spi !== null && e.rows[1].spi !== null);
  const newest = new Map<string, ManagementEntry>();
  for (const e of complete) {
    const k = pairKey(e);
    const n = newest.get(k);
    if (n === undefined || e.completedAtMs! > n.completedAtMs! || (e.completedAtMs === n.completedAtMs && e.createdAtMs > n.createdAtMs)) newest.set(k, e);
  }
  const sas = complete.map((e): SaView => {
    const a = e.applied;
    const completedAtMs = e.completedAtMs!;
    return {
      entryId: e.id,
      a: end(e.rows[0], names),
      b: end(e.rows[1], names),
      // ManagementEntry.params[0] is the SA row0 -> row1, keyed by row1's SPI.
      spis: { aToB: spiHex(e.rows[1].spi!), bToA: spiHex(e.rows[0].spi!) },
      flow: e.flow === null ? null : { protocol: e.flow.protocol, port: e.flow.port },
      policyId: e.policyId,
      policy: names.policies.get(e.policyId) ?? null,
      protocol: a.protocol,
      mode: a.mode,
      esp: espName(a),
      encryption: encryptionName(a.encryption.id, a.encryption.keyBits),
      integrity: a.integrity === null ? null : integrityName(a.integrity.id),
      esn: a.esn,
      lifetimeSeconds: a.lifetimeSeconds,
      createdAt: new Date(e.createdAtMs).toISOString(),
      completedAt: new Date(completedAtMs).toISOString(),
      ageSeconds: Math.max(0, Math.floor((nowMs - completedAtMs) / 1000)),
      expiresAt: iso(e.expiresAtMs),
      renewAt: new Date(completedAtMs + Math.round(renewAtFraction * a.lifetimeSeconds * 1000)).toISOString(),
      current: newest.get(pairKey(e)) === e,
    };
  });
  const pending = entries
    .filter((e) => !complete.includes(e))
    .map(
      (e): PendingView => ({
        entryId: e.id,
        requester: end(e.rows[0], names),
        peer: end(e.rows[1], names),
        flow: e.flow === null ? null : { protocol: e.flow.protocol, port: e.flow.port },
        policyId: e.policyId,
        policy: names.policies.get(e.policyId) ?? null,
        createdAt: new Date(e.createdAtMs).toISOString(),
        activationsSent: e.activationsSent,
        nextActivationAt: iso(e.nextActivationAtMs),
      }),
    );
  return { sas, pending };
}

export interface EventView {
  readonly id: number;
  readonly at: string;
  readonly kind: string;
  readonly deviceId: string | null;
  readonly device: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

export function eventView(e: StoredEvent, devices: ReadonlyMap<string, string>): EventView {
  return { id: e.id, at: new Date(e.atMs).toISOString(), kind: e.kind, deviceId: e.deviceId, device: e.deviceId === null ? null : (devices.get(e.deviceId) ?? null), detail: e.detail };
}
