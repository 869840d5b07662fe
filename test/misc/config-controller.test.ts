// The controller config (src/config/controller-config.ts) and the ESP proposal keywords
// (src/config/esp-proposal.ts): valid files convert into the store's NewPolicy rows and
// the controller's settings; every kind of mistake gives a ConfigError naming the file
// and the field path, all problems at once; the example parses, its policies go into a
// real store and answer lookups as intended; random input only ever gives a ConfigError;
// key-looking values are never echoed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadControllerConfig, parseControllerConfig } from '../../src/config/controller-config.js';
import { formatEspProposal, parseEspProposal } from '../../src/config/esp-proposal.js';
import { ConfigError } from '../../src/config/errors.js';
import { listEncryptionTransforms, listIntegrityTransforms } from '../../src/crypto/registry.js';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import { PolicyTable } from '../../src/settings/server-policies.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { CBC256_KEY, GCM128_KEY, SHA256_KEY, assertNoSecrets, configOutcome, fuzzOneFieldReplaced, tempDir, type ConfigOutcome } from './config-helpers.js';

type Obj = Record<string, unknown>;

const example = (name: string): string => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));

function base(): Obj {
  return {
    listen: '0.0.0.0:4501',
    policies: [
      { name: 'default', a: '*', b: '*', esp: 'aes256gcm16' },
      { name: 'a-b', a: '192.0.2.1', b: '192.0.2.2', esp: 'aes128-sha256', flow: { protocol: 'tcp', port: 80 } },
    ],
  };
}

function policy(cfg: Obj, i: number): Obj {
  return (cfg['policies'] as Obj[])[i]!;
}

