// Structured log lines of the controller: `what key=value key=value ...`, one event per
// line, values quoted only when they need it, so they are easy to grep and to parse.
// Callers pass identifiers, generations, fingerprints and counts only, never key
// material (fingerprints are one-way digests, kdf.ts).

export interface EventLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type LogValue = string | number | boolean | null;

export function logLine(what: string, fields: Readonly<Record<string, LogValue | undefined>>): string {
  const parts = [what];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = v === null ? '-' : String(v);
    parts.push(`${k}=${/^[\w.:/[\]@+-]+$/.test(s) ? s : JSON.stringify(s)}`);
  }
  return parts.join(' ');
}

// A field of any shape as a log value: objects and arrays as compact JSON.
export function logValue(v: unknown): LogValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === undefined) return null;
  return JSON.stringify(v);
}

export function logFields(fields: Readonly<Record<string, unknown>>): Record<string, LogValue> {
  const out: Record<string, LogValue> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = logValue(v);
  return out;
}
