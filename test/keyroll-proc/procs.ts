// Real `keyplane` processes for the tests: started as a user would (node + the built CLI),
// with their stderr kept for diagnostics, waited for on their "ready:" log line, and
// asked for `status --json` through their control sockets. Every child is registered so
// `killAll` (from `after`) leaves nothing behind, even when a test fails halfway.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../src/cli/control-socket.js';

export const KEYPLANE = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const children = new Set<ChildProcess>();

export interface Proc {
  readonly child: ChildProcess;
  readonly log: () => string; // stderr so far
  readonly ready: Promise<string>; // the "ready:" line
}

// `prefix` runs the command through another one (e.g. ["ip", "netns", "exec", ns]).
export function startKeyplane(args: readonly string[], prefix: readonly string[] = [], readyTimeoutMs = 20_000): Proc {
  const argv = [...prefix, process.execPath, KEYPLANE, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stdout?.resume();
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "ready:" within ${readyTimeoutMs} ms from keyplane ${args.join(' ')}; stderr:\n${stderr}`)), readyTimeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      const before = stderr.length;
      stderr += chunk.toString();
      const line = stderr.slice(Math.max(0, stderr.lastIndexOf('\n', before) + 1)).split('\n').find((l) => / ready: /.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`keyplane ${args.join(' ')} exited (${code ?? signal}) before ready; stderr:\n${stderr}`));
    });
  });
  ready.catch(() => undefined); // observed by the caller; never an unhandled rejection
  return { child, log: () => stderr, ready };
}

export function kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<number | string | null> {
  const c = p.child;
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode ?? c.signalCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.kill('SIGKILL');
    }, timeoutMs);
    c.once('exit', (code, sig) => {
      clearTimeout(t);
      resolve(code ?? sig);
    });
    c.kill(signal);
  });
}

export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(resolve, 3000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.kill('SIGKILL');
        }),
    ),
  );
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

// Runs a short keyplane command without blocking the test's event loop.
export function keyplane(args: readonly string[], prefix: readonly string[] = [], timeoutMs = 20_000): Promise<CliResult> {
  const argv = [...prefix, process.execPath, KEYPLANE, ...args];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

// `keyplane controller|agent status --json`, as a user runs it.
export async function statusJson<T>(which: 'controller' | 'agent', socket: string, prefix: readonly string[] = []): Promise<T> {
  const r = await keyplane([which, 'status', '--json', '--socket', socket], prefix);
  if (r.code !== 0) throw new Error(`keyplane ${which} status failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

// The same status straight from the control socket (what `status --json` prints), for
// polling: starting a node process per poll would load the 2 shared cores for nothing.
export async function statusDirect<T>(socket: string): Promise<T> {
  return (await controlRequest(socket, 'status')) as T;
}

// A UDP port that was free a moment ago on `address`.
export function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, address, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