function errorOf(text: string, file = 'controller.yaml'): ConfigError {
  try {
    parseControllerConfig(text, { file });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('config was accepted');
}

// ------------------------------------------------------------------- ESP keywords

test('ESP keywords resolve to the IANA transform IDs (RFC 7296 §3.3.2, RFC 4106, RFC 7634, RFC 4868)', () => {
  const cases: [string, number, number, number | null][] = [
    ['aes128gcm16', ENCR.AES_GCM_16, 128, null],
    ['aes256gcm16', ENCR.AES_GCM_16, 256, null],
    ['aes192gcm128', ENCR.AES_GCM_16, 192, null], // ICV length in bits, as strongSwan allows
    ['aes128gcm8', ENCR.AES_GCM_8, 128, null],
    ['aes128gcm12', ENCR.AES_GCM_12, 128, null],
    ['chacha20poly1305', ENCR.CHACHA20_POLY1305, 256, null],
    ['aes128-sha256', ENCR.AES_CBC, 128, INTEG.HMAC_SHA2_256_128],
    ['aes256-sha384', ENCR.AES_CBC, 256, INTEG.HMAC_SHA2_384_192],
    ['aes128-sha1', ENCR.AES_CBC, 128, INTEG.HMAC_SHA1_96],
    [' AES256-SHA2_512 ', ENCR.AES_CBC, 256, INTEG.HMAC_SHA2_512_256],
  ];
  for (const [text, id, keyBits, integ] of cases) {
    assert.deepEqual(parseEspProposal(text), { encryption: { id, keyBits }, integrity: integ === null ? null : { id: integ } }, text);
  }
});

test('every registry AEAD alone, and every plain cipher with every integrity algorithm, parses and formats back', () => {
  const integrity = listIntegrityTransforms();
  let n = 0;
  for (const enc of listEncryptionTransforms().filter((t) => !t.testOnly)) {
    const isAead = typeof parseEspProposal(enc.name) !== 'string';
    const names = isAead ? [enc.name] : integrity.map((i) => `${enc.name}-${i.name}`);
    for (const name of names) {
      const p = parseEspProposal(name);
      assert.ok(typeof p !== 'string', `${name}: ${String(p)}`);
      assert.equal(p.encryption.id, enc.id);
      assert.equal(formatEspProposal(p), name);
      n++;
    }
    // the other form is refused
    if (isAead) assert.equal(typeof parseEspProposal(`${enc.name}-sha256`), 'string');
    else assert.equal(typeof parseEspProposal(enc.name), 'string');
  }
  assert.ok(n >= 9 + 1 + 3 * 4, `only ${n} keywords`);
});

test('ESP keywords that are refused say why', () => {
  const cases: [string, RegExp][] = [
    ['null', /no confidentiality/],
    ['null-sha256', /no confidentiality/],
    ['aes128', /needs an integrity algorithm: aes128-sha256/],
    ['aes256gcm16-sha256', /AEAD.*drop -sha256/],
    ['aes128gcm16-x25519', /key-exchange group.*drop -x25519/],
    ['aes128-sha256-modp2048', /key-exchange group/],
    ['aes128-sha256-esn', /esn field/],
    ['aes128-md5', /unknown integrity algorithm "md5"/],
    ['3des-sha1', /unknown encryption algorithm "3des"/],
    ['aes128-sha256-sha1', /<cipher>-<integrity>/],
    ['', /expected an ESP proposal keyword/],
    [GCM128_KEY, /not shown/],
  ];
  for (const [text, pattern] of cases) {
    const r = parseEspProposal(text);
    assert.equal(typeof r, 'string', text);
    assert.match(r as string, pattern, text);
    assertNoSecrets(r as string);
  }
  assert.equal(typeof parseEspProposal(5 as unknown as string), 'string');
});

// ------------------------------------------------------------------- valid files

test('a full config converts into store policies, endpoints, resolved paths and ms tuning', () => {
  const cfg = parseControllerConfig(
    `
store: data/controller.db
masterKey: /srv/kp/master.key
listen: "[2001:db8::10]:4600"
admin: { listen: "off", tokenFile: admin.token }
rotationSeconds: 0
settings: { activationIntervalSeconds: 0.25, activationMaxSends: 3 }
policies:
  - name: default
    a: any
    b: "*"
    esp: chacha20poly1305
  - name: v6-pair
    a: 2001:DB8::2
    b: 2001:db8:0::1
    esp: aes256-sha512
    mode: transport
    lifetimeSeconds: 600
    esn: true
    flow: { protocol: udp }
`,
    { file: '/etc/keyplane/controller.yaml' },
  );
  assert.equal(cfg.file, '/etc/keyplane/controller.yaml');
  assert.equal(cfg.store, '/etc/keyplane/data/controller.db');
  assert.equal(cfg.masterKey, '/srv/kp/master.key');
  assert.deepEqual(cfg.listen, { address: '2001:db8::10', port: 4600 });
  assert.deepEqual(cfg.admin, { listen: null, tokenFile: '/etc/keyplane/admin.token' });
  assert.equal(cfg.rotationSeconds, 0);
  assert.deepEqual(cfg.tuning, { activationIntervalMs: 250, activationMaxSends: 3 });
  assert.deepEqual(cfg.policies, [
    {
      name: 'default',
      a: '*',
      b: '*',
      flow: null,
      applied: { protocol: 'esp', mode: 'tunnel', encryption: { id: ENCR.CHACHA20_POLY1305, keyBits: 256 }, integrity: null, esn: false, lifetimeSeconds: 3600 },
    },
    {
      name: 'v6-pair',
      a: '2001:db8::2',
      b: '2001:db8::1',
      flow: { protocol: 17, port: null },
      applied: {
        protocol: 'esp',
        mode: 'transport',
        encryption: { id: ENCR.AES_CBC, keyBits: 256 },
        integrity: { id: INTEG.HMAC_SHA2_512_256 },
        esn: true,
        lifetimeSeconds: 600,
      },
    },
  ]);
});

test('defaults: paths, listen addresses, no policies, no tuning', () => {
  const cfg = parseControllerConfig('{}', { file: 'c.yaml' });
  assert.equal(cfg.store, '/var/lib/keyplane/controller.db');
  assert.equal(cfg.masterKey, '/var/lib/keyplane/master.key');
  assert.deepEqual(cfg.listen, { address: '0.0.0.0', port: 4501 });
  assert.deepEqual(cfg.admin, { listen: { address: '127.0.0.1', port: 4580 }, tokenFile: '/var/lib/keyplane/admin.token' });
  assert.equal(cfg.rotationSeconds, null);
  assert.deepEqual(cfg.tuning, {});
  assert.deepEqual(cfg.policies, []);
  // a bare address takes the default port
  assert.deepEqual(parseControllerConfig('listen: 192.0.2.10\nadmin: { listen: "::1" }', { file: 'c.yaml' }).admin.listen, { address: '::1', port: 4580 });
  assert.deepEqual(parseControllerConfig('listen: 192.0.2.10', { file: 'c.yaml' }).listen, { address: '192.0.2.10', port: 4501 });
});

test('examples/controller.yaml loads; its policies go into a real store and answer lookups as written', async () => {
  const cfg = loadControllerConfig(example('controller.yaml'));
  assert.deepEqual(
    cfg.policies.map((p) => p.name),
    ['default', 'site-a-site-b', 'laptop-iperf'],
  );
  const dir = tempDir();
  const store = openSqliteStore({ path: `${dir.path}/controller.db`, masterKeyFile: `${dir.path}/master.key`, create: true });
  try {
    for (const p of cfg.policies) await store.addPolicy(p, 1000);
    const stored = await store.listPolicies();
    assert.deepEqual(
      stored.map((p) => ({ name: p.name, a: p.a, b: p.b, flow: p.flow, applied: p.applied })).sort((x, y) => x.name.localeCompare(y.name)),
      [...cfg.policies].sort((x, y) => x.name.localeCompare(y.name)),
    );
    const table = new PolicyTable(stored);
    const laptop = '198.51.100.7';
    const siteA = '192.0.2.1';
    const siteB = '192.0.2.2';
    assert.equal(table.lookup(laptop, siteB, { protocol: 6, port: 5201 })?.name, 'laptop-iperf');
    assert.equal(table.lookup(siteB, laptop, { protocol: 6, port: 5201 })?.name, 'laptop-iperf');
    assert.equal(table.lookup(siteB, siteA, null)?.name, 'site-a-site-b');
    assert.equal(table.lookup(laptop, siteA, null)?.name, 'default');
  } finally {
    await store.close();
    dir.remove();
  }
});

test('loading a missing file is a ConfigError', () => {
  assert.throws(() => loadControllerConfig('/nonexistent/keyplane.yaml'), (e: unknown) => e instanceof ConfigError && /cannot read: ENOENT/.test(e.message));
});

// ------------------------------------------------------------------- errors

// [what, mutation, field path, expected message pattern]
const CASES: [string, (c: Obj) => void, string, RegExp][] = [
  ['unknown top-level field', (c) => (c['polices'] = []), '', /unknown field "polices"/],
  ['store empty', (c) => (c['store'] = ''), 'store', /path of the store/],
  ['masterKey not a string', (c) => (c['masterKey'] = 7), 'masterKey', /path of the master key file as a string/],
  ['listen on a host name', (c) => (c['listen'] = 'ctl.example:4501'), 'listen', /IP address.*not a host name/],
  ['listen port too big', (c) => (c['listen'] = '0.0.0.0:65536'), 'listen', /port must be 1-65535/],
  ['listen port 0', (c) => (c['listen'] = '0.0.0.0:0'), 'listen', /port must be 1-65535, got 0/],
  ['listen not a string', (c) => (c['listen'] = 4501), 'listen', /"address:port" as a string/],
  ['admin listen bad', (c) => (c['admin'] = { listen: 'localhost:x' }), 'admin.listen', /expected address:port.*or "off"/],
  ['admin unknown field', (c) => (c['admin'] = { token: 'x' }), 'admin', /unknown field "token"/],
  ['admin tokenFile empty', (c) => (c['admin'] = { tokenFile: '' }), 'admin.tokenFile', /path of the admin API token file/],
  ['rotation negative', (c) => (c['rotationSeconds'] = -5), 'rotationSeconds', /at least 0 seconds/],
  ['rotation as text', (c) => (c['rotationSeconds'] = '1d'), 'rotationSeconds', /number of seconds/],
  ['activation interval 0', (c) => (c['settings'] = { activationIntervalSeconds: 0 }), 'settings.activationIntervalSeconds', /at least 0\.1 seconds/],
  ['activation sends 101', (c) => (c['settings'] = { activationMaxSends: 101 }), 'settings.activationMaxSends', /1-100/],
  ['settings unknown field', (c) => (c['settings'] = { activationSeconds: 5 }), 'settings', /unknown field "activationSeconds"/],
  ['policies not a list', (c) => (c['policies'] = { name: 'x' }), 'policies', /list of distribution policies/],
  ['policy not a mapping', (c) => ((c['policies'] as unknown[])[1] = 'a-b'), 'policies[1]', /expected a policy/],
  ['policy unknown field', (c) => (policy(c, 0)['encryption'] = 'aes128'), 'policies[0]', /unknown field "encryption"/],
  ['missing name', (c) => delete policy(c, 1)['name'], 'policies[1].name', /required: a policy name/],
  ['bad name', (c) => (policy(c, 1)['name'] = 'a b'), 'policies[1].name', /1-64 characters of A-Za-z0-9_.-/],
  ['duplicate name', (c) => (policy(c, 1)['name'] = 'default'), 'policies[1].name', /duplicate policy name "default" \(first at policies\[0\]\)/],
  ['missing a', (c) => delete policy(c, 1)['a'], 'policies[1].a', /required: an IP address or "\*"/],
  ['bad b', (c) => (policy(c, 1)['b'] = '192.0.2'), 'policies[1].b', /IP address or "\*".*"192\.0\.2"/],
  ['unspecified b', (c) => (policy(c, 1)['b'] = '::'), 'policies[1].b', /unspecified address/],
  ['a equals b', (c) => (policy(c, 1)['b'] = '192.0.2.1'), 'policies[1].b', /same address as a/],
  ['a and b of two families', (c) => (policy(c, 1)['b'] = '2001:db8::2'), 'policies[1].b', /IPv6 but a is IPv4/],
  ['same pair twice, reversed', (c) => (c['policies'] as Obj[]).push({ name: 'b-a', a: '192.0.2.2', b: '192.0.2.1', esp: 'aes128gcm16', flow: { protocol: 6, port: 80 } }), 'policies[2].flow', /policies\[1\] already covers/],
  ['wildcard pair twice', (c) => (c['policies'] as Obj[]).push({ name: 'again', a: 'any', b: '*', esp: 'aes128gcm16' }), 'policies[2].b', /policies\[0\] already covers \* <-> \* with no flow/],
  ['missing esp', (c) => delete policy(c, 0)['esp'], 'policies[0].esp', /required: an ESP proposal keyword/],
  ['esp null', (c) => (policy(c, 0)['esp'] = 'null'), 'policies[0].esp', /no confidentiality/],
  ['esp AEAD with integrity', (c) => (policy(c, 0)['esp'] = 'aes256gcm16-sha256'), 'policies[0].esp', /drop -sha256/],
  ['esp CBC alone', (c) => (policy(c, 0)['esp'] = 'aes256'), 'policies[0].esp', /needs an integrity algorithm/],
  ['bad mode', (c) => (policy(c, 0)['mode'] = 'beet'), 'policies[0].mode', /"tunnel" or "transport"/],
  ['lifetime too short', (c) => (policy(c, 0)['lifetimeSeconds'] = 5), 'policies[0].lifetimeSeconds', /10-2147483647/],
  ['lifetime too long', (c) => (policy(c, 0)['lifetimeSeconds'] = 2 ** 31), 'policies[0].lifetimeSeconds', /10-2147483647/],
  ['esn as text', (c) => (policy(c, 0)['esn'] = 'yes'), 'policies[0].esn', /true or false/],
  ['flow port 0', (c) => (policy(c, 1)['flow'] = { protocol: 'tcp', port: 0 }), 'policies[1].flow.port', /1-65535|>=1/],
  ['flow port with gre', (c) => (policy(c, 1)['flow'] = { protocol: 'gre', port: 80 }), 'policies[1].flow.port', /need protocol tcp, udp/],
  ['flow protocol any', (c) => (policy(c, 1)['flow'] = { protocol: 'any' }), 'policies[1].flow.protocol', /leave flow out/],
  ['flow with a server side', (c) => (policy(c, 1)['flow'] = { protocol: 'tcp', port: 80, server: 'remote' }), 'policies[1].flow', /unknown field "server"/],
];

for (const [what, mutate, path, pattern] of CASES) {
  test(`controller config error: ${what} -> ${path || '(file)'}`, () => {
    const cfg = base();
    mutate(cfg);
    const err = errorOf(stringify(cfg));
    assert.equal(err.code, 'config.invalid');
    assert.equal(err.file, 'controller.yaml');
    const issue = err.issues.find((i) => i.path === path && pattern.test(i.message));
    assert.ok(issue, `no issue at "${path}" matching ${pattern}; got:\n${err.message}`);
    assert.match(err.message, /^controller\.yaml: \d+ problems?/);
    assert.ok(err.message.includes(`${path || '(file)'}: ${issue.message}`));
    assert.doesNotThrow(() => parseControllerConfig(stringify(base()), { file: 'controller.yaml' }));
  });
}

test('an unquoted * (a YAML alias) is a YAML error with its line', () => {
  const err = errorOf('policies:\n  - name: d\n    a: *\n    b: "*"\n    esp: aes128gcm16\n');
  assert.ok(err.issues.some((i) => /^line \d+$/.test(i.path) && /not valid YAML/.test(i.message)), err.message);
});

test('every problem in a file is reported at once', () => {
  const cfg = base();
  cfg['listen'] = 'nowhere:1:2';
  cfg['admin'] = { listen: '127.0.0.1:99999' };
  cfg['settings'] = { activationMaxSends: 0 };
  policy(cfg, 0)['esp'] = 'aes128';
  policy(cfg, 0)['lifetimeSeconds'] = 1;
  policy(cfg, 1)['b'] = '192.0.2.1';
  policy(cfg, 1)['flow'] = { protocol: 'icmp', port: 3 };
  (cfg['policies'] as unknown[]).push({ name: 'default', a: '*', b: '*', esp: 'bogus' }, []);
  const err = errorOf(stringify(cfg));
  const paths = err.issues.map((i) => i.path);
  for (const p of ['listen', 'admin.listen', 'settings.activationMaxSends', 'policies[0].esp', 'policies[0].lifetimeSeconds', 'policies[1].b', 'policies[1].flow.port', 'policies[2].name', 'policies[2].esp', 'policies[2].b', 'policies[3]']) {
    assert.ok(paths.includes(p), `no issue at ${p}; got:\n${err.message}`);
  }
});

test('key-looking values pasted into any field are described, never echoed', () => {
  const cfg = base();
  cfg['listen'] = `${GCM128_KEY}:4501`;
  cfg['admin'] = { listen: CBC256_KEY, [SHA256_KEY]: 1 };
  cfg[CBC256_KEY.match(/../g)!.join(':')] = 1;
  policy(cfg, 0)['esp'] = `${GCM128_KEY.slice(0, 16)}-sha256`;
  policy(cfg, 0)['a'] = `0x${SHA256_KEY}`;
  policy(cfg, 1)['name'] = CBC256_KEY.slice(8, 24);
  policy(cfg, 1)['flow'] = { protocol: SHA256_KEY.slice(-16) };
  const err = errorOf(stringify(cfg));
  assert.ok(err.issues.length >= 7, err.message);
  assertNoSecrets(err.message);
});

// ------------------------------------------------------------------- fuzz

function outcome(text: string): ConfigOutcome {
  return configOutcome((t) => parseControllerConfig(t, { file: 'fuzz.yaml' }), text, assertNoSecrets);
}

test('random text never crashes the loader', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => void outcome(text)), { numRuns: 300 });
});

