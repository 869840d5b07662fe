// Shared pieces of the controller/agent tests: polling with a deadline, a log that keeps
// its lines, and the channel invariant checked through the two status views.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventLog } from '../../src/controller/log-line.js';

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${String(last)}` : ''}`);
    await sleep(stepMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class MemoryLog implements EventLog {
  readonly lines: string[] = [];
  info(m: string): void {
    this.lines.push(`info ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`warn ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error ${m}`);
  }
  grep(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }
}

export interface TempDir {
  readonly path: string;
  remove(): void;
}

export function tempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'kp-keyroll-proc-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

// The shapes both status views share (src/controller/status.ts, src/agent/keyroll-status.ts).
export interface KeyLike {
  readonly role: string;
  readonly generation: number;
  readonly spi: string;
  readonly fingerprint: string;
}

export interface AgentLike {
  readonly generation: number;
  readonly latest: KeyLike | null;
  readonly send: KeyLike;
  readonly receive: readonly KeyLike[];
}

export interface DeviceLike {
  readonly generation: number;
  readonly latest: KeyLike | null;
  readonly previous: KeyLike | null;
  readonly send: KeyLike;
  readonly receive: readonly KeyLike[];
}

// Seed 004's rule seen from outside: the agent's latest key is the controller's N or N-1
// (same SPI, same fingerprint: the same key), and each side's send key is one the other
// side receives with. Two status calls are not one instant: the controller may have
// rotated (once: gating) between them, so this holds for any order of the two reads
// where the agent is read first.
export function assertSameKeys(agent: AgentLike, device: DeviceLike): void {
  assert.ok(agent.latest !== null, 'agent has a key');
  const match = [device.latest, device.previous].find((k) => k !== null && k.generation === agent.latest!.generation && k.role === 'dynamic');
  assert.ok(match, `controller holds the agent's generation ${agent.latest.generation} (controller at ${device.generation})`);
  assert.equal(match.fingerprint, agent.latest.fingerprint, 'same key on both sides (fingerprints)');
  assert.equal(match.spi, agent.latest.spi);
  assert.ok(
    device.receive.some((k) => k.fingerprint === agent.send.fingerprint),
    'the agent sends with a key the controller accepts',
  );
}
