// The controller and agent shells (src/controller/keyroll-server.ts,
// src/agent/keyroll-client.ts) in one process over real UDP on loopback, with the
// in-memory store: write-ahead against a failing store, devices enrolled and revoked
// while the controller runs, restarts of either end on their stored state. The real
// processes are tested in processes.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyrollServer } from '../../src/controller/keyroll-server.js';
import { KeyrollClient } from '../../src/agent/keyroll-client.js';
import type { DeviceRecord } from '../../src/store/types.js';
import { MemoryStore } from './memory-store.js';
import { assertSameKeys, MemoryLog, sleep, tempDir, waitFor } from './helpers.js';

const dir = tempDir();
const running = new Set<{ stop(): Promise<void> }>();
after(async () => {
  for (const r of running) await r.stop();
  dir.remove();
});

const FAST_SENDER = { rotationPeriodMs: 300, minRotationIntervalMs: 100 };
const FAST_RECEIVER = { registrationIntervalMs: 100, replyTimeoutMs: 400, maxResends: 3 };

async function startServer(store: MemoryStore, port = 0, log = new MemoryLog()): Promise<{ server: KeyrollServer; log: MemoryLog }> {
  const server = await KeyrollServer.start({ store, listen: { address: '127.0.0.1', port }, sender: FAST_SENDER, refreshIntervalMs: 200, log });
  running.add(server);
  return { server, log };
}

async function enroll(store: MemoryStore, name: string): Promise<{ record: DeviceRecord; initKey: Buffer }> {
  const initKey = randomBytes(32);
  const record = await store.addDevice({ name, variant: 'spi', forwardSecrecy: true }, initKey, Date.now());
  return { record, initKey };
}

async function startAgent(server: KeyrollServer, dev: { record: DeviceRecord; initKey: Buffer }, statePath: string): Promise<{ agent: KeyrollClient; log: MemoryLog }> {
  const log = new MemoryLog();
  const r = dev.record;
  const agent = await KeyrollClient.start({
    params: { deviceId: r.id, initKey: dev.initKey, initSpi: r.initSpi, variant: r.variant, forwardSecrecy: r.forwardSecrecy },
    controller: { address: '127.0.0.1', port: server.local.port },
    statePath,
    receiver: FAST_RECEIVER,
    log,
  });
  running.add(agent);
  return { agent, log };
}

function device(server: KeyrollServer, id: string) {
  const d = server.status().devices.find((x) => x.id === id);
  assert.ok(d, `controller serves ${id}`);
  return d;
}

async function stop(x: KeyrollServer | KeyrollClient): Promise<void> {
  await x.stop();
  running.delete(x);
}

test('initialisation and rotations; the same keys on both ends; state stored write-ahead', async () => {
  const store = new MemoryStore();
  const dev = await enroll(store, 'alpha');
  const { server } = await startServer(store);
  const statePath = join(dir.path, 'alpha', 'state.json');
  const { agent, log } = await startAgent(server, dev, statePath);
  await waitFor('4 generations', () => agent.status().generation >= 4);
  const a = agent.status();
  assertSameKeys(a, device(server, dev.record.id));
  assert.equal(a.installs.init, 1);
  assert.ok(a.installs.rotation >= 3);
  assert.equal(log.grep(/event=installed .*kind=rotation/).length, a.installs.rotation);
  // Every key the agent holds is in the store: the save came before the distribution.
  const stored = await store.loadChannelState(dev.record.id);
  assert.ok(stored?.latest && stored.latest.generation >= a.generation);
  // The state file is private.
  assert.equal(statSync(statePath).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir.path, 'alpha')).mode & 0o777, 0o700);
  // Nothing was dropped on either side.
  const c = server.status().counters;
  for (const k of ['keyroll.drop.auth', 'keyroll.drop.replay', 'keyroll.drop.unknown-spi']) assert.equal(c[k] ?? 0, 0, k);
  await stop(agent);
});

