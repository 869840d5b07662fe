// Kernel routes of the userspace data plane (src/dataplane/routes.ts) against the real
// `ip` in a fresh namespace: ranges become the exact prefixes, shared prefixes are
// reference-counted, a range covering the peer's own address gets a host-route exception
// via the peer's current path, and everything is removed again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRouteTable, runIp } from '../../src/dataplane/routes.js';
import type { Policy } from '../../src/ipsec/types.js';
import { openTun, type TunDevice } from '../../src/io/tun.js';
import { canRunNetns, createNetnsPair, OUTER, run, type NetnsPair } from './netns-harness.js';

const skip = canRunNetns();
let pair: NetnsPair;
let tun: TunDevice;

before(async () => {
  if (skip) return;
  pair = await createNetnsPair();
  tun = openTun({ name: `kpr${process.pid % 100000}` });
  // The device is created here and moved into namespace A; its routes live there.
  await run('ip', ['link', 'set', tun.name, 'netns', pair.a]);
  await run('ip', ['-n', pair.a, 'link', 'set', tun.name, 'up']);
});

after(async () => {
  tun?.close();
  await pair?.destroy();
});

const protect = (id: string, start: string, end: string, remoteTunnel: string = OUTER.b.v4): Policy => ({
  id,
  priority: 10,
  selector: { remote: { start, end } },
  action: 'protect',
  protect: { mode: 'tunnel', remoteTunnel },
});

async function routesVia(dev: string, family: 4 | 6 = 4): Promise<string[]> {
  const { stdout } = await pair.exec(pair.a, 'ip', [`-${family}`, 'route', 'show']);
  return stdout
    .split('\n')
    .filter((l) => l.includes(`dev ${dev}`) && !l.startsWith('fe80:')) // not the link-local route
    .map((l) => l.split(' ')[0]!)
    .sort();
}

test('ranges become prefixes via the device; shared prefixes are reference-counted', { skip }, async () => {
  const table = createRouteTable(tun.name, (args) => runIp(['-n', pair.a, ...args]));
  // 10.9.0.0-10.9.0.5 = 10.9.0.0/30 + 10.9.0.4/31 (no larger aligned block fits).
  await table.addPolicy(protect('p1', '10.9.0.0', '10.9.0.5'));
  await table.addPolicy(protect('p2', '10.9.0.4', '10.9.0.5'));
  await table.addPolicy({ id: 'b', priority: 1, selector: {}, action: 'bypass' }); // no route
  assert.deepEqual(await routesVia(tun.name), ['10.9.0.0/30', '10.9.0.4/31']);
  await table.removePolicy('p1');
  assert.deepEqual(await routesVia(tun.name), ['10.9.0.4/31']);
  await table.removePolicy('p2');
  assert.deepEqual(await routesVia(tun.name), []);
  await table.close();
});

test('IPv6 ranges work the same way', { skip }, async () => {
  const table = createRouteTable(tun.name, (args) => runIp(['-n', pair.a, ...args]));
  await table.addPolicy(protect('v6', 'fd00:9::', 'fd00:9::ffff:ffff:ffff:ffff', OUTER.b.v6));
  assert.deepEqual(await routesVia(tun.name, 6), ['fd00:9::/64']);
  await table.close();
  assert.deepEqual(await routesVia(tun.name, 6), []);
});

test('a range covering the peer keeps the peer on its current path (no loop)', { skip }, async () => {
  const table = createRouteTable(tun.name, (args) => runIp(['-n', pair.a, ...args]));
  // 192.0.2.0/24 is the veth subnet; the peer 192.0.2.2 is inside it.
  await table.addPolicy(protect('all', '192.0.2.0', '192.0.2.255'));
  const get = await pair.exec(pair.a, 'ip', ['route', 'get', OUTER.b.v4]);
  assert.match(get.stdout, new RegExp(`dev ${pair.vethA}`));
  const other = await pair.exec(pair.a, 'ip', ['route', 'get', '192.0.2.77']);
  assert.match(other.stdout, new RegExp(`dev ${tun.name}`));
  await table.close();
  const { stdout } = await pair.exec(pair.a, 'ip', ['route', 'show']);
  assert.doesNotMatch(stdout, /192\.0\.2\.2 /);
  assert.doesNotMatch(stdout, new RegExp(tun.name));
});

test('a failing `ip` rejects addPolicy with an IoError and leaves nothing behind', { skip }, async () => {
  const table = createRouteTable('kp-no-such-dev', (args) => runIp(['-n', pair.a, ...args]));
  await assert.rejects(table.addPolicy(protect('x', '10.8.0.0', '10.8.0.255')), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'route');
    assert.match((e as Error).message, /route replace 10\.8\.0\.0\/24 dev kp-no-such-dev/);
    return true;
  });
  assert.deepEqual(table.list(), []);
});
