// What `keyplane controller status` shows: per device the key generation, the key
// fingerprints (one-way digests, kdf.ts; never keys), when and from where it was last
// heard, and per-device and global counters. Built by the running controller, sent as
// JSON over its control socket, printed as text by the client.
import { formatCounters } from '../util/counters.js';
import { keyStatus, keyStatusText, type KeyStatus } from '../keyroll/key-status.js';
import { spiHex } from '../util/spi-hex.js';

export type { KeyStatus };

export interface DeviceStatus {
  readonly id: string;
  readonly name: string;
  readonly variant: string;
  readonly forwardSecrecy: boolean;
  readonly generation: number; // of the latest key N; 0 = not initialised
  readonly latest: KeyStatus | null;
  readonly previous: KeyStatus | null;
  readonly send: KeyStatus;
  readonly receive: readonly KeyStatus[];
  readonly latestProven: boolean;
  readonly rotationDue: boolean;
  readonly lastSeenAt: string | null; // last authenticated packet that was answered
  readonly lastAddress: string | null;
  readonly rx: number; // packets answered
  readonly tx: number;
  readonly initialisations: number; // since this controller started
  readonly rotations: number;
  readonly resends: number;
  readonly storeDirty: boolean; // a save failed; nothing is sent until one succeeds
}

export interface RefusedStatus {
  readonly id: string;
  readonly name: string;
  readonly revokedAt: string;
  readonly refused: number; // packets dropped since this controller started
}

export interface ControllerStatus {
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly listen: string;
  readonly rotationSeconds: number | null;
  readonly devices: readonly DeviceStatus[];
  readonly revoked: readonly RefusedStatus[];
  readonly counters: Readonly<Record<string, number>>;
  // Seed-000 settings service (absent in a status from an older controller).
  readonly settings?: SettingsStatus;
}

export interface SettingsStatus {
  readonly entries: number;
  readonly pending: number;
  readonly complete: number;
  readonly policies: number;
  readonly addresses: number;
  readonly counters: Readonly<Record<string, number>>;
}

export { spiHex, keyStatus };
const keyText = keyStatusText;

export function formatControllerStatus(s: ControllerStatus): string {
  const lines: string[] = [];
  lines.push(`keyplane controller (pid ${s.pid}), up ${s.uptimeSeconds} s, control channel on UDP ${s.listen}`);
  lines.push(`  rotation every ${s.rotationSeconds === null ? '(off)' : `${s.rotationSeconds} s`}`);
  lines.push('');
  lines.push(`Devices (${s.devices.length}):`);
  for (const d of s.devices) {
    lines.push(`  ${d.name} (${d.id}) ${d.variant}${d.forwardSecrecy ? ' +fs' : ''}: generation ${d.generation}${d.latestProven ? ', proven' : ''}${d.rotationDue ? ', rotation due' : ''}${d.storeDirty ? ', STORE SAVE FAILED' : ''}`);
    lines.push(`    latest   ${keyText(d.latest)}`);
    lines.push(`    previous ${keyText(d.previous)}`);
    lines.push(`    last seen ${d.lastSeenAt ?? 'never'}${d.lastAddress === null ? '' : ` from ${d.lastAddress}`}; rx ${d.rx} tx ${d.tx}; init ${d.initialisations}, rotations ${d.rotations}, resends ${d.resends}`);
  }
  if (s.revoked.length > 0) {
    lines.push('');
    lines.push(`Revoked (${s.revoked.length}):`);
    for (const r of s.revoked) lines.push(`  ${r.name} (${r.id}) revoked ${r.revokedAt}, ${r.refused} packets refused`);
  }
  if (s.settings !== undefined) {
    const g = s.settings;
    lines.push('');
    lines.push(`Settings (seed 000): ${g.policies} policies, ${g.addresses} device addresses, management table ${g.complete} complete + ${g.pending} pending entries (keyplane sa list)`);
  }
  lines.push('');
  lines.push(...formatCounters({ ...s.counters, ...(s.settings?.counters ?? {}) }));
  return lines.join('\n');
}
