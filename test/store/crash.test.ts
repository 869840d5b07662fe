// Crash safety: a controller killed with SIGKILL in the middle of a stream of channel
// state saves leaves a store that opens, with one complete state in it: the last one
// the child reported as saved, or the one it was writing when it died. Never a mix,
// never an older one (synchronous=FULL: a returned save is on disk).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { norm, numberedState, storeIn, tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

// Runs the child until it has reported `minSaves` saves plus a random extra delay, then
// kills it; returns the highest number it reported.
function runAndKill(args: string[], minSaves: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, '--crash-child', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let armed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!armed && out.split('\n').length > minSaves) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child exited (${code}) before it was killed: ${err}`));
      const done = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
      resolve(done.length === 0 ? 0 : done[done.length - 1]!);
    });
  });
}

test('SIGKILL during a loop of saveChannelState leaves the store openable with one intact state', async () => {
  const dir = tempDir();
  try {
    const setup = storeIn(dir);
    const key = randomBytes(32);
    const d = await setup.addDevice({ name: 'gw', variant: 'explicit', forwardSecrecy: true }, key, 0);
    const other = await setup.addDevice({ name: 'other', variant: 'spi', forwardSecrecy: false }, randomBytes(32), 0);
    await setup.saveChannelState(other.id, numberedState(1000));
    await setup.close();

    for (const [round, extraMs] of [3, 17, 41, 0].entries()) {
      const minSaves = 20 + round * 15;
      const reported = await runAndKill([dir.file('controller.db'), dir.file('master.key'), d.id], minSaves, extraMs);
      assert.ok(reported >= minSaves, `round ${round}: the child saved ${reported} states`);
      // The child died with its WAL open: what follows is a real recovery, not a clean file.
      assert.ok(statSync(dir.file('controller.db-wal')).size > 0, `round ${round}: no WAL left by the killed child`);
      const store = storeIn(dir); // opens: the WAL is recovered or rolled back
      const state = await store.loadChannelState(d.id);
      assert.ok(state !== undefined, `round ${round}: no state`);
      const n = state.initTopSeq;
      // Complete and self-consistent: exactly the state numbered n, byte for byte.
      assert.deepEqual(norm(state), norm(numberedState(n)), `round ${round}: state ${n} is not intact`);
      assert.ok(n >= reported && n <= reported + 1, `round ${round}: state ${n}, child reported ${reported} saved`);
      // The rest of the store is untouched, and the init key still opens.
      assert.deepEqual(Buffer.from(await store.initKey(d.id)), key);
      assert.deepEqual(norm(await store.loadChannelState(other.id)), norm(numberedState(1000)));
      assert.equal((await store.listDevices()).length, 2);
      await store.close();
    }
  } finally {
    dir.remove();
  }
});
