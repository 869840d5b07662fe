// `keyplane device add|list|revoke|rm|addresses` in API mode (the default) against a real
// admin API, and the mode rules: --store selects local-store mode, which also takes
// --address and `device addresses`; mixing the two modes' options is a usage error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseEnrollmentToken } from '../../src/store/enrollment-token.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
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

interface DeviceJson {
  id: string;
  name: string;
  status: string;
  addresses: string[];
}

test(
  'API mode: add with --address prints a working token; list, addresses, revoke and rm go through the API',
  withApi(async (t, api) => {
    const add = await run(['device', 'add', 'gw-berlin', '--address', '192.0.2.1', '--address', '2001:DB8::1', ...api]);
    assert.equal(add.status, 0, add.stderr);
    const token = add.stdout.trim();
    assert.equal(add.stdout, `${token}\n`, 'stdout holds the token alone');
    assert.match(add.stderr, /added device gw-berlin .*addresses 192\.0\.2\.1, 2001:db8::1/);
    assert.ok(!add.stderr.includes(token));
    const e = parseEnrollmentToken(token);
    const stored = await t.store.getDeviceByName('gw-berlin');
    assert.deepEqual(stored?.addresses, ['192.0.2.1', '2001:db8::1']);
    assert.deepEqual(Buffer.from(e.initKey), Buffer.from(await t.store.initKey(e.deviceId)));
    assert.deepEqual(e.controller, { address: '192.0.2.10', port: 4501, identity: await t.store.controllerId() }, "the controller's own contact");

    const add2 = await run(['device', 'add', 'pc1', '--variant', 'spi', '--no-forward-secrecy', '--controller-address', 'ctl.example.net', '--controller-port', '4600', '--json', ...api]);
    assert.equal(add2.status, 0, add2.stderr);
    const a2 = JSON.parse(add2.stdout) as { device: DeviceJson; token: string };
    const e2 = parseEnrollmentToken(a2.token);
    assert.deepEqual([a2.device.name, e2.variant, e2.forwardSecrecy, e2.controller.address, e2.controller.port], ['pc1', 'spi', false, 'ctl.example.net', 4600]);

    const list = await run(['device', 'list', ...api]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+ID\s+STATUS\s+ADDRESSES\s+INIT-SPI/);
    assert.match(list.stdout, /gw-berlin\s+[0-9a-f]{16}\s+active\s+192\.0\.2\.1,2001:db8::1\s+0x[0-9a-f]{8}/);
    assert.match(list.stdout, /pc1\s+[0-9a-f]{16}\s+active\s+-\s+/);
    const listJson = JSON.parse((await run(['device', 'list', '--json', ...api])).stdout) as { devices: DeviceJson[] };
    assert.deepEqual(listJson.devices.map((d) => [d.name, d.addresses]), [['gw-berlin', ['192.0.2.1', '2001:db8::1']], ['pc1', []]]);
    assert.ok(!JSON.stringify(listJson).includes(Buffer.from(e.initKey).toString('base64url')));

    const set = await run(['device', 'addresses', 'pc1', '10.1.0.1', '10.1.0.2', ...api]);
    assert.equal(set.status, 0, set.stderr);
    assert.match(set.stdout, /device pc1 .* now has addresses 10\.1\.0\.1, 10\.1\.0\.2/);
    const taken = await run(['device', 'addresses', 'pc1', '192.0.2.1', ...api]);
    assert.equal(taken.status, 2);
    assert.match(taken.stderr, /192\.0\.2\.1 already belongs to device gw-berlin/);
    const bad = await run(['device', 'addresses', 'pc1', 'ten', ...api]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /addresses\[0\]/);
    assert.equal((await run(['device', 'addresses', 'pc1', ...api])).status, 2, 'no addresses and no --clear');
    const clear = await run(['device', 'addresses', 'pc1', '--clear', '--json', ...api]);
    assert.equal(clear.status, 0, clear.stderr);
    assert.deepEqual((JSON.parse(clear.stdout) as { device: DeviceJson }).device.addresses, []);

    const rev = await run(['device', 'revoke', 'pc1', ...api]);
    assert.equal(rev.status, 0, rev.stderr);
    assert.match(rev.stdout, /^revoked device pc1/);
    assert.match((await run(['device', 'revoke', 'pc1', ...api])).stdout, /already revoked/);
    assert.equal((await t.store.getDeviceByName('pc1'))?.revokedAtMs !== null, true);
    const rm = await run(['device', 'rm', 'pc1', '--json', ...api]);
    assert.equal(rm.status, 0, rm.stderr);
    assert.deepEqual(JSON.parse(rm.stdout).removed, true);
    assert.equal(await t.store.getDeviceByName('pc1'), undefined);

    for (const args of [
      ['device', 'rm', 'pc1'],
      ['device', 'revoke', 'nobody'],
      ['device', 'add', 'gw-berlin'],
      ['device', 'add', 'x', '--address', '192.0.2.1'],
      ['device', 'add', 'bad name'],
      ['device', 'add', 'x', '--address', '10.0.0.300'],
      ['device', 'add', 'x', '--controller-port', '0'],
    ]) {
      const r = await run([...args, ...api]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
    // add, add, addresses, addresses(clear), revoke, rm
    assert.equal(t.changes, 6);
  }),
);

test(
  'modes: --store is local-store mode (with --address and addresses too); mixed options exit 2; a dead API exits 1',
  withApi(async (t, api) => {
    const db = join(t.dir, 'local/controller.db');
    const store = ['--store', db, '--master-key', join(t.dir, 'local/master.key')];
    const add = await run(['device', 'add', 'local-gw', '--address', '10.5.0.1', '--controller-address', '192.0.2.99', ...store]);
    assert.equal(add.status, 0, add.stderr);
    assert.equal(parseEnrollmentToken(add.stdout.trim()).controller.address, '192.0.2.99');
    assert.equal((await run(['device', 'addresses', 'local-gw', '10.5.0.2', '10.5.0.1', ...store])).status, 0);
    const list = JSON.parse((await run(['device', 'list', '--json', ...store])).stdout) as { devices: DeviceJson[] };
    assert.deepEqual(list.devices.map((d) => [d.name, d.addresses]), [['local-gw', ['10.5.0.2', '10.5.0.1']]]);
    const s = openSqliteStore({ path: db, masterKeyFile: join(t.dir, 'local/master.key'), create: false });
    assert.deepEqual((await s.getDeviceByName('local-gw'))?.addresses, ['10.5.0.2', '10.5.0.1']);
    await s.close();
    assert.equal(await t.store.getDeviceByName('local-gw'), undefined, 'the API store was not used');
    assert.equal(t.changes, 0);

    for (const args of [
      ['device', 'list', ...store, '--api', t.api.url],
      ['device', 'list', ...store, '--token-file', t.tokenFile],
      ['device', 'list', '--master-key', join(t.dir, 'local/master.key'), ...api],
    ]) {
      const r = await run(args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, /local-store mode/);
    }

    const gone = await run(['device', 'list', '--api', 'http://127.0.0.1:9', '--token-file', t.tokenFile]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:9/);
  }),
);
