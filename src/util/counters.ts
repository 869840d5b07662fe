// Named monotonic counters. Every dropped packet and every rejected input is counted
// under a stable reason code so operators can see why traffic is lost.
export class Counters {
  private readonly values = new Map<string, number>();

  add(name: string, delta = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + delta);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

// The "Counters:" block every status printout ends with (data plane, controller, agent).
export function formatCounters(counters: Readonly<Record<string, number>>): string[] {
  const names = Object.keys(counters);
  const lines = ['Counters:'];
  if (names.length === 0) lines.push('  (none yet)');
  for (const n of names) lines.push(`  ${n} ${counters[n]}`);
  return lines;
}
