// `keyplane policy add|list|rm`, run as the built command against a real admin API
// (started in this process, on a real SQLite store): output, --json, exit codes 0/1/2,
// and the API options (--api / KEYPLANE_API, --token-file / KEYPLANE_ADMIN_TOKEN_FILE).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { encryptionByName } from '../../src/crypto/registry.js';
import { startTestApi, type TestApi } from '../controller/admin-helpers.js';
import { run } from './cli-api-run.js';

function withApi(fn: (t: TestApi, api: string[]) => Promise<void>): () => Promise<void> {
  return async () => {
    const t = await startTestApi();
    try {
      await fn(t, ['--api', t.api.url, '--token-file', t.tokenFile]);
    } finally {
      await t.close();
    }
  };
}

// A TCP port nobody listens on (bound, then closed).
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test(
  'policy add / list / rm: table and --json output, stored as given',
  withApi(async (t, api) => {
    const add = await run(['policy', 'add', 'berlin-paris', '192.0.2.1', '2001:DB8::7', ...api]);
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /^added policy berlin-paris \(id [0-9a-f]{16}\): 192\.0\.2\.1 <-> 2001:db8::7, flow any, aes256gcm16 tunnel, lifetime 3600 s\n$/);

    const web = await run(['policy', 'add', 'web', '192.0.2.1', '*', '--protocol', 'tcp', '--port', '443', '--esp', 'aes128-sha256', '--mode', 'transport', '--lifetime', '60', '--esn', '--json', ...api]);
    assert.equal(web.status, 0, web.stderr);
    const p = (JSON.parse(web.stdout) as { policy: Record<string, unknown> }).policy;
    assert.deepEqual([p['name'], p['a'], p['b'], p['flow'], p['esp'], p['mode'], p['lifetimeSeconds'], p['esn']], ['web', '192.0.2.1', '*', { protocol: 6, port: 443 }, 'aes128-sha256', 'transport', 60, true]);
    const stored = (await t.store.listPolicies()).find((x) => x.name === 'web')!;
    assert.deepEqual(stored.applied.encryption, { id: encryptionByName('aes128').id, keyBits: 128 });
    assert.equal(stored.applied.lifetimeSeconds, 60);

    assert.equal((await run(['policy', 'add', 'default', '*', '*', '--esp', 'chacha20poly1305', ...api])).status, 0);

    const list = await run(['policy', 'list', ...api]);
    assert.equal(list.status, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+A\s+B\s+FLOW\s+ESP\s+MODE\s+LIFETIME\s+ESN\s+ID$/);
    assert.match(lines[1]!, /^berlin-paris\s+192\.0\.2\.1\s+2001:db8::7\s+any\s+aes256gcm16\s+tunnel\s+3600s\s+off\s+[0-9a-f]{16}$/);
    assert.match(lines[2]!, /^default\s+\*\s+\*\s+any\s+chacha20poly1305\s+tunnel/);
    assert.match(lines[3]!, /^web\s+192\.0\.2\.1\s+\*\s+tcp\/443\s+aes128-sha256\s+transport\s+60s\s+on/);
    const json = await run(['policy', 'list', '--json', ...api]);
    assert.deepEqual((JSON.parse(json.stdout) as { policies: { name: string }[] }).policies.map((x) => x.name), ['berlin-paris', 'default', 'web']);

    const rm = await run(['policy', 'rm', 'web', ...api]);
    assert.equal(rm.status, 0, rm.stderr);
    assert.match(rm.stdout, /^removed policy web /);
    const rmJson = await run(['policy', 'rm', (await t.store.listPolicies()).find((x) => x.name === 'default')!.id, '--json', ...api]);
    assert.equal(rmJson.status, 0, rmJson.stderr);
    assert.equal((JSON.parse(rmJson.stdout) as { policy: { name: string } }).policy.name, 'default');
    assert.deepEqual((await t.store.listPolicies()).map((x) => x.name), ['berlin-paris']);
    const empty = await run(['policy', 'rm', 'berlin-paris', ...api]);
    assert.equal(empty.status, 0);
    assert.match((await run(['policy', 'list', ...api])).stdout, /^no policies/);
  }),
);

