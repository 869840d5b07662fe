// What `keyplane dataplane status` shows: SAs (SPI, algorithms, counters; never keys),
// policies and the data plane's drop counters. Built by the running process, sent over
// the control socket as JSON, printed as text by the client.

import { formatCounters } from '../util/counters.js';
import type { DataPlane } from '../ipsec/dataplane.js';
import type { AddressRange, Policy, TrafficSelector } from '../ipsec/types.js';

type PortRangeLike = TrafficSelector['localPorts'];
import type { ManualKeyingConfig } from '../config/manual-keying.js';
import { formatPrefix, rangeToPrefixes } from '../dataplane/prefixes.js';
import { PROTOCOL_NUMBERS } from '../config/values.js';
import { spiHex } from '../util/spi-hex.js';

export interface SaStatusView {
  readonly name: string | null;
  readonly policy: string | null;
  readonly direction: 'in' | 'out';
  readonly spi: string; // 0x-prefixed, 8 hex digits: how SPIs appear in tshark and ip xfrm
  readonly mode: string | null;
  readonly localAddress: string | null;
  readonly remoteAddress: string | null;
  readonly encryption: string | null;
  readonly integrity: string | null;
  readonly bytes: number;
  readonly packets: number;
  readonly replayDrops: number;
  readonly authFailures: number;
  readonly softExpired: boolean;
  readonly lastUsedAt: string | null;
}

export interface PolicyStatusView {
  readonly name: string;
  readonly priority: number;
  readonly action: string;
  readonly selector: string;
  readonly mode: string | null;
  readonly tunnel: string | null;
}

export interface DataplaneStatus {
  readonly pid: number;
  readonly config: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly tunName: string;
  readonly localAddress: string;
  readonly port: number;
  readonly routes: string[];
  readonly sas: SaStatusView[];
  readonly policies: PolicyStatusView[];
  readonly counters: Record<string, number>;
}

export { spiHex };

// A range that is exactly one prefix prints as the prefix people wrote ("10.1.0.0/24").
function rangeText(r: AddressRange | undefined): string {
  if (r === undefined) return 'any';
  if (r.start === r.end) return r.start;
  try {
    const prefixes = rangeToPrefixes(r.start, r.end);
    if (prefixes.length === 1) return formatPrefix(prefixes[0]!);
  } catch {
    // not a well-formed range: print it as it is
  }
  return `${r.start}-${r.end}`;
}

function portsText(p: PortRangeLike | undefined): string {
  if (p === undefined) return '';
  return p.start === p.end ? `:${p.start}` : `:${p.start}-${p.end}`;
}

const PROTOCOL_NAMES = new Map(Object.entries(PROTOCOL_NUMBERS).filter(([n]) => n !== 'ipv6-icmp').map(([n, v]) => [v, n]));

export function selectorText(s: TrafficSelector): string {
  const proto = s.protocol === undefined ? 'any' : (PROTOCOL_NAMES.get(s.protocol) ?? String(s.protocol));
  return `${rangeText(s.local)}${portsText(s.localPorts)} -> ${rangeText(s.remote)}${portsText(s.remotePorts)} proto ${proto}`;
}

export async function collectStatus(
  dataplane: DataPlane,
  config: ManualKeyingConfig,
  info: { tunName: string; startedAtMs: number; routes: string[] },
): Promise<DataplaneStatus> {
  const [sas, policies, counters] = await Promise.all([dataplane.listSas(), dataplane.listPolicies(), dataplane.counters()]);
  const byKey = new Map(config.sas.map((s) => [`${s.config.direction}/${s.config.spi}`, s]));
  return {
    pid: process.pid,
    config: config.file,
    startedAt: new Date(info.startedAtMs).toISOString(),
    uptimeSeconds: Math.round((Date.now() - info.startedAtMs) / 1000),
    tunName: info.tunName,
    localAddress: config.dataplane.localAddress,
    port: config.dataplane.port,
    routes: info.routes,
    sas: sas.map((sa) => {
      const m = byKey.get(`${sa.direction}/${sa.spi}`);
      return {
        name: m?.name ?? null,
        policy: m?.policy ?? null,
        direction: sa.direction,
        spi: spiHex(sa.spi),
        mode: m?.config.mode ?? null,
        localAddress: m?.config.localAddress ?? null,
        remoteAddress: m?.config.remoteAddress ?? null,
        encryption: m?.encryption ?? null,
        integrity: m?.integrity ?? null,
        bytes: sa.counters.bytes,
        packets: sa.counters.packets,
        replayDrops: sa.counters.replayDrops,
        authFailures: sa.counters.authFailures,
        softExpired: sa.softExpired,
        lastUsedAt: sa.counters.lastUsedAtMs === null ? null : new Date(sa.counters.lastUsedAtMs).toISOString(),
      };
    }),
    policies: policies.map((p: Policy) => ({
      name: p.id,
      priority: p.priority,
      action: p.action,
      selector: selectorText(p.selector),
      mode: p.protect?.mode ?? null,
      tunnel: p.protect ? `${p.protect.localTunnel ?? '?'} -> ${p.protect.remoteTunnel}` : null,
    })),
    counters,
  };
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function formatStatus(s: DataplaneStatus): string {
  const lines: string[] = [];
  lines.push(`keyplane data plane (pid ${s.pid}), up ${s.uptimeSeconds} s, config ${s.config}`);
  lines.push(`  TUN ${s.tunName}, ESP in UDP on ${s.localAddress}:${s.port}`);
  for (const r of s.routes) lines.push(`  route ${r}`);
  lines.push('');
  lines.push(`SAs (${s.sas.length}):`);
  lines.push(
    ...table([
      ['  DIR', 'SPI', 'POLICY', 'MODE', 'PEER', 'ALGORITHMS', 'PACKETS', 'BYTES', 'REPLAY-DROPS', 'AUTH-FAILS'],
      ...s.sas.map((sa) => [
        `  ${sa.direction}`,
        sa.spi,
        sa.policy ?? '-',
        sa.mode ?? '-',
        sa.remoteAddress ?? '-',
        [sa.encryption, sa.integrity].filter((x) => x !== null).join('+') || '-',
        String(sa.packets),
        String(sa.bytes),
        String(sa.replayDrops),
        String(sa.authFailures),
      ]),
    ]),
  );
  lines.push('');
  lines.push(`Policies (${s.policies.length}):`);
  lines.push(
    ...table([
      ['  NAME', 'PRIO', 'ACTION', 'SELECTOR', 'TUNNEL'],
      ...s.policies.map((p) => [`  ${p.name}`, String(p.priority), p.action, p.selector, p.tunnel ? `${p.mode} ${p.tunnel}` : '-']),
    ]),
  );
  lines.push('');
  lines.push(...formatCounters(s.counters));
  return lines.join('\n');
}
