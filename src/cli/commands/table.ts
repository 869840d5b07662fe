// Plain-text tables and durations for the admin commands' output: columns padded to the
// widest cell, two spaces apart, no trailing blanks (easy to read and to grep/awk).
import { PROTOCOL_NUMBERS } from '../../config/values.js';

export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

// 3725 -> "1h02m05s", 59 -> "59s", negative -> "overdue 12s".
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 0) return `overdue ${duration(-seconds)}`;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h${two(m)}m`;
  if (h > 0) return `${h}h${two(m)}m${two(sec)}s`;
  if (m > 0) return `${m}m${two(sec)}s`;
  return `${sec}s`;
}

// The first name config/values.ts knows for each protocol number.
const PROTOCOL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(PROTOCOL_NUMBERS)) if (!PROTOCOL_NAMES.has(n)) PROTOCOL_NAMES.set(n, name);

// A policy's or SA's flow selector: "any", "tcp", "tcp/443", "47".
export function flowText(flow: { protocol: number; port: number | null } | null): string {
  if (flow === null) return 'any';
  const p = PROTOCOL_NAMES.get(flow.protocol) ?? String(flow.protocol);
  return flow.port === null ? p : `${p}/${flow.port}`;
}