test(
  'bad input exits 2 with the API message naming the field; conflicts and unknown names exit 2',
  withApi(async (t, api) => {
    const cases: [string[], RegExp][] = [
      [['policy', 'add', 'bad name', '10.0.0.1', '10.0.0.2'], /name/],
      [['policy', 'add', 'p', '10.0.0.300', '10.0.0.2'], /\ba: /],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.1'], /\bb: /],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--esp', 'des-md5'], /esp: .*des/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--esp', 'aes128'], /esp: .*integrity/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--mode', 'beet'], /mode/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--lifetime', '0'], /lifetimeSeconds/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--lifetime', 'soon'], /lifetimeSeconds/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--protocol', 'icmp', '--port', '80'], /flow\.port/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--protocol', 'bogus'], /flow\.protocol/],
      [['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', '--port', '80'], /--port needs --protocol/],
      [['policy', 'rm', 'nobody'], /no policy named/],
      [['policy', 'add', 'p'], /missing required argument/],
    ];
    for (const [args, re] of cases) {
      const r = await run([...args, ...api]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.equal((await run(['policy', 'add', 'p', '10.0.0.1', '10.0.0.2', ...api])).status, 0);
    const dup = await run(['policy', 'add', 'q', '10.0.0.2', '10.0.0.1', ...api]);
    assert.equal(dup.status, 2);
    assert.match(dup.stderr, /already covers.*store\.policy-exists/);
    assert.equal((await t.store.listPolicies()).length, 1);
  }),
);

test(
  'API options: env defaults, an unreachable API exits 1 naming the URL, token problems exit 2',
  withApi(async (t, api) => {
    // KEYPLANE_API and KEYPLANE_ADMIN_TOKEN_FILE stand in for the options.
    const viaEnv = await run(['policy', 'list', '--json'], { KEYPLANE_API: t.api.url, KEYPLANE_ADMIN_TOKEN_FILE: t.tokenFile });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    assert.deepEqual(JSON.parse(viaEnv.stdout), { policies: [] });

    const port = await deadPort();
    const down = await run(['policy', 'list', '--api', `http://127.0.0.1:${port}`, '--token-file', t.tokenFile]);
    assert.equal(down.status, 1, down.stderr);
    assert.match(down.stderr, new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${port}`));
    const downJson = await run(['policy', 'list', '--json', '--api', `http://127.0.0.1:${port}`, '--token-file', t.tokenFile]);
    assert.equal(downJson.status, 1);
    assert.equal((JSON.parse(downJson.stdout) as { code: string }).code, 'cli.api-unreachable');

    const missing = await run(['policy', 'list', '--api', t.api.url, '--token-file', join(t.dir, 'nope.token')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nope\.token does not exist/);

    // A well-formed token that is not the controller's: refused by the API, exit 2.
    const other = join(t.dir, 'other.token');
    writeFileSync(other, `${Buffer.alloc(32, 7).toString('base64url')}\n`, { mode: 0o600 });
    const wrong = await run(['policy', 'list', '--api', t.api.url, '--token-file', other]);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /refused the admin token/);
    assert.ok(!wrong.stderr.includes(Buffer.alloc(32, 7).toString('base64url')), 'the token is not printed');

    chmodSync(other, 0o644);
    const open = await run(['policy', 'list', '--api', t.api.url, '--token-file', other]);
    assert.equal(open.status, 2);
    assert.match(open.stderr, /chmod 600/);

    const badUrl = await run(['policy', 'list', '--api', 'ftp://x', '--token-file', t.tokenFile]);
    assert.equal(badUrl.status, 2);
    assert.match(badUrl.stderr, /--api must be an http/);
    assert.equal((await run(['policy', 'list', ...api])).status, 0);
  }),
);
