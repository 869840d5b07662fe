// Distribution checks and SA construction for the device's setting management unit
// (seed 000 S45/S57: "generate the SAs from the SA parameters of the distribution and
// register them in the SAD"). Everything is checked before anything is installed, so a bad
// distribution is ignored as a whole and never half-installed.
import { encryptionTransform, integrityTransform } from '../crypto/registry.js';
import type { SaConfig } from '../ipsec/types.js';
import type { AppliedPolicy, FlowSelector, SaParameters, SettingsDistribution } from '../wire/control-settings.js';
import type { AgentSpdEntry } from './types.js';

// RFC 4303 §2.1: SPI 0 is never sent, 1..255 are reserved by IANA.
export const MIN_SPI = 256;
export const MAX_SPI = 0xffff_ffff;
const MAX_LIFETIME_SECONDS = 0x7fff_ffff;
const ENTRY_ID = /^[0-9a-f]{16}$/;

export function isUsableSpi(spi: unknown): spi is number {
  return typeof spi === 'number' && Number.isInteger(spi) && spi >= MIN_SPI && spi <= MAX_SPI;
}

export function flowEqual(a: FlowSelector | null | undefined, b: FlowSelector | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  return a.protocol === b.protocol && (a.port ?? null) === (b.port ?? null);
}

function keyOfLength(key: unknown, bytes: number): boolean {
  return key instanceof Uint8Array && key.length === bytes;
}

// Why a distribution cannot be installed (a stable code for counters), or null when it can.
// `ownSpi` is the inbound SPI this device proposed in the request being answered.
export function distributionProblem(d: SettingsDistribution, ownSpi: number): string | null {
  const p = d.policy as AppliedPolicy | undefined;
  if (p === undefined || p === null || typeof p !== 'object') return 'policy';
  if (p.protocol !== 'esp') return 'protocol';
  if (p.mode !== 'tunnel' && p.mode !== 'transport') return 'mode';
  if (typeof p.esn !== 'boolean') return 'esn';
  if (!Number.isInteger(p.lifetimeSeconds) || p.lifetimeSeconds < 1 || p.lifetimeSeconds > MAX_LIFETIME_SECONDS) return 'lifetime';
  if (typeof d.entryId !== 'string' || !ENTRY_ID.test(d.entryId)) return 'entry-id';
  const to = d.toPeer as SaParameters | undefined;
  const from = d.fromPeer as SaParameters | undefined;
  if (to === undefined || to === null || from === undefined || from === null) return 'sa-parameters';
  // The inbound SA must carry the SPI this device proposed (seed: "receiver-side SPI").
  if (from.spi !== ownSpi) return 'inbound-spi';
  if (!isUsableSpi(to.spi)) return 'outbound-spi';
  let encryptionKeyBytes: number;
  let aead: boolean;
  try {
    // No test-only transforms (ENCR_NULL) from a server: it would be traffic in clear.
    const t = encryptionTransform(p.encryption.id, p.encryption.keyBits);
    encryptionKeyBytes = t.keyMaterialBytes;
    aead = t.aead;
  } catch {
    // CryptoError for an unknown ID or key size, TypeError for a missing field.
    return 'encryption';
  }
  if (!keyOfLength(to.encryptionKey, encryptionKeyBytes) || !keyOfLength(from.encryptionKey, encryptionKeyBytes)) return 'encryption-key-length';
  if (aead) {
    // RFC 4303 §3.2.3 / RFC 4106 §2: an AEAD transform provides integrity; no separate one.
    if (p.integrity !== null || to.integrityKey !== null || from.integrityKey !== null) return 'integrity-with-aead';
    return null;
  }
  if (p.integrity === null || typeof p.integrity !== 'object') return 'integrity-missing';
  let integrityKeyBytes: number;
  try {
    integrityKeyBytes = integrityTransform(p.integrity.id).keyBytes;
  } catch {
    return 'integrity';
  }
  if (!keyOfLength(to.integrityKey, integrityKeyBytes) || !keyOfLength(from.integrityKey, integrityKeyBytes)) return 'integrity-key-length';
  return null;
}

export interface SaBuild {
  readonly entry: AgentSpdEntry;
  readonly applied: AppliedPolicy;
  readonly params: SaParameters;
  readonly direction: 'in' | 'out';
  readonly encapPort: number;
  readonly replayWindow: number;
  readonly hardSeconds: number; // > 0
  readonly softSeconds: number | null; // > 0, or null for none
}

// One SaConfig from a checked distribution. The selector is the entry's, in BOTH
// directions: SaConfig selectors are "written from the local point of view" and the
// engine maps an inbound packet's destination to `local` (ipsec/selector.ts matchSelector),
// so this device's inbound SA wants the same local/remote ranges as its outbound one.
export function buildSa(b: SaBuild): SaConfig {
  const { entry, applied, params } = b;
  return {
    spi: params.spi,
    direction: b.direction,
    mode: applied.mode,
    localAddress: entry.localAddress,
    remoteAddress: entry.requestPeer,
    encap: { localPort: b.encapPort, remotePort: b.encapPort }, // RFC 3948
    // Copies: the message buffers belong to the caller.
    encryption: { id: applied.encryption.id, keyBits: applied.encryption.keyBits, keyMaterial: Uint8Array.from(params.encryptionKey) },
    ...(applied.integrity !== null && params.integrityKey !== null
      ? { integrity: { id: applied.integrity.id, key: Uint8Array.from(params.integrityKey) } }
      : {}),
    esn: applied.esn,
    // RFC 4303 §3.4.3: anti-replay is a receiver function; 0 = off for the outbound SA.
    replayWindow: b.direction === 'in' ? b.replayWindow : 0,
    lifetime: { soft: b.softSeconds === null ? {} : { seconds: b.softSeconds }, hard: { seconds: b.hardSeconds } },
    selector: entry.selector,
    policyId: entry.id,
  };
}
