// The control socket of a running `keyplane dataplane run`: a unix stream socket, one
// JSON request line in, one JSON response line out, then close. Only the owner may
// connect (socket mode 0600 inside a 0700 directory): status shows SPIs and counters,
// which is operational data, never keys.

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { KeyplaneError } from '../util/errors.js';

export class ControlSocketError extends KeyplaneError {}

export interface ControlRequest {
  readonly method: string;
}

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

const MAX_REQUEST_BYTES = 4096;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

// Answers true when a process is accepting connections on `path`.
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startControlServer(path: string, handler: ControlHandler): Promise<ControlServer> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (await isLive(path)) {
      throw new ControlSocketError('control.in-use', `another keyplane data plane is already running on ${path}`);
    }
    unlinkSync(path); // left behind by a process that did not clean up
  }
  const server = createServer((socket) => serve(socket, handler));
  // umask for the bind so the socket is never briefly connectable by others.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(path, 0o600);
  return {
    path,
    close: () => closeServer(server, path),
  };
}

function closeServer(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  });
}

function serve(socket: Socket, handler: ControlHandler): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.setTimeout(5000, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    if (buffered.length > MAX_REQUEST_BYTES) {
      reply(socket, { ok: false, error: 'request too large' });
      return;
    }
    const nl = buffered.indexOf('\n');
    if (nl < 0) return;
    const line = buffered.slice(0, nl);
    socket.pause();
    let request: ControlRequest;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { method?: unknown }).method !== 'string') {
        throw new Error('expected {"method": "..."}');
      }
      request = parsed as ControlRequest;
    } catch (e) {
      reply(socket, { ok: false, error: `bad request: ${(e as Error).message}` });
      return;
    }
    handler(request).then(
      (result) => reply(socket, { ok: true, result }),
      (e: unknown) => reply(socket, { ok: false, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}

function reply(socket: Socket, body: unknown): void {
  socket.end(`${JSON.stringify(body)}\n`);
}

// Sends one request and returns the result, or throws ControlSocketError.
export function controlRequest(path: string, method: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let data = '';
    const fail = (message: string) => {
      socket.destroy();
      reject(new ControlSocketError('control.failed', message));
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => fail(`no answer from ${path} within ${timeoutMs} ms`));
    socket.on('connect', () => socket.write(`${JSON.stringify({ method })}\n`));
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? ' (is `keyplane dataplane run` running with this control socket?)' : '';
      fail(`cannot connect to ${path}: ${e.code ?? e.message}${hint}`);
    });
    socket.on('end', () => {
      try {
        const body = JSON.parse(data) as { ok: boolean; result?: unknown; error?: string };
        if (body.ok) resolve(body.result);
        else reject(new ControlSocketError('control.failed', body.error ?? 'request failed'));
      } catch {
        reject(new ControlSocketError('control.failed', `unreadable answer from ${path}`));
      }
    });
  });
}
