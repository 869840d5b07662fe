// The agent config (src/config/agent-config.ts): valid files convert into the settings
// core's extended SPD entries and options; every kind of mistake gives a ConfigError
// naming the file and the field path, all problems at once; the examples parse and make
// a working pair with the real selector engine and settings core; random input only ever
// gives a ConfigError; key-looking values are never echoed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadAgentConfig, parseAgentConfig, type AgentConfig } from '../../src/config/agent-config.js';
import { ConfigError } from '../../src/config/errors.js';
import { compileSelector, matchSelector } from '../../src/ipsec/selector.js';
import { SettingsAgent, defaultAgentOptions } from '../../src/settings/agent.js';
import { parseIp } from '../../src/wire/address.js';
import { CBC256_KEY, GCM128_KEY, SHA256_KEY, assertNoSecrets, configOutcome, fuzzOneFieldReplaced, tempDir, type ConfigOutcome } from './config-helpers.js';

type Obj = Record<string, unknown>;

const example = (name: string): string => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));

function base(): Obj {
  return {
    mode: 'router',
    address: '192.0.2.1',
    protect: [
      { name: 'to-b', peer: '192.0.2.2', local: ['10.1.0.0/24'], remote: ['10.2.0.0/24'] },
      { name: 'to-c-web', peer: '192.0.2.3', local: ['10.1.0.0/24'], remote: ['10.3.0.0/24'], flow: { protocol: 'tcp', port: 443, server: 'remote' } },
    ],
  };
}

function item(cfg: Obj, i: number): Obj {
  return (cfg['protect'] as Obj[])[i]!;
}

