// The seed-000 settings service on the real control channel (UDP on loopback, one
// process): a controller (KeyrollServer + SettingsService, in-memory store) and agents
// (KeyrollClient) that send settings items by hand. Shows the service end to end at the
// message level, and what it does with malformed and unauthorised control messages:
// refused or dropped and counted, nothing distributed, the controller keeps serving.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KeyrollServer } from '../../src/controller/keyroll-server.js';
import { SettingsService } from '../../src/controller/settings-service.js';
import { KeyrollClient } from '../../src/agent/keyroll-client.js';
import { encodeSettingsItem, readSettingsItems, type SettingsMessage } from '../../src/wire/control-settings.js';
import { ControlItemType } from '../../src/wire/control-types.js';
import type { ControlItem } from '../../src/wire/control-message.js';
import type { DeviceRecord } from '../../src/store/types.js';
import { MemoryStore } from './memory-store.js';
import { MemoryLog, tempDir, waitFor } from './helpers.js';

const dir = tempDir();
const running: { stop(): Promise<void> }[] = [];
after(async () => {
  for (const r of running.reverse()) await r.stop();
  dir.remove();
});

interface Agent {
  readonly client: KeyrollClient;
  readonly inbox: SettingsMessage[];
}

async function world(): Promise<{ store: MemoryStore; server: KeyrollServer; service: SettingsService; agent: (name: string, address: string) => Promise<Agent> }> {
  const store = new MemoryStore();
  const log = new MemoryLog();
  const service = new SettingsService({ store, log, now: Date.now });
  await service.start();
  const server = await KeyrollServer.start({ store, listen: { address: '127.0.0.1', port: 0 }, refreshIntervalMs: 100, log, service });
  service.setPusher(server);
  running.push(server, service);
  const agent = async (name: string, address: string): Promise<Agent> => {
    const initKey = randomBytes(32);
    const record: DeviceRecord = await store.addDevice({ name, variant: 'explicit', forwardSecrecy: false, addresses: [address] }, initKey, Date.now());
    await server.refresh();
    const inbox: SettingsMessage[] = [];
    const client = await KeyrollClient.start({
      params: { deviceId: record.id, initKey, initSpi: record.initSpi, variant: record.variant, forwardSecrecy: record.forwardSecrecy },
      controller: { address: '127.0.0.1', port: server.local.port },
      statePath: join(dir.path, `${name}.json`),
      receiver: { registrationIntervalMs: 60_000, replyTimeoutMs: 500 },
      log: new MemoryLog(),
      service: {
        knownItemType: (t) => t >= ControlItemType.SETTINGS_REQUEST && t <= ControlItemType.SETTINGS_ERROR,
        onDeliver: (items) => inbox.push(...readSettingsItems(items)),
      },
    });
    running.push(client);
    // Keyed, and the key proven (the empty registration after init), so pushes can reach it.
    await waitFor(`${name} keyed`, () => client.status().generation >= 1 && client.status().outstanding === null, 10_000, 20);
    return { client, inbox };
  };
  return { store, server, service, agent };
}

const request = (requester: string, peer: string, requestId: number, spi: number): ControlItem =>
  encodeSettingsItem({ kind: 'request', request: { requestId, requester, peer, spi, flow: null } });

test('a request and the activated peer\'s request: both ends get mirrored distributions by push', async () => {
  const { store, agent } = await world();
  await store.addPolicy({ name: 'ab', a: '192.0.2.1', b: '192.0.2.2', flow: null, applied: { protocol: 'esp', mode: 'tunnel', encryption: { id: 20, keyBits: 128 }, integrity: null, esn: false, lifetimeSeconds: 600 } }, Date.now());
  const a = await agent('a', '192.0.2.1');
  const b = await agent('b', '192.0.2.2');
  await new Promise((r) => setTimeout(r, 250)); // one policy refresh
  a.client.attach([request('192.0.2.1', '192.0.2.2', 7, 0x1111)]);
  const act = await waitFor('activation at b', () => b.inbox.find((m) => m.kind === 'activation'), 5000, 10);
  assert.equal(act.kind === 'activation' && act.activation.peer, '192.0.2.1');
  b.client.attach([request('192.0.2.2', '192.0.2.1', 9, 0x2222)]);
  const da = await waitFor('distribution at a', () => a.inbox.find((m) => m.kind === 'distribution'), 5000, 10);
  const db = await waitFor('distribution at b', () => b.inbox.find((m) => m.kind === 'distribution'), 5000, 10);
  assert.ok(da.kind === 'distribution' && db.kind === 'distribution');
  assert.equal(da.distribution.requestId, 7);
  assert.equal(db.distribution.requestId, 9);
  assert.equal(da.distribution.entryId, db.distribution.entryId);
  assert.equal(da.distribution.fromPeer.spi, 0x1111);
  assert.equal(da.distribution.toPeer.spi, 0x2222);
  assert.deepEqual(Buffer.from(da.distribution.toPeer.encryptionKey), Buffer.from(db.distribution.fromPeer.encryptionKey));
  assert.deepEqual(Buffer.from(da.distribution.fromPeer.encryptionKey), Buffer.from(db.distribution.toPeer.encryptionKey));
  assert.equal(da.distribution.toPeer.encryptionKey.length, 20); // AES-128 + 4-byte salt (RFC 4106 §8.1)
  const stored = await store.listEntries();
  assert.equal(stored.length, 1);
  assert.ok(stored[0]!.params !== null, 'the entry was stored with its keys before they were sent');
});

