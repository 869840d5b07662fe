// The controller and two agents as real processes on loopback, set up as an operator
// would: `device add` on the controller's store (SQLite), `agent enroll` with the printed
// token, `controller run`, `agent run`; observed only through `status --json`.
//   gw1: SPI-inferred variant with forward secrecy, behind a relay in this process (so the
//        test can replay and tamper with its real packets);
//   gw2: explicit variant without forward secrecy, straight to the controller's address
//        from its enrollment.
// Short timers (rotation every 0.3 s, registration every 0.1 s) make the flows visible
// in seconds. The tests run in order and share the processes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ControllerStatus, DeviceStatus } from '../../src/controller/status.js';
import type { AgentStatus } from '../../src/agent/keyroll-status.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { defaultReceiverOptions } from '../../src/keyroll/params.js';
import { assertSameKeys, sleep, tempDir, waitFor } from './helpers.js';
import { freeUdpPort, keyplane, kill, killAll, startKeyplane, statusDirect, statusJson, type Proc } from './procs.js';
import { startRelay, type Relay } from './relay.js';

const dir = tempDir();
const path = (name: string): string => join(dir.path, name);
const STORE = ['--store', path('controller.db'), '--master-key', path('master.key')];
let port = 0;
let relay: Relay;
let controller: Proc;
const agents: Record<'gw1' | 'gw2', Proc | undefined> = { gw1: undefined, gw2: undefined };

function startController(): Proc {
  return startKeyplane([
    'controller', 'run', ...STORE,
    '--listen', `127.0.0.1:${port}`,
    '--rotation-seconds', '0.3',
    '--min-rotation-seconds', '0.1',
    '--refresh-seconds', '0.2',
    '--admin-listen', 'off', // no admin API (and no token file under /var/lib) in this test
    '--control-socket', path('controller.sock'),
  ]);
}

function startAgent(name: 'gw1' | 'gw2'): Proc {
  return startKeyplane([
    'agent', 'run',
    '--file', path(`${name}.enrollment.json`),
    '--state', path(`${name}/state.json`),
    ...(name === 'gw1' ? ['--controller', `127.0.0.1:${relay.port}`] : []),
    '--registration-seconds', '0.1',
    '--reply-timeout-seconds', '0.4',
    // Generous, so a controller restart (node start-up on a busy machine) is waited out
    // with resends and never needs an initialisation.
    '--max-resends', '20',
    '--control-socket', path(`${name}.sock`),
  ]);
}

// Polled through the control sockets; the first test also checks the CLI prints the same.
const controllerStatus = (): Promise<ControllerStatus> => statusDirect<ControllerStatus>(path('controller.sock'));
const agentStatus = (name: 'gw1' | 'gw2'): Promise<AgentStatus> => statusDirect<AgentStatus>(path(`${name}.sock`));

async function deviceStatus(name: string): Promise<DeviceStatus> {
  const d = (await controllerStatus()).devices.find((x) => x.name === name);
  assert.ok(d, `controller serves ${name}`);
  return d;
}

// Agent first, then the controller (assertSameKeys explains why that order).
async function checkSameKeys(name: 'gw1' | 'gw2'): Promise<AgentStatus> {
  const a = await agentStatus(name);
  assertSameKeys(a, await deviceStatus(name));
  return a;
}

before(async () => {
  port = await freeUdpPort();
  relay = await startRelay({ address: '127.0.0.1', port });
  for (const [name, extra] of [
    ['gw1', ['--variant', 'spi']],
    ['gw2', ['--variant', 'explicit', '--no-forward-secrecy']],
  ] as const) {
    const add = await keyplane(['device', 'add', name, ...STORE, '--controller-address', '127.0.0.1', '--controller-port', String(port), ...extra]);
    assert.equal(add.code, 0, add.stderr);
    const token = add.stdout.trim();
    assert.match(token, /^kp1\./);
    const enroll = await keyplane(['agent', 'enroll', token, '--file', path(`${name}.enrollment.json`)]);
    assert.equal(enroll.code, 0, enroll.stderr);
  }
  controller = startController();
  await controller.ready;
  agents.gw1 = startAgent('gw1');
  agents.gw2 = startAgent('gw2');
  await Promise.all([agents.gw1.ready, agents.gw2.ready]);
});

after(async () => {
  await killAll();
  await relay?.close();
  dir.remove();
});