function errorOf(text: string, file = 'agent.yaml'): ConfigError {
  try {
    parseAgentConfig(text, { file });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('config was accepted');
}

// A packet as the selector engine sees it.
function packet(src: string, srcPort: number, dst: string, dstPort: number, protocol = 6) {
  return { version: src.includes(':') ? (6 as const) : (4 as const), src: parseIp(src), dst: parseIp(dst), protocol, srcPort, dstPort, hasPorts: true };
}

// ------------------------------------------------------------------------ valid files

test('a full config converts into SPD entries, defaults, resolved paths and ms tuning', () => {
  const cfg = parseAgentConfig(
    `
enrollment: keys/agent.json          # relative: to the config file's folder
state: /srv/kp/state.json
controller: "[2001:DB8::10]"          # port defaults to 4501, address canonical
registrationSeconds: 2.5
mode: router
address: 2001:db8:0:0::1
dataplane: { tun: kpr0, mtu: 1380 }
protect:
  - name: to-b
    peer: 2001:db8::2
    local: [fd00:1::/64, "fd00:1:0:1::/64"]   # two /64s that touch: one range
    remote: fd00:2::/64                         # a plain string is a one-item list
  - name: b-dns
    peer: 2001:db8::3
    local: [fd00:1::53]
    remote: [fd00:3::/64]
    flow: { protocol: udp, port: 53, server: local }
    priority: 5
  - name: b-all-udp
    peer: 2001:db8::3
    local: [fd00:1::/63]
    remote: [fd00:3::/64]
    flow: { protocol: 17 }
settings:
  retransmitSeconds: 0.5
  maxSends: 3
  holdPackets: 0
  renewAtFraction: 0.75
  switchDelaySeconds: 2
  replayWindow: 0
`,
    { file: '/etc/keyplane/agent.yaml' },
  );
  assert.equal(cfg.file, '/etc/keyplane/agent.yaml');
  assert.equal(cfg.enrollment, '/etc/keyplane/keys/agent.json');
  assert.equal(cfg.state, '/srv/kp/state.json');
  assert.equal(cfg.controller, '[2001:db8::10]:4501');
  assert.equal(cfg.registrationSeconds, 2.5);
  assert.equal(cfg.mode, 'router');
  assert.equal(cfg.address, '2001:db8::1');
  assert.deepEqual(cfg.dataplane, { tun: 'kpr0', mtu: 1380, port: 4500 });
  assert.deepEqual(cfg.entries, [
    {
      id: 'to-b',
      priority: 10,
      selector: { local: { start: 'fd00:1::', end: 'fd00:1:0:1:ffff:ffff:ffff:ffff' }, remote: { start: 'fd00:2::', end: 'fd00:2::ffff:ffff:ffff:ffff' } },
      localAddress: '2001:db8::1',
      requestPeer: '2001:db8::2',
      flow: null,
    },
    {
      id: 'b-dns',
      priority: 5,
      selector: {
        local: { start: 'fd00:1::53', end: 'fd00:1::53' },
        remote: { start: 'fd00:3::', end: 'fd00:3::ffff:ffff:ffff:ffff' },
        protocol: 17,
        localPorts: { start: 53, end: 53 },
      },
      localAddress: '2001:db8::1',
      requestPeer: '2001:db8::3',
      flow: { protocol: 17, port: 53 },
    },
    {
      id: 'b-all-udp',
      priority: 30,
      selector: { local: { start: 'fd00:1::', end: 'fd00:1:0:1:ffff:ffff:ffff:ffff' }, remote: { start: 'fd00:3::', end: 'fd00:3::ffff:ffff:ffff:ffff' }, protocol: 17 },
      localAddress: '2001:db8::1',
      requestPeer: '2001:db8::3',
      flow: { protocol: 17, port: null },
    },
  ]);
  assert.deepEqual(cfg.tuning, {
    retransmitIntervalMs: 500,
    maxSends: 3,
    holdQueuePackets: 0,
    renewAtFraction: 0.75,
    switchDelayMs: 2000,
    replayWindow: 0,
    udpEncapPort: 4500,
  });
});

test('defaults: paths, data plane, no controller override, pc mode local = the address', () => {
  const cfg = parseAgentConfig(stringify({ mode: 'pc', address: '198.51.100.7', protect: [{ name: 'x', peer: '192.0.2.2', remote: '10.2.0.0/24' }] }), { file: 'a.yaml' });
  assert.equal(cfg.enrollment, '/var/lib/keyplane/agent.json');
  assert.equal(cfg.state, '/var/lib/keyplane/agent-state.json');
  assert.equal(cfg.controller, null);
  assert.equal(cfg.registrationSeconds, null);
  assert.deepEqual(cfg.dataplane, { tun: 'kp0', mtu: 1400, port: 4500 });
  assert.deepEqual(cfg.tuning, { udpEncapPort: 4500 });
  assert.deepEqual(cfg.entries[0]?.selector.local, { start: '198.51.100.7', end: '198.51.100.7' });
  // pc mode accepts one host address of the device (its own inner address, say)
  const inner = parseAgentConfig(stringify({ mode: 'pc', address: '198.51.100.7', protect: [{ name: 'x', peer: '192.0.2.2', local: '10.3.0.3/32', remote: '10.2.0.0/24' }] }), { file: 'a.yaml' });
  assert.deepEqual(inner.entries[0]?.selector.local, { start: '10.3.0.3', end: '10.3.0.3' });
  // pc mode accepts local when it is the address itself, in any notation
  for (const local of [['198.51.100.7'], '198.51.100.7/32', ['198.51.100.7-198.51.100.7']]) {
    const c = parseAgentConfig(stringify({ mode: 'pc', address: '198.51.100.7', protect: [{ name: 'x', peer: '192.0.2.2', local, remote: '10.2.0.0/24' }] }), { file: 'a.yaml' });
    assert.deepEqual(c.entries[0]?.selector.local, { start: '198.51.100.7', end: '198.51.100.7' });
  }
});

test('JSON works as well as YAML', () => {
  const a = parseAgentConfig(JSON.stringify(base()), { file: 'a.json' });
  const b = parseAgentConfig(stringify(base()), { file: 'a.json' });
  assert.deepEqual(a, b);
  assert.equal(a.entries.length, 2);
});

test('the base config is valid, and the core accepts its entries and tuning', () => {
  const cfg = parseAgentConfig(stringify(base()), { file: 'agent.yaml' });
  const agent = new SettingsAgent(cfg.entries, defaultAgentOptions({ ...cfg.tuning, random: (n) => new Uint8Array(n).fill(7) }));
  const policies = agent.initialPolicies();
  assert.deepEqual(
    policies.map((p) => [p.id, p.action, p.protect?.requestPeer]),
    [
      ['to-b', 'protect', '192.0.2.2'],
      ['to-c-web', 'protect', '192.0.2.3'],
    ],
  );
});

// ------------------------------------------------------------------------ the examples

function examples(): { router: AgentConfig; pc: AgentConfig } {
  return { router: loadAgentConfig(example('agent-router.yaml')), pc: loadAgentConfig(example('agent-pc.yaml')) };
}

test('examples/agent-router.yaml and agent-pc.yaml load', () => {
  const { router, pc } = examples();
  assert.equal(router.mode, 'router');
  assert.equal(pc.mode, 'pc');
  assert.deepEqual(
    router.entries.map((e) => e.id),
    ['to-site-a', 'laptop-iperf'],
  );
  // the two prefixes of to-site-a's remote join into 10.1.0.0/23
  assert.deepEqual(router.entries[0]?.selector.remote, { start: '10.1.0.0', end: '10.1.1.255' });
  for (const cfg of [router, pc]) {
    new SettingsAgent(cfg.entries, defaultAgentOptions({ ...cfg.tuning, random: (n) => new Uint8Array(n) }));
  }
});

test('the examples mirror each other: same flow, swapped addresses, and the real selector engine matches both directions', () => {
  const { router, pc } = examples();
  const atPc = pc.entries.find((e) => e.requestPeer === router.address)!;
  const atRouter = router.entries.find((e) => e.requestPeer === pc.address)!;
  assert.ok(atPc && atRouter);
  // The controller pairs the two requests by (requester, peer, flow): the flows must be equal.
  assert.deepEqual(atPc.flow, atRouter.flow);
  assert.deepEqual(atPc.selector.local, atRouter.selector.remote);
  assert.deepEqual(atPc.selector.remote, atRouter.selector.local);
  assert.deepEqual(atPc.selector.remotePorts, atRouter.selector.localPorts);
  const pcSel = compileSelector(atPc.selector);
  const routerSel = compileSelector(atRouter.selector);
  const toServer = packet('198.51.100.7', 40000, '10.2.0.50', 5201);
  const reply = packet('10.2.0.50', 5201, '198.51.100.7', 40000);
  // laptop -> server leaves the laptop through its entry and arrives on site-b's SA
  assert.ok(matchSelector(pcSel, toServer, false));
  assert.ok(matchSelector(routerSel, toServer, true));
  // the reply leaves site-b through its entry and arrives on the laptop's SA
  assert.ok(matchSelector(routerSel, reply, false));
  assert.ok(matchSelector(pcSel, reply, true));
  // other ports and other hosts are not this entry's business
  assert.ok(!matchSelector(pcSel, packet('198.51.100.7', 40000, '10.2.0.50', 22), false));
  assert.ok(!matchSelector(pcSel, packet('198.51.100.7', 40000, '10.2.0.51', 5201), false));
  assert.ok(!matchSelector(routerSel, packet('10.2.0.50', 22, '198.51.100.7', 40000), false));
});

test('loading a missing file or a folder is a ConfigError', () => {
  const dir = tempDir();
  try {
    for (const [path, pattern] of [
      [`${dir.path}/nope.yaml`, /cannot read: ENOENT/],
      [dir.path, /not a regular file/],
    ] as const) {
      assert.throws(() => loadAgentConfig(path), (e: unknown) => e instanceof ConfigError && e.file === path && pattern.test(e.message));
    }
    const ok = dir.write('a.yaml', stringify(base()), 0o644);
    assert.equal(loadAgentConfig(ok).file, ok);
  } finally {
    dir.remove();
  }
});

// ------------------------------------------------------------------------ errors

// [what, mutation, field path, expected message pattern]
const CASES: [string, (c: Obj) => void, string, RegExp][] = [
  ['unknown top-level field', (c) => (c['protcet'] = []), '', /unknown field "protcet"/],
  ['missing mode', (c) => delete c['mode'], 'mode', /required: "router".*"pc"/],
  ['bad mode', (c) => (c['mode'] = 'gateway'), 'mode', /expected "router"/],
  ['missing address', (c) => delete c['address'], 'address', /required: this device's IPsec address/],
  ['bad address', (c) => (c['address'] = '192.0.2.300'), 'address', /expected this device's IPsec address.*"192\.0\.2\.300"/],
  ['unspecified address', (c) => (c['address'] = '0.0.0.0'), 'address', /unspecified address/],
  ['bad controller', (c) => (c['controller'] = '192.0.2.10:port'), 'controller', /expected address:port/],
  ['controller port too big', (c) => (c['controller'] = '192.0.2.10:70000'), 'controller', /port must be 1-65535, got 70000/],
  ['registration too short', (c) => (c['registrationSeconds'] = 0), 'registrationSeconds', /at least 0\.1 seconds/],
  ['enrollment empty', (c) => (c['enrollment'] = ''), 'enrollment', /path of the enrollment file/],
  ['state not a string', (c) => (c['state'] = 5), 'state', /path of the channel state file as a string/],
  ['tun name too long', (c) => (c['dataplane'] = { tun: 'x'.repeat(16) }), 'dataplane.tun', /1-15/],
  ['mtu too small', (c) => (c['dataplane'] = { mtu: 500 }), 'dataplane.mtu', /576-65535/],
  ['port 0', (c) => (c['dataplane'] = { port: 0 }), 'dataplane.port', /1-65535/],
  ['unknown data plane field', (c) => (c['dataplane'] = { mut: 1400 }), 'dataplane', /unknown field "mut"/],
  ['IPv6 with a small mtu', (c) => { c['dataplane'] = { mtu: 1000 }; Object.assign(item(c, 0), { local: ['fd00:1::/64'], remote: ['fd00:2::/64'] }); }, 'dataplane.mtu', /IPv6.*1280 \(RFC 8200 §5\)/],
  ['protect missing', (c) => delete c['protect'], 'protect', /required: a list/],
  ['protect empty', (c) => (c['protect'] = []), 'protect', /at least one entry/],
  ['protect not a list', (c) => (c['protect'] = { name: 'x' }), 'protect', /expected a list/],
  ['entry not a mapping', (c) => ((c['protect'] as unknown[])[1] = 'to-b'), 'protect[1]', /expected a protect entry/],
  ['unknown entry field', (c) => (item(c, 0)['remotes'] = []), 'protect[0]', /unknown field "remotes"/],
  ['missing name', (c) => delete item(c, 1)['name'], 'protect[1].name', /required: a name/],
  ['bad name', (c) => (item(c, 1)['name'] = 'has space'), 'protect[1].name', /letters, digits/],
  ['duplicate name', (c) => (item(c, 1)['name'] = 'to-b'), 'protect[1].name', /duplicate name "to-b" \(first at protect\[0\]\)/],
  ['missing peer', (c) => delete item(c, 0)['peer'], 'protect[0].peer', /required: the peer device's IPsec address/],
  ['peer is the address', (c) => (item(c, 0)['peer'] = '192.0.2.1'), 'protect[0].peer', /this device's own address/],
  ['peer of the other family', (c) => (item(c, 0)['peer'] = '2001:db8::2'), 'protect[0].peer', /IPv6 but address 192\.0\.2\.1 is IPv4/],
  ['router without local', (c) => delete item(c, 0)['local'], 'protect[0].local', /required in router mode/],
  ['pc with a subnet as local', (c) => (c['mode'] = 'pc'), 'protect[0].local', /pc mode.*leave local out \(= \[192\.0\.2\.1\]\) or write one host address/],
  ['missing remote', (c) => delete item(c, 0)['remote'], 'protect[0].remote', /required: what is reached through the peer/],
  ['empty remote list', (c) => (item(c, 0)['remote'] = []), 'protect[0].remote', /expected a list of addresses/],
  ['remote any', (c) => (item(c, 0)['remote'] = ['any']), 'protect[0].remote[0]', /name the addresses/],
  ['remote with host bits', (c) => (item(c, 0)['remote'] = ['10.2.0.0/24', '10.2.1.1/24']), 'protect[0].remote[1]', /host bits set; did you mean 10\.2\.1\.0\/24/],
  ['remote item not a string', (c) => (item(c, 0)['remote'] = ['10.2.0.0/24', 7]), 'protect[0].remote[1]', /as a string/],
  ['remote overlapping local', (c) => (item(c, 0)['remote'] = ['10.2.0.0/24', '10.1.0.128/25']), 'protect[0].remote[1]', /overlaps local 10\.1\.0\.0\/24/],
  ['remote with a gap', (c) => (item(c, 0)['remote'] = ['10.2.0.0/24', '10.9.0.0/24']), 'protect[0].remote[1]', /10\.9\.0\.0\/24 does not join/],
  ['local with a gap', (c) => (item(c, 0)['local'] = ['10.1.0.0/24', '10.1.2.0/24']), 'protect[0].local[1]', /does not join/],
  ['local and remote of two families', (c) => (item(c, 0)['remote'] = ['fd00:2::/64']), 'protect[0].remote[0]', /IPv6 but local 10\.1\.0\.0\/24 is IPv4/],
  ['one list of two families', (c) => (item(c, 0)['local'] = ['10.1.0.0/24', 'fd00:1::/64']), 'protect[0].local[1]', /mixes IPv4 and IPv6/],
  ['flow without protocol', (c) => (item(c, 1)['flow'] = { port: 443, server: 'remote' }), 'protect[1].flow.protocol', /protocol/],
  ['flow protocol any', (c) => (item(c, 1)['flow'] = { protocol: 'any' }), 'protect[1].flow.protocol', /leave flow out/],
  ['flow unknown protocol', (c) => (item(c, 1)['flow'] = { protocol: 'tpc' }), 'protect[1].flow.protocol', /one of icmp, tcp/],
  ['port with icmp', (c) => (item(c, 1)['flow'] = { protocol: 'icmp', port: 8, server: 'remote' }), 'protect[1].flow.port', /need protocol tcp, udp, sctp/],
  ['port 0', (c) => (item(c, 1)['flow'] = { protocol: 'tcp', port: 0, server: 'remote' }), 'protect[1].flow.port', /1-65535|>=1/],
  ['port without server side', (c) => (item(c, 1)['flow'] = { protocol: 'tcp', port: 443 }), 'protect[1].flow.server', /required with port: "remote".*"local"/],
  ['server side without port', (c) => (item(c, 1)['flow'] = { protocol: 'tcp', server: 'local' }), 'protect[1].flow.server', /only with port/],
  ['bad server side', (c) => (item(c, 1)['flow'] = { protocol: 'tcp', port: 443, server: 'both' }), 'protect[1].flow.server', /"remote".*"local"/],
  ['unknown flow field', (c) => (item(c, 1)['flow'] = { protocol: 'tcp', ports: 443 }), 'protect[1].flow', /unknown field "ports"/],
  ['priority negative', (c) => (item(c, 0)['priority'] = -1), 'protect[0].priority', /0-2147483647/],
  ['priority fractional', (c) => (item(c, 0)['priority'] = 1.5), 'protect[0].priority', /integer/],
  ['same peer and flow twice', (c) => Object.assign(item(c, 1), { peer: '192.0.2.2', flow: undefined, remote: ['10.4.0.0/24'] }), 'protect[1].peer', /same peer 192\.0\.2\.2 and no flow as protect\[0\] \("to-b"\)/],
  ['same peer and same flow twice', (c) => { item(c, 0)['flow'] = { protocol: 'tcp', port: 443, server: 'remote' }; item(c, 1)['peer'] = '192.0.2.2'; }, 'protect[1].flow', /same peer 192\.0\.2\.2 and flow 6\/443 as protect\[0\]/],
  ['overlap with another peer', (c) => (item(c, 1)['remote'] = ['10.2.0.128/25']), 'protect[1].remote', /overlaps protect\[0\] \("to-b"\), which asks peer 192\.0\.2\.2/],
  ['unknown settings field', (c) => (c['settings'] = { retransmitMs: 100 }), 'settings', /unknown field "retransmitMs"/],
  ['renewAtFraction too high', (c) => (c['settings'] = { renewAtFraction: 0.99 }), 'settings.renewAtFraction', /at most 0\.95/],
  ['renewAtFraction too low', (c) => (c['settings'] = { renewAtFraction: 0.2 }), 'settings.renewAtFraction', /at least 0\.5/],
  ['maxSends zero', (c) => (c['settings'] = { maxSends: 0 }), 'settings.maxSends', /1-100/],
  ['retransmit too long', (c) => (c['settings'] = { retransmitSeconds: 1000 }), 'settings.retransmitSeconds', /at most 300 seconds/],
  ['hold negative', (c) => (c['settings'] = { holdPackets: -1 }), 'settings.holdPackets', /0-100000/],
  ['replay window 32', (c) => (c['settings'] = { replayWindow: 32 }), 'settings.replayWindow', /0 \(anti-replay off\) or 64-65536/],
  ['switch delay as text', (c) => (c['settings'] = { switchDelaySeconds: '6' }), 'settings.switchDelaySeconds', /number of seconds/],
];

for (const [what, mutate, path, pattern] of CASES) {
  test(`agent config error: ${what} -> ${path || '(file)'}`, () => {
    const cfg = base();
    mutate(cfg);
    const err = errorOf(stringify(cfg));
    assert.equal(err.code, 'config.invalid');
    assert.equal(err.file, 'agent.yaml');
    const issue = err.issues.find((i) => i.path === path && pattern.test(i.message));
    assert.ok(issue, `no issue at "${path}" matching ${pattern}; got:\n${err.message}`);
    assert.match(err.message, /^agent\.yaml: \d+ problems?/);
    assert.ok(err.message.includes(`${path || '(file)'}: ${issue.message}`));
    // the same config is fine without the mutation
    assert.doesNotThrow(() => parseAgentConfig(stringify(base()), { file: 'agent.yaml' }));
  });
}

test('YAML errors name the line; repeated keys are errors', () => {
  const e1 = errorOf('mode: router\naddress: [192.0.2.1\n');
  assert.ok(e1.issues.some((i) => /^line \d+$/.test(i.path) && /not valid YAML/.test(i.message)), e1.message);
  const e2 = errorOf('mode: router\nmode: pc\naddress: 192.0.2.1\n');
  assert.ok(e2.issues.some((i) => i.path === 'line 2' && /not valid YAML/.test(i.message)), e2.message);
  const e3 = errorOf('- 1\n- 2\n');
  assert.deepEqual(e3.issues.map((i) => i.path), ['']);
  assert.match(e3.issues[0]!.message, /expected a mapping/);
});

test('every problem in a file is reported at once', () => {
  const cfg = base();
  breakEverything(cfg);
  const err = errorOf(stringify(cfg));
  const paths = err.issues.map((i) => i.path);
  for (const p of ['address', 'dataplane.mtu', 'settings.maxSends', 'protect[0].remote[0]', 'protect[1].name', 'protect[1].flow.server', 'protect[2].peer', 'protect[3]']) {
    assert.ok(paths.includes(p), `no issue at ${p}; got:\n${err.message}`);
  }
  assert.equal(err.issues.length, new Set(err.issues.map((i) => `${i.path}|${i.message}`)).size, 'an issue is listed twice');
});

function breakEverything(c: Obj): void {
  c['address'] = 'nowhere';
  c['dataplane'] = { mtu: 99 };
  c['settings'] = { maxSends: 1000 };
  item(c, 0)['remote'] = ['10.2.0.0/99'];
  item(c, 1)['name'] = '-bad';
  item(c, 1)['flow'] = { protocol: 'tcp', port: 443 };
  (c['protect'] as unknown[]).push({ name: 'third', peer: 'x', remote: ['10.5.0.0/24'], local: ['10.1.0.0/24'] }, 42);
}

// ------------------------------------------------------------------------ secrets

test('key-looking values pasted into any field are described, never echoed', () => {
  const cfg = base();
  cfg['address'] = GCM128_KEY;
  cfg['controller'] = `${CBC256_KEY.slice(0, 40)}:4501`;
  cfg['mode'] = SHA256_KEY;
  item(cfg, 0)['peer'] = `0x${SHA256_KEY}`;
  item(cfg, 0)['remote'] = [CBC256_KEY, `${GCM128_KEY.slice(0, 16)}/24`];
  item(cfg, 0)['name'] = GCM128_KEY.slice(0, 40);
  item(cfg, 1)['flow'] = { protocol: CBC256_KEY.slice(8, 24), port: 443, server: SHA256_KEY.slice(-16) };
  // as field names, where the shared field checker names unknown fields as written
  cfg[GCM128_KEY] = 1;
  cfg['dataplane'] = { [CBC256_KEY.match(/../g)!.join(':')]: 1 };
  item(cfg, 1)[`x"${SHA256_KEY}`] = 1;
  const err = errorOf(stringify(cfg));
  assert.ok(err.issues.length >= 10, err.message);
  assertNoSecrets(err.message);
  for (const i of err.issues) assertNoSecrets(`${i.path} ${i.message}`);
  // and a YAML syntax error on a line holding a key does not quote the line
  const yamlErr = errorOf(`mode: router\naddress: "${GCM128_KEY}\n`);
  assertNoSecrets(yamlErr.message);
});

// ------------------------------------------------------------------------ fuzz

function outcome(text: string): ConfigOutcome {
  return configOutcome((t) => parseAgentConfig(t, { file: 'fuzz.yaml' }), text, assertNoSecrets);
}

test('random text never crashes the loader', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => void outcome(text)), { numRuns: 300 });
});

test('random YAML-ish text never crashes the loader', () => {
  const token = fc.constantFrom(
    'mode:', 'address:', 'protect:', 'settings:', 'dataplane:', '  - ', '  ', ': ', '{', '}', '[', ']', ',', '&a ', '*a', '!!str ', '!!binary ',
    '? ', '|', '>', '"', "'", '#', '\n', '---', 'name: p', 'peer: 192.0.2.2', 'local: [10.1.0.0/24]', 'remote: 10.2.0.0/24', 'router', 'pc',
    'flow: {protocol: tcp, port: 80, server: remote}', '__proto__: ', 'constructor: ', 'null', '~', '1e400', '-0', '.nan', '0o17', 'true', GCM128_KEY,
  );
  fc.assert(fc.property(fc.array(token, { maxLength: 40 }), (tokens) => void outcome(tokens.join(''))), { numRuns: 400 });
});

test('random JSON values never crash the loader', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => void outcome(JSON.stringify(value) ?? 'null')), { numRuns: 300 });
});

