// Several `keyplane device add` processes at once on a store that does not exist yet:
// all succeed, the store and master key are created once, and every device gets its own
// id and init SPI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYPLANE, keyplane } from './cli-run.js';
import { parseEnrollmentToken } from '../../src/store/enrollment-token.js';

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [KEYPLANE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('concurrent device add from several processes gives unique ids and SPIs and one controller identity', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyplane-cli-concurrent-'));
  try {
    const store = ['--store', join(dir, 'ctl/controller.db'), '--master-key', join(dir, 'ctl/master.key'), '--controller-address', '192.0.2.1'];
    const names = Array.from({ length: 6 }, (_, i) => `dev${i}`);
    const results = await Promise.all(names.map((n) => run(['device', 'add', n, ...store, '--json'])));
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    const added = results.map((r) => JSON.parse(r.stdout) as { device: { id: string; initSpi: string }; token: string });
    const tokens = added.map((a) => parseEnrollmentToken(a.token));
    assert.equal(new Set(tokens.map((t) => t.deviceId)).size, names.length);
    assert.equal(new Set(tokens.map((t) => t.initSpi)).size, names.length);
    assert.equal(new Set(tokens.map((t) => t.controller.identity)).size, 1, 'one store, one master key, one identity');
    assert.equal(new Set(tokens.map((t) => Buffer.from(t.initKey).toString('hex'))).size, names.length);

    const list = keyplane(['device', 'list', ...store.slice(0, 4), '--json']);
    assert.equal(list.status, 0, list.stderr);
    const devices = (JSON.parse(list.stdout) as { devices: { id: string; name: string; initSpi: string }[] }).devices;
    assert.deepEqual(
      devices.map((d) => d.name),
      names,
    );
    assert.deepEqual(new Set(devices.map((d) => d.id)), new Set(tokens.map((t) => t.deviceId)));
    // Second wave on the existing store, two names twice: exactly one of each pair wins.
    const wave = await Promise.all(['x', 'x', 'y', 'y'].map((n) => run(['device', 'add', n, ...store])));
    assert.deepEqual(wave.map((r) => r.status).sort(), [0, 0, 2, 2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
