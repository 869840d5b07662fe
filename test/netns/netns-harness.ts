// Two Linux network namespaces joined by a veth pair, for end-to-end tests (run as root,
// one test file at a time). Names carry the process id so parallel runs cannot collide.
//
//   ns A: veth vA 192.0.2.1/24, 2001:db8:0:1::1/64;  protected side 10.1.0.1/24, fd00:1::1/64 on lo
//   ns B: veth vB 192.0.2.2/24, 2001:db8:0:1::2/64;  protected side 10.2.0.1/24, fd00:2::1/64 on lo
//
// destroy() kills every process started through the harness and deletes both namespaces
// (which removes the veth pair and any TUN device inside). Call it from `after`: it is
// safe to call twice and also runs on process exit.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const OUTER = {
  a: { v4: '192.0.2.1', v6: '2001:db8:0:1::1' },
  b: { v4: '192.0.2.2', v6: '2001:db8:0:1::2' },
} as const;
export const INNER = {
  a: { v4: '10.1.0.1', v4Net: '10.1.0.0/24', v6: 'fd00:1::1', v6Net: 'fd00:1::/64' },
  b: { v4: '10.2.0.1', v4Net: '10.2.0.0/24', v6: 'fd00:2::1', v6Net: 'fd00:2::/64' },
} as const;

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

export function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args as string[], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export interface NetnsPair {
  readonly a: string; // namespace names
  readonly b: string;
  readonly vethA: string; // interface names inside them
  readonly vethB: string;
  exec(ns: string, cmd: string, args: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  // Starts a long-running process in a namespace; killed by destroy().
  spawn(ns: string, cmd: string, args: readonly string[]): ChildProcess;
  destroy(): Promise<void>;
}

let serial = 0;

export function canRunNetns(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  return undefined;
}

export async function createNetnsPair(): Promise<NetnsPair> {
  const id = `${process.pid}x${serial++}`;
  const a = `kpA${id}`;
  const b = `kpB${id}`;
  // Interface names are at most 15 bytes; the pid keeps them unique on the host while
  // they exist there, before they move into the namespaces.
  const vethA = `kvA${id}`.slice(0, 15);
  const vethB = `kvB${id}`.slice(0, 15);
  const children = new Set<ChildProcess>();
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    process.off('exit', onExit);
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    // Wait briefly for the children so their TUN devices and sockets are gone.
    await Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(resolve, 2000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    for (const ns of [a, b]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await run('ip', ['link', 'del', vethA]).catch(() => undefined);
  };
  // Last resort if the test process dies without running `after`.
  const onExit = (): void => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [a, b]) spawn('ip', ['netns', 'del', ns], { stdio: 'ignore', detached: true });
  };
  process.on('exit', onExit);

  const pair: NetnsPair = {
    a,
    b,
    vethA,
    vethB,
    exec: (ns, cmd, args, timeoutMs) => run('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs),
    spawn(ns, cmd, args) {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      return child;
    },
    destroy,
  };

  try {
    await run('ip', ['netns', 'add', a]);
    await run('ip', ['netns', 'add', b]);
    await run('ip', ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB]);
    await run('ip', ['link', 'set', vethA, 'netns', a]);
    await run('ip', ['link', 'set', vethB, 'netns', b]);
    for (const [ns, dev, side] of [
      [a, vethA, 'a'],
      [b, vethB, 'b'],
    ] as const) {
      const ip = (...args: string[]) => run('ip', ['-n', ns, ...args]);
      await ip('link', 'set', 'lo', 'up');
      await ip('link', 'set', dev, 'up');
      await ip('addr', 'add', `${OUTER[side].v4}/24`, 'dev', dev);
      // nodad: the address is usable at once (no duplicate address detection wait).
      await ip('-6', 'addr', 'add', `${OUTER[side].v6}/64`, 'dev', dev, 'nodad');
      await ip('addr', 'add', `${INNER[side].v4}/24`, 'dev', 'lo');
      await ip('-6', 'addr', 'add', `${INNER[side].v6}/64`, 'dev', 'lo', 'nodad');
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return pair;
}

// Waits until `child` prints a line that `match` accepts (on stdout, or on stderr when
// `stream` says so); returns that line.
export function waitForLine(
  child: ChildProcess,
  match: (line: string) => boolean,
  timeoutMs = 15_000,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<string> {
  const out = stream === 'stdout' ? child.stdout : child.stderr;
  const err = stream === 'stdout' ? child.stderr : null;
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => finish(new Error(`timed out waiting for output; stderr: ${stderr}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (match(line)) return finish(undefined, line);
      }
    };
    const onErr = (chunk: Buffer): void => {
      stderr += chunk.toString();
    };
    const onExit = (code: number | null): void =>
      finish(new Error(`process exited (${code}) before the expected output; stderr: ${stderr}`));
    const finish = (error: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      out?.off('data', onData);
      err?.off('data', onErr);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(line!);
    };
    out?.on('data', onData);
    err?.on('data', onErr);
    child.once('exit', onExit);
  });
}
