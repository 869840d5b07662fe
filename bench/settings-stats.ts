// Small statistics and formatting helpers shared by the seed-000 benchmarks
// (settings-first-packet.ts, settings-controller.ts).
import os from 'node:os';

// Nearest-rank percentile (p in 0..100) of an unsorted sample; NaN when empty.
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(s.length, rank) - 1]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
export const fixed = (x: number, digits: number): string =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–';

// A Markdown table: the first `textColumns` columns left-aligned, the rest right-aligned.
export function table(header: readonly string[], rows: readonly (readonly string[])[], textColumns = 1): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < textColumns ? '---' : '--:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

// One line naming the machine and its load, for the head of a report.
export function machineLine(title: string, started: Date, loadBefore: readonly number[], wallSeconds: number): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return (
    `${title}, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${os.cpus().length} cores (${cpu}), ${fixed(os.totalmem() / 2 ** 30, 1)} GiB, ` +
    `node ${process.version}; load average ${loadBefore.map((x) => fixed(x, 2)).join(' ')} at start, ` +
    `${os.loadavg().map((x) => fixed(x, 2)).join(' ')} at end; ${fixed(wallSeconds, 0)} s in all`
  );
}

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
