// Runs the built `keyplane` command as a child process, as a user would.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const KEYPLANE = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function keyplane(args: readonly string[], options: { timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(process.execPath, [KEYPLANE, ...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 20_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
