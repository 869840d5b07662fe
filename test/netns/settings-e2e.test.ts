// Seed 000 end to end in network namespaces with real processes: a controller and two
// agents (userspace data planes). The first packet between the gateways is held, both ends
// get identical settings from the controller, and TCP flows encrypted. Then:
//   - a TCP connection keeps running through several renewals (SA lifetime of seconds,
//     make-before-break) and loses nothing;
//   - the controller is killed (SIGKILL) in the middle of a distribution (the peer cannot
//     hear it yet) and restarted: both ends still converge.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { canRunNetns } from './netns-harness.js';
import { kill, killAll, statusDirect } from '../keyroll-proc/procs.js';
import type { ControllerStatus } from '../../src/controller/status.js';
import { sleep, waitFor } from '../keyroll-proc/helpers.js';
import { SettingsWorld, type Gateway } from './settings-world.js';

const skip = canRunNetns();
const XFER = fileURLToPath(new URL('./tcp-xfer.js', import.meta.url));
const LIFETIME_SECONDS = 6;
let w: SettingsWorld;
let a: Gateway;
let b: Gateway;

before(async () => {
  if (skip) return;
  w = await SettingsWorld.create(2);
  [a, b] = w.gateways as [Gateway, Gateway];
  await w.enroll({ retransmitSeconds: 1, maxSends: 30, renewAtFraction: 0.5, switchDelaySeconds: 1 });
  await w.startController(['--activation-seconds', '1', '--activation-max-sends', '30']);
  const add = await w.cli(['policy', 'add', 'sites', a.outer, b.outer, '--esp', 'aes128gcm16', '--lifetime', String(LIFETIME_SECONDS)]);
  assert.equal(add.code, 0, add.stderr + add.stdout);
  await w.startAgent(a);
  await w.startAgent(b);
  for (const g of [a, b]) await waitFor(`agent ${g.name} keyed`, async () => ((await w.agentStatus(g)).generation >= 1 ? true : undefined), 20_000, 100);
});

after(async () => {
  await killAll();
  await w?.destroy();
});

async function entry(g: Gateway, peer: Gateway) {
  const s = await w.agentStatus(g);
  return s.settings?.entries.find((e) => e.peer === peer.outer);
}

// Runs a paced TCP stream from a's protected address to b's and returns both ends' results.
async function stream(bytes: number, rate: number, port: number): Promise<{ sent: string; received: string }> {
  const server = w.exec(b.ns, process.execPath, [XFER, 'server', b.inner, String(port)], 120_000);
  await sleep(300);
  const client = await w.exec(a.ns, process.execPath, [XFER, 'client', b.inner, String(port), String(bytes), String(rate)], 120_000);
  const srv = await server;
  return { sent: /RESULT (.*)/.exec(client.stdout)![1]!, received: /RESULT (.*)/.exec(srv.stdout)![1]! };
}

test('first packet: held, settings distributed to both ends, ping and TCP cross encrypted', { skip, timeout: 60_000 }, async () => {
  // The first ping is held until the SAs are in; with -W 5 it is answered.
  const ping = await w.exec(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '5', '-I', a.inner, b.inner]);
  assert.match(ping.stdout, /3 packets transmitted, 3 received/);
  const ea = await entry(a, b);
  const eb = await entry(b, a);
  assert.ok(ea?.current && eb?.current, 'both ends established');
  // Identical settings, mirrored: a's outbound SPI is b's inbound one and vice versa.
  assert.equal(ea.current.outboundSpi, eb.current.inboundSpi);
  assert.equal(ea.current.inboundSpi, eb.current.outboundSpi);
  assert.equal(ea.current.entryId, eb.current.entryId);
  const sas = await w.cli(['sa', 'list', '--json']);
  assert.equal(sas.code, 0, sas.stderr);
  assert.ok(sas.stdout.includes(String(ea.current.entryId)), 'the controller lists the entry');
  const r = await stream(2 * 1024 * 1024, 0, 5201);
  assert.equal(r.received, r.sent);
});

test('a TCP connection keeps running through several renewals (make-before-break), nothing lost', { skip, timeout: 90_000 }, async () => {
  const before = (await entry(a, b))!.current!;
  // ~20 s at 100 kB/s: three or more renewals with a 6 s lifetime renewed at half-life.
  const r = await stream(2_000_000, 100_000, 5202);
  assert.equal(r.received, r.sent, 'the stream arrived complete and intact');
  const after = (await entry(a, b))!.current!;
  assert.notEqual(after.entryId, before.entryId);
  const sa = await w.agentStatus(a);
  const renewals = sa.settings!.counters['agent.settings.installed.renewal'] ?? 0;
  assert.ok(renewals >= 3, `renewals: ${renewals} (${JSON.stringify(sa.settings!.counters)})`);
  // No packet of the stream met a missing SA.
  for (const g of [a, b]) {
    const c = (await w.agentStatus(g)).settings!.counters;
    assert.equal(c['dataplane.drop.unknown-spi'] ?? 0, 0, `${g.name}: ${JSON.stringify(c)}`);
  }
});

