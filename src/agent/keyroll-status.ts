// What `keyplane agent status` shows: the agent's keys as fingerprints (one-way digests,
// never keys) with their generations and SPIs, what it is waiting for, when the
// controller last answered, and counters. Sent as JSON over the agent's control socket.
import { spiHex } from '../util/spi-hex.js';
import type { AgentEntryStatus } from '../settings/types.js';
import { formatCounters } from '../util/counters.js';
import { keyStatus, keyStatusText, type KeyStatus } from '../keyroll/key-status.js';

// Kept as an alias: the agent's status JSON names it so.
export type AgentKeyStatus = KeyStatus;

export interface AgentStatus {
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly deviceId: string;
  readonly variant: string;
  readonly forwardSecrecy: boolean;
  readonly controller: string;
  readonly local: string;
  readonly stateFile: string;
  readonly generation: number; // of the latest key N; 0 = none yet
  readonly initPending: boolean;
  readonly latest: AgentKeyStatus | null;
  readonly previous: AgentKeyStatus | null;
  readonly send: AgentKeyStatus;
  readonly receive: readonly AgentKeyStatus[];
  readonly outstanding: { readonly kind: string; readonly transmissions: number } | null;
  readonly lastAnswerAt: string | null; // last answer of the controller that was accepted
  readonly lastInstallAt: string | null;
  readonly installs: { readonly init: number; readonly rotation: number };
  readonly stateDirty: boolean; // the last state-file write failed: nothing is sent until one succeeds
  readonly counters: Readonly<Record<string, number>>;
  // Seed-000 settings (agent run --config): one line per extended SPD entry.
  readonly settings?: AgentSettingsStatus;
}

export interface AgentSettingsStatus {
  readonly mode: 'router' | 'pc';
  readonly address: string;
  readonly tun: string;
  readonly entries: readonly AgentEntryStatus[];
  readonly sas: readonly { readonly spi: number; readonly direction: 'in' | 'out'; readonly packets: number; readonly bytes: number }[];
  readonly counters: Readonly<Record<string, number>>;
}

export const agentKeyStatus = keyStatus;
const keyText = keyStatusText;

export function formatAgentStatus(s: AgentStatus): string {
  const lines: string[] = [];
  lines.push(`keyplane agent (pid ${s.pid}), up ${s.uptimeSeconds} s, device ${s.deviceId} (${s.variant}${s.forwardSecrecy ? ' +fs' : ''})`);
  lines.push(`  controller ${s.controller} from ${s.local}; state ${s.stateFile}${s.stateDirty ? ' (WRITE FAILED)' : ''}`);
  lines.push(`  generation ${s.generation}${s.initPending ? ', initialising' : ''}; last answer ${s.lastAnswerAt ?? 'never'}`);
  lines.push(`  latest   ${keyText(s.latest)}`);
  lines.push(`  previous ${keyText(s.previous)}`);
  lines.push(`  send     ${keyText(s.send)}`);
  if (s.outstanding !== null) lines.push(`  waiting for the answer to a ${s.outstanding.kind} (${s.outstanding.transmissions} sent)`);
  lines.push(`  installed ${s.installs.init} by initialisation, ${s.installs.rotation} by rotation; last ${s.lastInstallAt ?? 'never'}`);
  const g = s.settings;
  if (g !== undefined) {
    lines.push('');
    lines.push(`Settings (seed 000): ${g.mode} mode, IPsec address ${g.address}, data plane ${g.tun}`);
    for (const e of g.entries) {
      const cur = e.current === null ? '' : ` in ${spiHex(e.current.inboundSpi)} out ${spiHex(e.current.outboundSpi)}, expires ${new Date(e.current.expiresAtMs).toISOString()}, renews ${new Date(e.current.renewAtMs).toISOString()}`;
      const req = e.request === null ? '' : `; request ${e.request.requestId} (${e.request.reason}, ${e.request.sends} sent)`;
      const fail = e.lastFailure === null ? '' : `; last failure ${e.lastFailure.failure}: ${e.lastFailure.reason}`;
      lines.push(`  ${e.policyId} -> ${e.peer}: ${e.state}${cur}; held ${e.held} (dropped ${e.heldDropped})${req}${fail}`);
    }
    for (const sa of g.sas) lines.push(`  SA ${sa.direction} ${spiHex(sa.spi)}: ${sa.packets} packets, ${sa.bytes} bytes`);
  }
  lines.push('');
  lines.push(...formatCounters({ ...s.counters, ...(g?.counters ?? {}) }));
  return lines.join('\n');
}
