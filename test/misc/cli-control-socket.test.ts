// The data plane's control socket: owner-only, one JSON request and answer per
// connection, refuses to run twice, replaces a socket left behind by a dead process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { ControlSocketError, controlRequest, startControlServer } from '../../src/cli/control-socket.js';
import { tempDir } from './config-helpers.js';

test('answers requests, with socket mode 0600 in a fresh 0700 directory', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'run', 'kp.sock');
  const server = await startControlServer(path, async (req) => {
    if (req.method === 'status') return { sas: 2 };
    throw new Error(`unknown method "${req.method}"`);
  });
  try {
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(statSync(join(dir.path, 'run')).mode & 0o777, 0o700);
    assert.deepEqual(await controlRequest(path, 'status'), { sas: 2 });
    await assert.rejects(controlRequest(path, 'reboot'), (e: unknown) => e instanceof ControlSocketError && /unknown method "reboot"/.test(e.message));
  } finally {
    await server.close();
    dir.remove();
  }
  assert.equal(existsSync(path), false);
});

test('a malformed request gets an error answer and the server keeps serving', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'kp.sock');
  const server = await startControlServer(path, async () => 'fine');
  try {
    for (const line of ['not json', '{"nomethod":1}', '[1,2]']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const s = createConnection(path);
        let data = '';
        s.setEncoding('utf8');
        s.on('connect', () => s.write(`${line}\n`));
        s.on('data', (d: string) => (data += d));
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      const body = JSON.parse(answer) as { ok: boolean; error: string };
      assert.equal(body.ok, false);
      assert.match(body.error, /bad request/);
    }
    assert.equal(await controlRequest(path, 'status'), 'fine');
  } finally {
    await server.close();
    dir.remove();
  }
});

test('a second data plane on the same socket is refused', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'kp.sock');
  const server = await startControlServer(path, async () => 1);
  try {
    await assert.rejects(startControlServer(path, async () => 2), (e: unknown) => e instanceof ControlSocketError && e.code === 'control.in-use');
    assert.equal(await controlRequest(path, 'status'), 1); // the first one is untouched
  } finally {
    await server.close();
    dir.remove();
  }
});

test('a socket left behind by a killed process is replaced', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'kp.sock');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(existsSync(path), 'SIGKILL leaves the socket file');
  const server = await startControlServer(path, async () => 'new');
  try {
    assert.equal(await controlRequest(path, 'status'), 'new');
  } finally {
    await server.close();
    dir.remove();
  }
});
