// The agent's state file (src/agent/state-file.ts): what the KeyReceiver persists comes
// back identical and makes a working receiver; the file is private and replaced
// atomically; state of another enrollment is not used; anything malformed is a
// StateFileError, never another exception; the agent moves a corrupt file aside and
// starts with an initialisation.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { channelIdentity, readStateFile, StateFileError, writeStateFile } from '../../src/agent/state-file.js';
import { KeyReceiver } from '../../src/keyroll/receiver.js';
import { KeySender } from '../../src/keyroll/sender.js';
import { defaultReceiverOptions, defaultSenderOptions } from '../../src/keyroll/params.js';
import type { ChannelParams } from '../../src/keyroll/types.js';
import { KeyrollClient } from '../../src/agent/keyroll-client.js';
import { MemoryLog, tempDir, waitFor } from './helpers.js';

const dir = tempDir();
after(() => dir.remove());

function params(forwardSecrecy = true): ChannelParams {
  return { deviceId: 'dev-1', initKey: randomBytes(32), initSpi: 0x1001, variant: 'explicit', forwardSecrecy };
}

// A receiver that went through an initialisation and one rotation with a real sender,
// so its durable state has keys, sequence reservations and (FS) a pending value.
function establishedReceiver(p: ChannelParams): { receiver: KeyReceiver; sender: KeySender } {
  const sender = new KeySender(defaultSenderOptions({ minRotationIntervalMs: 0, rotationPeriodMs: null }));
  sender.addReceiver(p, 0);
  const receiver = new KeyReceiver(p, defaultReceiverOptions({ rotationPeriodMs: 1000 }), 0);
  let now = 0;
  const exchange = () => {
    for (const o of receiver.handle({ type: 'tick' }, now)) {
      if (o.type !== 'send') continue;
      for (const r of sender.handle({ type: 'packet', bytes: o.bytes }, now)) if (r.type === 'send') receiver.handle({ type: 'packet', bytes: r.bytes }, now);
    }
    now = receiver.nextDueMs();
  };
  for (let i = 0; i < 4; i++) exchange();
  assert.ok((receiver.view().latest?.generation ?? 0) >= 2, 'initialised and rotated');
  return { receiver, sender };
}

test('round trip: the restored receiver holds the same keys and state', () => {
  for (const fs of [true, false]) {
    const p = params(fs);
    const { receiver } = establishedReceiver(p);
    const file = join(dir.path, `rt-${fs}`, 'state.json');
    const durable = receiver.durable();
    writeStateFile(file, channelIdentity(p), durable);
    const r = readStateFile(file, channelIdentity(p));
    assert.equal(r.kind, 'ok');
    assert.deepEqual(r.kind === 'ok' ? normalise(r.durable) : null, normalise(durable));
    const restored = new KeyReceiver(p, defaultReceiverOptions(), 10_000, r.kind === 'ok' ? r.durable : undefined);
    assert.deepEqual(restored.view().latest, receiver.view().latest);
    assert.deepEqual(restored.view().previous, receiver.view().previous);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir.path, `rt-${fs}`)).mode & 0o777, 0o700);
    // No temporary file left behind.
    assert.deepEqual(readdirSync(join(dir.path, `rt-${fs}`)), ['state.json']);
  }
});

// Buffers and Uint8Arrays (a restored value may be either) compare by their bytes.
function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
}

test('replacing keeps mode 0600 even over a file someone loosened; missing file is "missing"', () => {
  const p = params();
  const file = join(dir.path, 'mode', 'state.json');
  assert.deepEqual(readStateFile(file, channelIdentity(p)), { kind: 'missing' });
  const { receiver } = establishedReceiver(p);
  writeStateFile(file, channelIdentity(p), receiver.durable());
  chmodSync(file, 0o644);
  writeStateFile(file, channelIdentity(p), receiver.durable());
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('state of another enrollment is reported, not used', () => {
  const p = params();
  const file = join(dir.path, 'other.json');
  writeStateFile(file, channelIdentity(p), establishedReceiver(p).receiver.durable());
  const other = { ...p, initKey: randomBytes(32) }; // re-enrolled: same id, new init key
  const r = readStateFile(file, channelIdentity(other));
  assert.equal(r.kind, 'other-channel');
  assert.equal(readStateFile(file, channelIdentity({ ...p, deviceId: 'dev-2' })).kind, 'other-channel');
  assert.equal(readStateFile(file, channelIdentity(p)).kind, 'ok');
});

test('malformed files give StateFileError and nothing else', () => {
  const p = params();
  const file = join(dir.path, 'fuzz.json');
  writeStateFile(file, channelIdentity(p), establishedReceiver(p).receiver.durable());
  const good = readFileSync(file, 'utf8');
  const goodJson = JSON.parse(good) as unknown;
  const bad = join(dir.path, 'bad.json');
  const check = (text: string): void => {
    writeFileSync(bad, text);
    try {
      readStateFile(bad, channelIdentity(p));
    } catch (e) {
      assert.ok(e instanceof StateFileError, `unexpected ${String(e)}`);
      assert.equal(e.code, 'state.corrupt');
    }
  };
  for (const t of ['', 'null', '[]', '{}', good.slice(0, good.length / 2), good.replace('"version":1', '"version":2')]) {
    writeFileSync(bad, t);
    assert.throws(() => readStateFile(bad, channelIdentity(p)), StateFileError);
  }
  // Every leaf replaced by values of the wrong type or range.
  const leaves: string[][] = [];
  const walk = (v: unknown, at: string[]): void => {
    if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
    else leaves.push(at);
  };
  walk(goodJson, []);
  fc.assert(
    fc.property(fc.constantFrom(...leaves), fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant({}), fc.constant(-1)), (at, value) => {
      const copy = structuredClone(goodJson) as Record<string, unknown>;
      let o = copy;
      for (const k of at.slice(0, -1)) o = o[k] as Record<string, unknown>;
      o[at[at.length - 1]!] = value;
      check(JSON.stringify(copy));
    }),
    { numRuns: 500 },
  );
  // Random bytes.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(Buffer.from(b).toString('latin1'))), { numRuns: 200 });
});

test('the agent moves a corrupt state file aside and starts with an initialisation', async () => {
  const p = params();
  const file = join(dir.path, 'corrupt', 'state.json');
  writeStateFile(file, channelIdentity(p), establishedReceiver(p).receiver.durable());
  writeFileSync(file, '{"format":"keyplane-agent-keyroll-state","version":1,"channel":');
  const log = new MemoryLog();
  // Nobody answers on this port: only the start-up matters here.
  const agent = await KeyrollClient.start({ params: p, controller: { address: '127.0.0.1', port: 9 }, statePath: file, log });
  try {
    const s = agent.status();
    assert.equal(s.generation, 0);
    assert.equal(s.initPending, true);
    assert.equal(s.counters['agent.state.corrupt'], 1);
    assert.equal(log.grep(/state-ignored/).length, 1);
    assert.ok(readdirSync(join(dir.path, 'corrupt')).some((n) => n.startsWith('state.json.corrupt-')));
    // The init request was persisted (write-ahead) before it was sent: a fresh, valid file.
    await waitFor('the init request', () => (agent.status().counters['agent.tx'] ?? 0) >= 1);
    assert.equal(readStateFile(file, channelIdentity(p)).kind, 'ok');
    assert.ok(existsSync(file));
  } finally {
    await agent.stop();
  }
});
