// `keyplane controller run --config`: the file's settings are used, its policies are
// added to the store at start (by name), and a policy the store already holds in another
// form is kept, with a warning, rather than overwritten.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeUdpPort, kill, killAll, startKeyplane } from './procs.js';
import { tempDir } from './helpers.js';
import { openSqliteStore } from '../../src/store/sqlite.js';

const dir = tempDir();
after(async () => {
  await killAll();
  dir.remove();
});

async function config(lifetimeSeconds: number): Promise<string> {
  const file = join(dir.path, 'controller.yaml');
  writeFileSync(
    file,
    `store: ${join(dir.path, 'c.db')}\nmasterKey: ${join(dir.path, 'm.key')}\nlisten: 127.0.0.1:${await freeUdpPort()}\nadmin: { listen: "off" }\n` +
      `policies:\n  - { name: sites, a: 192.0.2.1, b: 192.0.2.2, esp: aes128gcm16, lifetimeSeconds: ${lifetimeSeconds} }\n`,
    { mode: 0o600 },
  );
  return file;
}

async function run(file: string): Promise<string> {
  const p = startKeyplane(['controller', 'run', '--config', file, '--control-socket', join(dir.path, 'c.sock')]);
  await p.ready;
  assert.equal(await kill(p, 'SIGTERM'), 0);
  return p.log();
}

async function storedLifetime(): Promise<number | undefined> {
  const store = openSqliteStore({ path: join(dir.path, 'c.db'), masterKeyFile: join(dir.path, 'm.key'), create: false });
  try {
    return (await store.listPolicies()).find((p) => p.name === 'sites')?.applied.lifetimeSeconds;
  } finally {
    await store.close();
  }
}

test('policies from the config file are added once and never overwrite the stored ones', async () => {
  const first = await run(await config(1800));
  assert.match(first, /policy sites added from /);
  assert.equal(await storedLifetime(), 1800);
  const same = await run(await config(1800));
  assert.doesNotMatch(same, /policy sites (added|in .* differs)/, 'an unchanged policy is neither added again nor reported');
  const changed = await run(await config(900));
  assert.match(changed, /policy sites in .* differs from the stored one; the stored one is kept/);
  assert.equal(await storedLifetime(), 1800);
});