test('enrolment, initialisation and rotations: both ends hold the same keys', async () => {
  for (const name of ['gw1', 'gw2'] as const) {
    await waitFor(`${name} at generation 4`, async () => (await agentStatus(name)).generation >= 4);
    // As an operator sees it: `keyplane agent|controller status --json`.
    const a = await statusJson<AgentStatus>('agent', path(`${name}.sock`));
    const d = (await statusJson<ControllerStatus>('controller', path('controller.sock'))).devices.find((x) => x.name === name);
    assert.ok(d);
    assertSameKeys(a, d);
    assert.equal(a.installs.init, 1, 'one initialisation');
    assert.ok(a.installs.rotation >= 3);
    assert.equal(a.initPending, false);
  }
  const c = await controllerStatus();
  for (const d of c.devices) {
    assert.equal(d.initialisations, 1);
    assert.ok(d.rotations >= 3);
    assert.ok(d.lastSeenAt !== null);
  }
  // gw1 talks through the relay: the controller answers the address it heard from.
  assert.equal(c.devices.find((d) => d.name === 'gw1')?.lastAddress?.startsWith('127.0.0.1:'), true);
  assert.equal(statSync(path('gw1/state.json')).mode & 0o777, 0o600);
  for (const k of ['keyroll.drop.auth', 'keyroll.drop.replay', 'keyroll.drop.unknown-spi', 'controller.drop.unknown-device']) assert.equal(c.counters[k] ?? 0, 0, k);
});

function flip(packet: Buffer, index: number): Buffer {
  const copy = Buffer.from(packet);
  copy[index]! ^= 0x01;
  return copy;
}