test('controller killed in the middle of a distribution: after a restart both ends converge', { skip, timeout: 120_000 }, async () => {
  // b cannot hear the controller: a's request creates the entry and the activation to b
  // goes unanswered, then the controller dies.
  await w.exec(b.ns, 'nft', ['add', 'table', 'inet', 'kpt']);
  await w.exec(b.ns, 'nft', ['add', 'chain', 'inet', 'kpt', 'in', '{ type filter hook input priority 0; }']);
  await w.exec(b.ns, 'nft', ['add', 'rule', 'inet', 'kpt', 'in', 'udp', 'sport', '4501', 'drop']);
  // Make a ask anew: a flow with a new entry needs a fresh request; restart a's agent so
  // its SAs are gone and the next packet is held again.
  await kill(a.agent!, 'SIGTERM');
  await w.startAgent(a);
  await waitFor('a keyed again', async () => ((await w.agentStatus(a)).generation >= 1 ? true : undefined), 20_000, 100);
  const ping = w.exec(a.ns, 'ping', ['-c', '1', '-W', '1', '-I', a.inner, b.inner]).catch(() => undefined);
  await waitFor('a requesting', async () => ((await entry(a, b))?.state === 'requesting' ? true : undefined), 10_000, 50);
  await sleep(1500); // the controller has stored the pending entry and sent activations
  await kill(w.controller!, 'SIGKILL');
  await ping;
  await w.exec(b.ns, 'nft', ['delete', 'table', 'inet', 'kpt']);
  await w.startController(['--activation-seconds', '1', '--activation-max-sends', '30']);
  const restarted = await statusDirect<ControllerStatus>(w.path('c.sock'));
  assert.ok((restarted.settings?.counters['settings.restored'] ?? 0) >= 1, 'the pending entry came back from the store');
  // a keeps retransmitting (same ID and SPI); the restarted controller still has the
  // pending entry and completes it when b answers the activation.
  await waitFor('both ends established', async () => {
    const ea = await entry(a, b);
    const eb = await entry(b, a);
    return ea?.current && eb?.current && ea.current.entryId === eb.current.entryId ? true : undefined;
  }, 60_000, 200);
  const ping2 = await w.exec(a.ns, 'ping', ['-c', '2', '-W', '5', '-I', a.inner, b.inner]);
  assert.match(ping2.stdout, /2 packets transmitted, 2 received/);
});

test('an agent that restarts (its SAs gone) is brought back by the peer\'s traffic alone', { skip, timeout: 90_000 }, async () => {
  // Long SAs from now on (the next renewal takes the new policy), so that no renewal can
  // repair the pair during the test: only b's reaction to the unknown SPI can.
  assert.equal((await w.cli(['policy', 'rm', 'sites'])).code, 0);
  const add = await w.cli(['policy', 'add', 'sites-long', a.outer, b.outer, '--esp', 'aes128gcm16', '--lifetime', '600']);
  assert.equal(add.code, 0, add.stderr);
  await w.exec(a.ns, 'ping', ['-c', '1', '-W', '5', '-I', a.inner, b.inner]).catch(() => undefined);
  const before = await waitFor('a long-lived entry', async () => {
    const c = (await entry(a, b))?.current;
    const e = (await entry(b, a))?.current;
    return c && e && c.entryId === e.entryId && c.expiresAtMs - c.installedAtMs > 300_000 ? c : undefined;
  }, 20_000, 200);
  // b restarts: its data plane is new and empty; a still holds the old SAs.
  await kill(b.agent!, 'SIGTERM');
  await w.startAgent(b);
  await waitFor('b keyed again', async () => ((await w.agentStatus(b)).generation >= 1 ? true : undefined), 20_000, 100);
  // Only a sends: one-way UDP (nothing from b could trigger an acquire at b). b sees ESP
  // under an SPI it does not have, asks the controller, both ends get a new entry, and
  // the datagrams arrive again.
  const sink = w.exec(b.ns, process.execPath, ['-e', `
    const s = require('dgram').createSocket('udp4'); let n = 0;
    s.on('message', () => n++); s.bind(7000, '${b.inner}');
    setTimeout(() => { console.log('RECEIVED ' + n); process.exit(0); }, 12000);`], 30_000);
  await sleep(300);
  await w.exec(a.ns, process.execPath, ['-e', `
    const s = require('dgram').createSocket('udp4'); let i = 0;
    s.bind({ address: '${a.inner}' }, () => { const t = setInterval(() => { s.send('x', 7000, '${b.inner}'); if (++i === 100) { clearInterval(t); s.close(); } }, 100); });`], 30_000);
  const received = Number(/RECEIVED (\d+)/.exec((await sink).stdout)?.[1] ?? 0);
  assert.ok(received >= 50 && received <= 100, `datagrams delivered after b's restart: ${received} of 100`);
  const after = (await entry(a, b))!.current!;
  assert.notEqual(after.entryId, before.entryId, 'a new entry replaced the one b lost');
  const c = (await w.agentStatus(b)).settings!.counters;
  assert.ok((c['agent.settings.unknown-spi'] ?? 0) >= 1, JSON.stringify(c));
});
