// Seed-000 values for the store tests: applied policies from real registry transforms,
// and management-table entries, pending or complete, with key material of the length
// each transform needs (random, or derived from a number so a crash test can check an
// entry byte for byte).
import { createHash, randomBytes } from 'node:crypto';
import { encryptionByName, integrityByName } from '../../src/crypto/registry.js';
import type { AppliedPolicy, ManagementEntry, SaParameters } from '../../src/settings/types.js';
import type { NewPolicy } from '../../src/store/types.js';

// "aes256gcm16", "aes128-sha256", "chacha20poly1305", ...
export function applied(proposal: string, extra: Partial<AppliedPolicy> = {}): AppliedPolicy {
  const [enc, integ] = proposal.split('-');
  const e = encryptionByName(enc!);
  return {
    protocol: 'esp',
    mode: 'tunnel',
    encryption: { id: e.id, keyBits: e.keyBits },
    integrity: integ === undefined ? null : { id: integrityByName(integ).id },
    esn: false,
    lifetimeSeconds: 3600,
    ...extra,
  };
}

export function newPolicy(name: string, a: string, b: string, extra: Partial<NewPolicy> = {}): NewPolicy {
  return { name, a, b, flow: null, applied: applied('aes256gcm16'), ...extra };
}

function keyLengths(proposal: string): { enc: number; integ: number | null } {
  const [enc, integ] = proposal.split('-');
  return { enc: encryptionByName(enc!).keyMaterialBytes, integ: integ === undefined ? null : integrityByName(integ).keyBytes };
}

const PROPOSALS = ['aes256gcm16', 'aes128-sha256', 'chacha20poly1305', 'aes256-sha512'];

// Entry number `i`: complete when `complete`, with keys from `bytes(label, n)`.
export function entryNumbered(i: number, complete: boolean, bytes: (label: string, n: number) => Buffer = derived(i)): ManagementEntry {
  const proposal = PROPOSALS[i % PROPOSALS.length]!;
  const len = keyLengths(proposal);
  const spiA = 0x1000 + 2 * i;
  const spiB = 0x1001 + 2 * i;
  const sa = (label: string, spi: number): SaParameters => ({
    spi,
    encryptionKey: bytes(`${label}/enc`, len.enc),
    integrityKey: len.integ === null ? null : bytes(`${label}/integ`, len.integ),
  });
  const id = createHash('sha256').update(`entry/${i}`).digest('hex').slice(0, 16);
  const t0 = 1_700_000_000_000 + i * 1000;
  return {
    id,
    rows: [
      { address: `10.0.${(i >> 8) & 255}.${i & 255}`, deviceId: `dev-a-${i}`, requestId: i + 1, spi: spiA },
      complete
        ? { address: '2001:db8::1', deviceId: `dev-b-${i}`, requestId: i + 7, spi: spiB }
        : { address: '2001:db8::1', deviceId: `dev-b-${i}`, requestId: null, spi: null },
    ],
    flow: i % 3 === 0 ? { protocol: 6, port: 443 } : i % 3 === 1 ? { protocol: 17, port: null } : null,
    policyId: `policy-${i % 5}`,
    applied: applied(proposal, { lifetimeSeconds: 60 + i }),
    params: complete ? [sa('ab', spiB), sa('ba', spiA)] : null,
    createdAtMs: t0,
    completedAtMs: complete ? t0 + 40 : null,
    activationsSent: complete ? 1 : 2,
    nextActivationAtMs: complete ? null : t0 + 5000,
    expiresAtMs: complete ? t0 + 40 + (60 + i) * 1000 : null,
  };
}

export function derived(i: number): (label: string, n: number) => Buffer {
  return (label, n) => createHash('sha512').update(`${label}/${i}`).digest().subarray(0, n);
}

export const randomKeys = (_label: string, n: number): Buffer => randomBytes(n);

export function secretsOfEntry(e: ManagementEntry): Buffer[] {
  if (e.params === null) return [];
  return e.params.flatMap((p) => [p.encryptionKey, ...(p.integrityKey === null ? [] : [p.integrityKey])]).map((b) => Buffer.from(b));
}