async function sendRaw(packets: readonly Buffer[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  for (const p of packets) await new Promise<void>((resolve) => s.send(p, port, '127.0.0.1', () => resolve()));
  await sleep(100);
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

// An init request of another channel (its own device, key and init SPI), made by a real
// key receiver.
function foreignInitRequest(initSpi: number): Buffer {
  const r = new KeyReceiver(
    { deviceId: 'stranger', initKey: randomBytes(32), initSpi, variant: 'spi', forwardSecrecy: false },
    defaultReceiverOptions(),
    Date.now(),
  );
  const out = r.handle({ type: 'tick' }, Date.now()).find((o) => o.type === 'send');
  assert.ok(out?.type === 'send');
  return Buffer.from(out.bytes);
}

test('tampered, replayed and foreign packets are dropped and counted; the channel goes on', async () => {
  const before = await controllerStatus();
  const agentBefore = await agentStatus('gw1');
  const list = JSON.parse((await keyplane(['device', 'list', '--json', ...STORE])).stdout) as { devices: { name: string; initSpi: string }[] };
  const gw1Init = Number.parseInt(list.devices.find((d) => d.name === 'gw1')!.initSpi, 16);

  // Tampered in flight: the agent's next packet arrives three times with one bit flipped
  // (ciphertext, IV, ICV), then intact. Each copy has a fresh sequence number, so it gets
  // past the replay check to the ICV check.
  await relay.interceptNext((p) => [flip(p, 20), flip(p, 10), flip(p, p.length - 1), p]);
  // Replayed: the first packet gw1 ever sent (its init request, under the init key) and
  // a registration that was delivered a moment ago.
  const initRequest = relay.fromAgent[0]!;
  const recent = relay.fromAgent[relay.fromAgent.length - 1]!;
  // Foreign: another channel's init request; one made with a different key under gw1's
  // init SPI; junk too short to be ESP; a datagram above the size limit.
  await sendRaw([recent, initRequest, foreignInitRequest(0x7000_0001), foreignInitRequest(gw1Init), Buffer.from([1, 2, 3]), randomBytes(9000)]);

  const delta = (s: ControllerStatus, k: string) => (s.counters[k] ?? 0) - (before.counters[k] ?? 0);
  const after = await waitFor('the drops counted', async () => {
    const s = await controllerStatus();
    return delta(s, 'keyroll.drop.auth') >= 4 && delta(s, 'controller.drop.oversize') >= 1 ? s : undefined;
  });
  await sleep(300);
  const s = await controllerStatus();
  assert.equal(delta(s, 'keyroll.drop.auth'), 4, 'three tampered copies, one foreign key under a known SPI');
  assert.equal(delta(s, 'keyroll.drop.replay'), 2, 'the replayed registration and init request');
  assert.equal(delta(s, 'keyroll.drop.unknown-spi'), 1, 'the foreign channel');
  assert.equal(delta(s, 'controller.drop.unknown-device'), 1);
  assert.equal(delta(s, 'keyroll.drop.decode'), 1, 'junk');
  assert.equal(delta(s, 'controller.drop.oversize'), 1);
  assert.ok(after.devices.every((d) => d.initialisations === 1), 'a replayed init request never re-initialises');

  // Unaffected: rotations go on with the same keys, no initialisation, nothing dropped at the agent.
  await waitFor('rotations go on', async () => (await agentStatus('gw1')).generation >= agentBefore.generation + 3);
  const a = await checkSameKeys('gw1');
  assert.equal(a.installs.init, 1);
  assert.equal(Object.keys(a.counters).filter((k) => k.startsWith('keyroll.drop.')).length, 0, JSON.stringify(a.counters));
});

test('a revoked device is refused: no more rotations, its packets counted', async () => {
  const r = await keyplane(['device', 'revoke', 'gw2', ...STORE]);
  assert.equal(r.code, 0, r.stderr);
  const c = await waitFor('gw2 refused', async () => {
    const s = await controllerStatus();
    return s.revoked.some((x) => x.name === 'gw2' && x.refused >= 3) ? s : undefined;
  });
  assert.equal(c.devices.some((d) => d.name === 'gw2'), false);
  const gen = (await agentStatus('gw2')).generation;
  await sleep(1000);
  const after = await controllerStatus();
  assert.ok((await agentStatus('gw2')).generation <= gen + 1, 'at most the rotation already in flight');
  assert.ok((after.counters['controller.drop.revoked'] ?? 0) > (c.counters['controller.drop.revoked'] ?? 0), 'still refused and counted');
  // gw1 is untouched.
  const g1 = (await agentStatus('gw1')).generation;
  await waitFor('gw1 rotates on', async () => (await agentStatus('gw1')).generation >= g1 + 2);
});

test('controller killed (SIGKILL) and restarted on the same store: keys survive, no re-initialisation', async () => {
  await waitFor('a few more rotations', async () => (await agentStatus('gw1')).generation >= 6);
  assert.equal(await kill(controller, 'SIGKILL'), 'SIGKILL');
  const down = await agentStatus('gw1');
  controller = startController();
  await controller.ready;
  // Write-ahead: every key the agent ever received is in the store.
  const d = await deviceStatus('gw1');
  assert.ok(d.generation >= down.generation, `store at ${d.generation}, agent at ${down.generation}`);
  assert.equal(d.initialisations, 0, 'loaded, not initialised');
  await waitFor('rotations continue', async () => (await agentStatus('gw1')).generation >= down.generation + 3);
  const a = await checkSameKeys('gw1');
  assert.equal(a.installs.init, 1, 'the agent never initialised again');
  const c = await controllerStatus();
  assert.equal(c.devices.find((x) => x.name === 'gw1')?.initialisations, 0);
  // The revocation survives the restart too.
  await waitFor('gw2 still refused', async () => ((await controllerStatus()).revoked.find((x) => x.name === 'gw2')?.refused ?? 0) > 0);
});

test('agent killed (SIGKILL) and restarted on its state file continues without initialisation', async () => {
  const before = await agentStatus('gw1');
  assert.equal(await kill(agents.gw1!, 'SIGKILL'), 'SIGKILL');
  agents.gw1 = startAgent('gw1');
  await agents.gw1.ready;
  const restarted = await agentStatus('gw1');
  assert.ok(restarted.generation >= before.generation, 'keys restored from the state file');
  assert.equal(restarted.installs.init, 0);
  await waitFor('rotations continue', async () => (await agentStatus('gw1')).generation >= restarted.generation + 3);
  const a = await checkSameKeys('gw1');
  assert.equal(a.installs.init, 0, 'no initialisation in the new life');
  assert.equal(a.counters['keyroll.init.startup'] ?? 0, 0);
  assert.equal((await deviceStatus('gw1')).initialisations, 0);
});

test('SIGTERM stops both gracefully', async () => {
  assert.equal(await kill(agents.gw1!, 'SIGTERM'), 0);
  assert.equal(await kill(controller, 'SIGTERM'), 0);
  assert.match(controller.log(), /stopped; channel state saved/);
});