test('random YAML-ish text never crashes the loader', () => {
  const token = fc.constantFrom(
    'policies:', 'listen:', 'admin:', 'settings:', '  - ', '  ', ': ', '{', '}', '[', ']', ',', '&a ', '*a', '"*"', '!!str ', '? ', '|', '>', '"', "'",
    '#', '\n', '---', 'name: p', 'a: 192.0.2.1', 'b: any', 'esp: aes128gcm16', 'esp: aes128-sha256', 'flow: {protocol: tcp, port: 80}', '0.0.0.0:4501',
    '__proto__: ', 'null', '~', '1e400', '-0', '.nan', 'true', GCM128_KEY,
  );
  fc.assert(fc.property(fc.array(token, { maxLength: 40 }), (tokens) => void outcome(tokens.join(''))), { numRuns: 400 });
});

test('random JSON values never crash the loader', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => void outcome(JSON.stringify(value) ?? 'null')), { numRuns: 300 });
});

test('a valid config with one field replaced by anything loads or gives a config error', () => {
  const valid = { ...base(), admin: { listen: '127.0.0.1:4580', tokenFile: 't' }, rotationSeconds: 60, settings: { activationIntervalSeconds: 5, activationMaxSends: 6 } };
  fuzzOneFieldReplaced(valid, outcome, { numRuns: 600, extraValues: [GCM128_KEY] });
});