test('a valid config with one field replaced by anything loads or gives a config error', () => {
  const valid = { ...base(), dataplane: { tun: 'kp0', mtu: 1400, port: 4500 }, settings: { maxSends: 6, renewAtFraction: 0.8 }, controller: '192.0.2.10:4501' };
  fuzzOneFieldReplaced(valid, outcome, { numRuns: 600, extraValues: [GCM128_KEY] });
});

test('property: the two halves of any prefix, in either order, join into that prefix; halves of different prefixes with a gap do not', () => {
  const v4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 8, max: 31 }), fc.boolean(), (seed, len, swap) => {
      const size = 2 ** (32 - len);
      const start = Math.floor(seed / size) * size;
      const half = size / 2;
      const halves = [`${v4(start)}/${len + 1}`, `${v4(start + half)}/${len + 1}`];
      if (swap) halves.reverse();
      // remote in 0.0.0.0/8 is disjoint from any local prefix of length >= 8 except in 0.0.0.0/8
      const remote = start < 2 ** 24 ? '255.0.0.0/8' : '0.0.0.0/8';
      const cfg = parseAgentConfig(stringify({ mode: 'router', address: '192.0.2.1', protect: [{ name: 'p', peer: '192.0.2.2', local: halves, remote }] }), { file: 'p.yaml' });
      assert.deepEqual(cfg.entries[0]?.selector.local, { start: v4(start), end: v4(start + size - 1) });
      if (start + 2 * size + half <= 0xffffffff && len < 31) {
        const gap = [`${v4(start)}/${len + 1}`, `${v4(start + 2 * size)}/${len + 1}`];
        const err = errorOf(stringify({ mode: 'router', address: '192.0.2.1', protect: [{ name: 'p', peer: '192.0.2.2', local: gap, remote }] }));
        assert.ok(err.issues.some((i) => i.path === 'protect[0].local[1]' && /does not join/.test(i.message)), err.message);
      }
    }),
    { numRuns: 300 },
  );
});
