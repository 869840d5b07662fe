// Runs the built `keyplane` command in a child process without blocking this process's
// event loop, so the admin API the test started here can answer it. `env` is added to a
// copy of the environment with KEYPLANE_API and KEYPLANE_ADMIN_TOKEN_FILE removed (so a
// developer's settings never leak into a test).
import { spawn, type ChildProcess } from 'node:child_process';
import { KEYPLANE } from './cli-run.js';

export interface CliResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  if (env['KEYPLANE_API'] === undefined) delete e['KEYPLANE_API'];
  if (env['KEYPLANE_ADMIN_TOKEN_FILE'] === undefined) delete e['KEYPLANE_ADMIN_TOKEN_FILE'];
  return e;
}

export function start(args: readonly string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliResult>; stdout: () => string } {
  const child = spawn(process.execPath, [KEYPLANE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(env) });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout };
}

export function run(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return start(args, env).done;
}