test('a failed save holds back what follows it until a save succeeds', async () => {
  const store = new MemoryStore();
  const dev = await enroll(store, 'bravo');
  const { server } = await startServer(store);
  const { agent } = await startAgent(server, dev, join(dir.path, 'bravo.json'));
  await waitFor('2 generations', () => agent.status().generation >= 2);
  store.failSaves = true;
  await waitFor('a failed save', () => (server.status().counters['controller.store.save-failed'] ?? 0) > 0);
  // While saves fail, the agent never gets a key the store does not hold.
  for (let i = 0; i < 10; i++) {
    const stored = await store.loadChannelState(dev.record.id);
    assert.ok(stored?.latest && stored.latest.generation >= agent.status().generation, 'agent ahead of the store');
    await sleep(60);
  }
  assert.ok((server.status().counters['controller.drop.not-durable'] ?? 0) > 0, 'held-back sends are counted');
  assert.equal(device(server, dev.record.id).storeDirty, true);
  const stuckAt = agent.status().generation;
  store.failSaves = false;
  await waitFor('rotations again', () => agent.status().generation >= stuckAt + 2);
  assert.equal(device(server, dev.record.id).storeDirty, false);
  assertSameKeys(agent.status(), device(server, dev.record.id));
  await stop(agent);
});

test('devices enrolled and revoked while the controller runs', async () => {
  const store = new MemoryStore();
  const { server, log } = await startServer(store);
  assert.equal(server.status().devices.length, 0);
  const dev = await enroll(store, 'charlie');
  const { agent } = await startAgent(server, dev, join(dir.path, 'charlie.json'));
  await waitFor('picked up and initialised', () => agent.status().generation >= 2);
  assert.equal(log.grep(/device-loaded device=/).length, 1);

  // Its first init request may have arrived before a refresh: an unknown device then.
  const unknownBefore = server.status().counters['controller.drop.unknown-device'] ?? 0;
  await store.revokeDevice(dev.record.id, Date.now());
  await waitFor('refused', () => server.status().revoked.length === 1);
  assert.equal(server.status().devices.length, 0);
  const genAtRevoke = agent.status().generation;
  await waitFor('packets refused', () => (server.status().revoked[0]?.refused ?? 0) >= 3);
  await sleep(600);
  const s = server.status();
  assert.ok((s.counters['controller.drop.revoked'] ?? 0) >= 3);
  assert.equal(s.counters['controller.drop.unknown-device'] ?? 0, unknownBefore, 'counted as revoked, not unknown');
  // No key for it any more: the agent got at most the rotation already in flight.
  assert.ok(agent.status().generation <= genAtRevoke + 1);
  const timeouts = Object.entries(agent.status().counters).filter(([k]) => k.startsWith('keyroll.timeout.')).reduce((n, [, v]) => n + v, 0);
  assert.ok(timeouts > 0, 'the agent is no longer answered');
  await stop(agent);
});

test('controller restart on the same store: keys survive, no re-initialisation', async () => {
  const store = new MemoryStore();
  const dev = await enroll(store, 'delta');
  const first = await startServer(store);
  const port = first.server.local.port;
  const { agent } = await startAgent(first.server, dev, join(dir.path, 'delta.json'));
  await waitFor('3 generations', () => agent.status().generation >= 3);
  await stop(first.server);
  const before = agent.status();
  const second = await startServer(store, port);
  assert.equal(device(second.server, dev.record.id).generation >= before.generation, true, 'keys loaded from the store');
  await waitFor('rotations continue', () => agent.status().generation >= before.generation + 3);
  const a = agent.status();
  assert.equal(a.installs.init, 1, 'never initialised again');
  assert.equal(a.counters['keyroll.init.timeouts'] ?? 0, 0);
  assertSameKeys(a, device(second.server, dev.record.id));
  await stop(agent);
});

test('agent restart on its state file continues the channel without initialisation', async () => {
  const store = new MemoryStore();
  const dev = await enroll(store, 'echo');
  const { server } = await startServer(store);
  const statePath = join(dir.path, 'echo.json');
  const first = await startAgent(server, dev, statePath);
  await waitFor('3 generations', () => first.agent.status().generation >= 3);
  await stop(first.agent);
  const gen = first.agent.status().generation;
  const second = await startAgent(server, dev, statePath);
  assert.equal(second.agent.status().generation, gen, 'keys restored from the state file');
  await waitFor('rotations continue', () => second.agent.status().generation >= gen + 3);
  const a = second.agent.status();
  assert.equal(a.installs.init, 0, 'no initialisation in the new life');
  assert.equal(device(server, dev.record.id).initialisations, 1);
  assertSameKeys(a, device(server, dev.record.id));
  await stop(second.agent);
});