test('unauthorised: a device asking as another device\'s address is refused; no keys leave', async () => {
  const { store, service, agent } = await world();
  await store.addPolicy({ name: 'any', a: '*', b: '*', flow: null, applied: { protocol: 'esp', mode: 'tunnel', encryption: { id: 20, keyBits: 256 }, integrity: null, esn: false, lifetimeSeconds: 600 } }, Date.now());
  const mallory = await agent('mallory', '192.0.2.66');
  const victim = await agent('victim', '192.0.2.1');
  await agent('peer', '192.0.2.2');
  await new Promise((r) => setTimeout(r, 250));
  mallory.client.attach([request('192.0.2.1', '192.0.2.2', 1, 0x3333)]); // claims the victim's address
  const err = await waitFor('error at mallory', () => mallory.inbox.find((m) => m.kind === 'error'), 5000, 10);
  assert.ok(err.kind === 'error');
  assert.equal(err.error.kind, 'refused');
  // A request for itself as peer is refused too.
  await waitFor('channel idle', () => mallory.client.status().outstanding === null, 5000, 10);
  mallory.client.attach([request('192.0.2.66', '192.0.2.66', 3, 0x4444)]);
  await waitFor('two refusals', () => mallory.inbox.filter((m) => m.kind === 'error' && m.error.kind === 'refused').length >= 2, 5000, 10);
  // A reserved SPI (RFC 4303 §2.1) does not even decode: dropped and counted. (The encoder
  // refuses it, so it is written into a valid item's bytes.)
  await waitFor('channel idle', () => mallory.client.status().outstanding === null, 5000, 10);
  const reserved = request('192.0.2.66', '192.0.2.2', 2, 0x00aa_bbcc);
  const bytes = Buffer.from(reserved.value);
  const at = bytes.indexOf(Buffer.of(0x00, 0xaa, 0xbb, 0xcc));
  assert.ok(at > 0);
  bytes.writeUInt32BE(17, at);
  mallory.client.attach([{ ...reserved, value: bytes }]);
  await waitFor('reserved SPI dropped', () => (service.status().counters['settings.drop.decode'] ?? 0) >= 1, 5000, 10);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(mallory.inbox.filter((m) => m.kind === 'distribution').length, 0);
  assert.equal(victim.inbox.length, 0, 'the victim was never activated on mallory\'s behalf');
  assert.equal((await store.listEntries()).length, 0);
  const c = service.status().counters;
  assert.ok((c['settings.drop.not-owner'] ?? 0) >= 1, JSON.stringify(c));
});

test('malformed settings items are dropped and counted; the controller keeps serving', async () => {
  const { service, agent } = await world();
  const a = await agent('a', '192.0.2.1');
  const good = request('192.0.2.1', '192.0.2.2', 5, 0x5555);
  const broken: ControlItem[] = [
    { type: ControlItemType.SETTINGS_REQUEST, critical: true, value: good.value.subarray(0, 5) }, // truncated
    { type: ControlItemType.SETTINGS_REQUEST, critical: true, value: Buffer.concat([good.value, Buffer.of(0)]) }, // trailing byte
    { type: ControlItemType.SETTINGS_REQUEST, critical: true, value: randomBytes(40) },
  ];
  // One registration at a time: each carries one broken item (a message with any broken
  // settings item is dropped as a whole).
  for (const [i, item] of broken.entries()) {
    a.client.attach([item]);
    await waitFor(`drop ${i + 1} counted`, () => (service.status().counters['settings.drop.decode'] ?? 0) >= i + 1, 5000, 10);
    await waitFor('channel idle', () => a.client.status().outstanding === null, 5000, 10);
  }
  // Still serving: a well-formed request from the same device gets its answer (no policy).
  a.client.attach([good]);
  const err = await waitFor('answer', () => a.inbox.find((m) => m.kind === 'error'), 5000, 10);
  assert.ok(err.kind === 'error' && err.error.kind === 'refused' || err.kind === 'error' && err.error.kind === 'no-policy');
});

test('pushes to a device not heard from since a controller restart wait for its next packet', async () => {
  const { store, server, agent } = await world();
  const a = await agent('a', '192.0.2.1');
  const port = server.local.port;
  await server.stop();
  const log = new MemoryLog();
  const again = await KeyrollServer.start({ store, listen: { address: '127.0.0.1', port }, refreshIntervalMs: 100, log });
  running.push(again);
  const id = (await store.getDeviceByName('a'))!.id;
  const activation = encodeSettingsItem({ kind: 'activation', activation: { peer: '192.0.2.9', flow: null } });
  assert.equal(again.push(id, [activation]), false, 'no address yet: held');
  assert.equal(again.counters.get('controller.push.held'), 1);
  assert.equal(a.inbox.length, 0);
  a.client.attach([]); // the agent's next registration
  const got = await waitFor('held push delivered', () => a.inbox.find((m) => m.kind === 'activation'), 5000, 10);
  assert.ok(got.kind === 'activation' && got.activation.peer === '192.0.2.9');
  assert.equal(again.counters.get('controller.push.held-sent'), 1);
});
