// `keyplane device add|list|revoke|rm` and `keyplane agent enroll`, run as the built
// command in a child process, against a real store and real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYPLANE, keyplane } from './cli-run.js';
import { parseEnrollmentToken } from '../../src/store/enrollment-token.js';
import { readEnrollmentFile } from '../../src/agent/enrollment-file.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { DEFAULT_CONTROL_PORT } from '../../src/io/control-udp.js';

function withDir(fn: (dir: string, storeArgs: string[]) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyplane-cli-device-'));
    try {
      await fn(dir, ['--store', join(dir, 'ctl/controller.db'), '--master-key', join(dir, 'ctl/master.key')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

interface DeviceJson {
  id: string;
  name: string;
  status: string;
  revokedAt: string | null;
  initSpi: string;
  variant: string;
  forwardSecrecy: boolean;
}

test('help lists the device and agent enroll commands with their options', () => {
  const top = keyplane(['--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /device\s+manage the devices/);
  assert.match(top.stdout, /agent\s/);
  const add = keyplane(['device', 'add', '--help']);
  assert.equal(add.status, 0);
  for (const o of ['--variant', '--no-forward-secrecy', '--store', '--master-key', '--controller-address', '--controller-port', '--json']) assert.ok(add.stdout.includes(o), o);
  for (const sub of ['list', 'revoke', 'rm']) assert.equal(keyplane(['device', sub, '--help']).status, 0, sub);
  const enroll = keyplane(['agent', 'enroll', '--help']);
  assert.equal(enroll.status, 0);
  for (const o of ['--file', '--force', '--json']) assert.ok(enroll.stdout.includes(o), o);
});

test(
  'device add prints a token that agent enroll stores with mode 0600 and reads back',
  withDir(async (dir, store) => {
    const add = keyplane(['device', 'add', 'gw-berlin', ...store, '--controller-address', '192.0.2.10', '--controller-port', '4600']);
    assert.equal(add.status, 0, add.stderr);
    const token = add.stdout.trim();
    assert.match(token, /^kp1\.[A-Za-z0-9_-]+$/);
    assert.equal(add.stdout, `${token}\n`, 'stdout holds the token alone');
    assert.ok(!add.stderr.includes(token), 'the token is not repeated in the log');
    assert.equal(statSync(join(dir, 'ctl')).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'ctl/master.key')).mode & 0o777, 0o600);

    const e = parseEnrollmentToken(token);
    assert.equal(e.name, 'gw-berlin');
    assert.deepEqual([e.variant, e.forwardSecrecy, e.controller.address, e.controller.port], ['explicit', true, '192.0.2.10', 4600]);
    // The token's init key and identity are the store's.
    const s = openSqliteStore({ path: join(dir, 'ctl/controller.db'), masterKeyFile: join(dir, 'ctl/master.key'), create: false });
    assert.deepEqual(Buffer.from(await s.initKey(e.deviceId)), Buffer.from(e.initKey));
    assert.equal(e.controller.identity, await s.controllerId());
    assert.equal((await s.getDevice(e.deviceId))?.initSpi, e.initSpi);
    await s.close();

    const file = join(dir, 'agent/agent.json');
    const enroll = keyplane(['agent', 'enroll', token, '--file', file]);
    assert.equal(enroll.status, 0, enroll.stderr);
    assert.match(enroll.stdout, /enrolled device gw-berlin/);
    assert.ok(!enroll.stdout.includes(token) && !enroll.stderr.includes(token));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const r = readEnrollmentFile(file);
    assert.deepEqual(Buffer.from(r.params.initKey), Buffer.from(e.initKey));
    assert.equal(r.params.deviceId, e.deviceId);
    assert.equal(r.params.initSpi, e.initSpi);

    // No overwrite without --force (exit 2), file unchanged; --force replaces it.
    const before = readFileSync(file, 'utf8');
    const again = keyplane(['agent', 'enroll', token, '--file', file]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /exists; pass --force/);
    assert.equal(readFileSync(file, 'utf8'), before);
    const forced = keyplane(['agent', 'enroll', token, '--file', file, '--force', '--json']);
    assert.equal(forced.status, 0, forced.stderr);
    const j = JSON.parse(forced.stdout) as Record<string, unknown>;
    assert.equal(j['deviceId'], e.deviceId);
    assert.equal(j['file'], file);
    assert.ok(!forced.stdout.includes(Buffer.from(e.initKey).toString('base64url')), 'no init key in the output');
    assert.equal(statSync(file).mode & 0o777, 0o600);

    // The token can come from stdin.
    const viaStdin = spawnSync(process.execPath, [KEYPLANE, 'agent', 'enroll', '-', '--file', join(dir, 'stdin.json')], { input: `${token}\n`, encoding: 'utf8' });
    assert.equal(viaStdin.status, 0, viaStdin.stderr);
    assert.equal(readEnrollmentFile(join(dir, 'stdin.json')).params.deviceId, e.deviceId);
  }),
);

test(
  'add --json, list, revoke and rm; a revoked device shows as revoked in list --json',
  withDir((dir, store) => {
    const add = keyplane(['device', 'add', 'pc1', '--variant', 'spi', '--no-forward-secrecy', '--controller-address', 'ctl.example.net', ...store, '--json']);
    assert.equal(add.status, 0, add.stderr);
    const a = JSON.parse(add.stdout) as { device: DeviceJson; token: string };
    assert.deepEqual([a.device.name, a.device.status, a.device.variant, a.device.forwardSecrecy], ['pc1', 'active', 'spi', false]);
    assert.match(a.device.initSpi, /^0x[0-9a-f]{8}$/);
    const t = parseEnrollmentToken(a.token);
    assert.deepEqual([t.deviceId, t.variant, t.forwardSecrecy, t.controller.address, t.controller.port], [a.device.id, 'spi', false, 'ctl.example.net', DEFAULT_CONTROL_PORT]);
    assert.equal(keyplane(['device', 'add', 'pc2', '--controller-address', '192.0.2.1', ...store]).status, 0);

    const list = (): DeviceJson[] => {
      const r = keyplane(['device', 'list', ...store, '--json']);
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { devices: DeviceJson[] }).devices;
    };
    assert.deepEqual(
      list().map((d) => [d.name, d.status]),
      [
        ['pc1', 'active'],
        ['pc2', 'active'],
      ],
    );
    assert.ok(!JSON.stringify(list()).includes(Buffer.from(t.initKey).toString('base64url')), 'list shows no keys');

    const rev = keyplane(['device', 'revoke', 'pc1', ...store]);
    assert.equal(rev.status, 0, rev.stderr);
    assert.match(rev.stdout, /revoked device pc1/);
    const pc1 = list().find((d) => d.name === 'pc1')!;
    assert.equal(pc1.status, 'revoked');
    assert.match(String(pc1.revokedAt), /^\d{4}-\d\d-\d\dT/);
    assert.equal(list().find((d) => d.name === 'pc2')!.status, 'active');
    assert.match(keyplane(['device', 'revoke', 'pc1', ...store]).stdout, /already revoked/);

    const text = keyplane(['device', 'list', ...store]);
    assert.match(text.stdout, /^NAME\s+ID\s+STATUS/);
    assert.match(text.stdout, /pc1\s+[0-9a-f]{16}\s+revoked/);

    const rm = keyplane(['device', 'rm', 'pc1', ...store]);
    assert.equal(rm.status, 0, rm.stderr);
    assert.deepEqual(
      list().map((d) => d.name),
      ['pc2'],
    );
    assert.equal(keyplane(['device', 'rm', 'pc1', ...store]).status, 2);
    assert.equal(keyplane(['device', 'revoke', 'nobody', ...store]).status, 2);
    assert.ok(existsSync(join(dir, 'ctl/controller.db')));
  }),
);

test(
  'exit 2 on bad input: names, options, duplicate names, bad tokens; exit 2 for a wrong master key',
  withDir((dir, store) => {
    const addr = ['--controller-address', '192.0.2.1'];
    for (const args of [
      ['device', 'add', 'bad name', ...addr],
      ['device', 'add', 'x'.repeat(65), ...addr],
      ['device', 'add', 'ok', '--variant', 'both', ...addr],
      ['device', 'add', 'ok', '--controller-port', '0', ...addr],
      ['device', 'add', 'ok', '--controller-port', '70000', ...addr],
      ['device', 'add', 'ok', '--controller-address', 'not an address'],
      ['device', 'add'],
      ['device', 'frobnicate'],
      ['agent', 'enroll'],
    ]) {
      const r = keyplane([...args, ...store]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'ctl/controller.db')), false, 'nothing was created by refused commands');
    assert.equal(keyplane(['device', 'add', 'gw', ...addr, ...store]).status, 0);
    const dup = keyplane(['device', 'add', 'gw', ...addr, ...store]);
    assert.equal(dup.status, 2);
    assert.match(dup.stderr, /already exists/);

    for (const token of ['hello', 'kp1.', 'kp1.!!!', `kp1.${Buffer.from('{"v":1}').toString('base64url')}`, 'kp9.abc']) {
      const r = keyplane(['agent', 'enroll', token, '--file', join(dir, 'a.json')]);
      assert.equal(r.status, 2, token);
      assert.match(r.stderr, /enrollment/);
      assert.equal(existsSync(join(dir, 'a.json')), false);
    }

    // A master key that is not the store's: refused, nothing printed on stdout.
    const other = keyplane(['keygen', '--alg', 'aes256', '--out', join(dir, 'other.key')]);
    assert.equal(other.status, 0, other.stderr);
    const wrong = keyplane(['device', 'list', '--store', join(dir, 'ctl/controller.db'), '--master-key', join(dir, 'other.key')]);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /is not the master key of the store/);
  }),
);

test(
  'device list on a store that does not exist yet lists nothing and creates nothing',
  withDir((dir, store) => {
    const r = keyplane(['device', 'list', ...store, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { devices: [] });
    assert.equal(existsSync(join(dir, 'ctl')), false);
  }),
);
