// Each kind of mistake in a manual-keying config gives a ConfigError (code config.invalid)
// that names the file, the field path and what was expected; all problems are listed at
// once; key material never appears in a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseManualKeyingConfig } from '../../src/config/manual-keying.js';
import { ConfigError } from '../../src/config/errors.js';
import { CBC256_KEY, GCM128_KEY, SHA256_KEY } from './config-helpers.js';

type Obj = Record<string, unknown>;

function base(): Obj {
  return {
    dataplane: { localAddress: '192.0.2.1', tunName: 'kp0' },
    policies: [
      { name: 'a-b', action: 'protect', local: '10.1.0.0/24', remote: '10.2.0.0/24', remoteTunnel: '192.0.2.2' },
      { name: 'clear', action: 'bypass', protocol: 'udp', remotePorts: 53 },
    ],
    sas: [
      { policy: 'a-b', direction: 'out', spi: 0x1001, encryption: { algorithm: 'aes128gcm16', key: GCM128_KEY } },
      {
        policy: 'a-b',
        direction: 'in',
        spi: '0x2001',
        encryption: { algorithm: 'aes256', key: CBC256_KEY },
        integrity: { algorithm: 'sha256', key: SHA256_KEY },
      },
    ],
  };
}

function sa(cfg: Obj, i: number): Obj {
  return (cfg['sas'] as Obj[])[i]!;
}
function policy(cfg: Obj, i: number): Obj {
  return (cfg['policies'] as Obj[])[i]!;
}

function errorOf(text: string, file = 'gw-a.yaml', fileMode?: number): ConfigError {
  try {
    parseManualKeyingConfig(text, { file, ...(fileMode !== undefined ? { fileMode } : {}) });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('config was accepted');
}

const SECRETS = [GCM128_KEY, CBC256_KEY, SHA256_KEY, GCM128_KEY.slice(0, 16), CBC256_KEY.slice(8, 24), SHA256_KEY.slice(-16)];

function assertNoSecrets(message: string): void {
  const flat = message.toLowerCase().replace(/[:\s]/g, '');
  for (const s of SECRETS) assert.ok(!flat.includes(s.toLowerCase()), 'key material appears in an error message');
}

test('the base config is valid', () => {
  const cfg = parseManualKeyingConfig(stringify(base()), { file: 'gw-a.yaml' });
  assert.equal(cfg.sas.length, 2);
});

// [what, mutation, field path, expected message pattern]
const CASES: [string, (c: Obj) => void, string, RegExp][] = [
  ['missing data plane', (c) => delete c['dataplane'], 'dataplane', /expected the data plane settings/],
  ['unknown top-level key', (c) => (c['sa'] = []), '', /unknown field "sa"/],
  ['bad local address', (c) => ((c['dataplane'] as Obj)['localAddress'] = '192.0.2.256'), 'dataplane.localAddress', /IPv4 or IPv6 address/],
  ['misspelt data plane field', (c) => ((c['dataplane'] as Obj)['mut'] = 1400), 'dataplane', /unknown field "mut"/],
  ['tun name too long', (c) => ((c['dataplane'] as Obj)['tunName'] = 'x'.repeat(16)), 'dataplane.tunName', /1-15/],
  ['unknown UDP backend', (c) => ((c['dataplane'] as Obj)['udpBackend'] = 'kernel'), 'dataplane.udpBackend', /"native" or "dgram"/],
  ['offload not a boolean', (c) => ((c['dataplane'] as Obj)['tunOffload'] = 'yes'), 'dataplane.tunOffload', /true or false/],
  ['port out of range', (c) => ((c['dataplane'] as Obj)['port'] = 70000), 'dataplane.port', /65535/],
  ['policies not a list', (c) => (c['policies'] = { name: 'x' }), 'policies', /list of policies/],
  ['policy with host bits', (c) => (policy(c, 0)['local'] = '10.1.0.1/24'), 'policies[0].local', /host bits set; did you mean 10\.1\.0\.0\/24/],
  ['prefix too long', (c) => (policy(c, 0)['remote'] = '10.2.0.0/33'), 'policies[0].remote', /prefix/],
  ['reversed range', (c) => (policy(c, 0)['remote'] = '10.2.0.9-10.2.0.1'), 'policies[0].remote', /starts after it ends/],
  ['mixed families', (c) => (policy(c, 0)['remote'] = '2001:db8::/32'), 'policies[0].remote', /same family/],
  ['bad action', (c) => (policy(c, 0)['action'] = 'encrypt'), 'policies[0].action', /protect|bypass|discard/],
  ['protect without peer', (c) => delete policy(c, 0)['remoteTunnel'], 'policies[0].remoteTunnel', /required for action protect/],
  ['tunnel family mismatch', (c) => (policy(c, 0)['remoteTunnel'] = '2001:db8::2'), 'policies[0].remoteTunnel', /same family/],
  ['tunnel on a bypass policy', (c) => (policy(c, 1)['mode'] = 'tunnel'), 'policies[1].mode', /only for action protect/],
  ['ports without protocol', (c) => delete policy(c, 1)['protocol'], 'policies[1].remotePorts', /need protocol tcp, udp/],
  ['bad port range', (c) => (policy(c, 1)['remotePorts'] = '2000-1000'), 'policies[1].remotePorts', /starts after it ends/],
  ['unknown protocol', (c) => (policy(c, 1)['protocol'] = 'tcpp'), 'policies[1].protocol', /protocol number 0-255 or one of/],
  ['icmp type on udp', (c) => (policy(c, 1)['icmpType'] = 8), 'policies[1].icmpType', /icmp or icmpv6/],
  ['duplicate policy name', (c) => (policy(c, 1)['name'] = 'a-b'), 'policies[1].name', /duplicate policy name "a-b"/],
  ['bad policy name', (c) => (policy(c, 1)['name'] = 'has space'), 'policies[1].name', /letters, digits/],
  ['SA for a missing policy', (c) => (sa(c, 0)['policy'] = 'a-c'), 'sas[0].policy', /no policy named "a-c"; defined: "a-b", "clear"/],
  ['SA on a bypass policy', (c) => (sa(c, 0)['policy'] = 'clear'), 'sas[0].policy', /has action bypass/],
  ['SPI 0', (c) => (sa(c, 0)['spi'] = 0), 'sas[0].spi', /reserved \(RFC 4303 §2\.1/],
  ['SPI 255', (c) => (sa(c, 0)['spi'] = '0xff'), 'sas[0].spi', /reserved/],
  ['SPI too big', (c) => (sa(c, 0)['spi'] = 2 ** 32), 'sas[0].spi', /4294967295/],
  ['SPI not a number', (c) => (sa(c, 0)['spi'] = 'one'), 'sas[0].spi', /decimal number or 0x-prefixed hex/],
  ['duplicate SPI', (c) => Object.assign(sa(c, 1), { direction: 'out', spi: 4097 }), 'sas[1].spi', /duplicate SA: sas\[0\]/],
  ['bad direction', (c) => (sa(c, 0)['direction'] = 'both'), 'sas[0].direction', /in.*out/],
  ['unknown cipher', (c) => ((sa(c, 0)['encryption'] as Obj)['algorithm'] = 'aes128gcm17'), 'sas[0].encryption.algorithm', /unknown encryption algorithm "aes128gcm17"; expected one of .*aes128gcm16/],
  ['unknown integrity', (c) => ((sa(c, 1)['integrity'] as Obj)['algorithm'] = 'md5'), 'sas[1].integrity.algorithm', /unknown integrity algorithm "md5"; expected one of .*sha256/],
  ['GCM key without salt', (c) => ((sa(c, 0)['encryption'] as Obj)['key'] = GCM128_KEY.slice(0, 32)), 'sas[0].encryption.key', /needs 20 bytes of key material = 40 hex digits \(16-byte key \+ 4-byte salt, RFC 4106 §8.1\), got 16 bytes/],
  ['ChaCha20 key without salt', (c) => (sa(c, 0)['encryption'] = { algorithm: 'chacha20poly1305', key: CBC256_KEY }), 'sas[0].encryption.key', /chacha20poly1305 needs 36 bytes of key material = 72 hex digits \(32-byte key \+ 4-byte salt, RFC 7634 §4\), got 32 bytes/],
  ['CBC key too long', (c) => ((sa(c, 1)['encryption'] as Obj)['key'] = CBC256_KEY + '00'), 'sas[1].encryption.key', /needs 32 bytes.*got 33 bytes/],
  ['HMAC key too short', (c) => ((sa(c, 1)['integrity'] as Obj)['key'] = SHA256_KEY.slice(2)), 'sas[1].integrity.key', /needs a 32-byte key \(64 hex digits\), got 31 bytes/],
  ['odd hex digits', (c) => ((sa(c, 0)['encryption'] as Obj)['key'] = GCM128_KEY.slice(1)), 'sas[0].encryption.key', /even number of hex digits/],
  ['non-hex key', (c) => ((sa(c, 0)['encryption'] as Obj)['key'] = 'g' + GCM128_KEY.slice(1)), 'sas[0].encryption.key', /hex digits/],
  ['key as a number', (c) => ((sa(c, 0)['encryption'] as Obj)['key'] = 12345), 'sas[0].encryption.key', /quoted hex string/],
  ['no key', (c) => delete (sa(c, 0)['encryption'] as Obj)['key'], 'sas[0].encryption.key', /required/],
  ['key and keyFile', (c) => ((sa(c, 0)['encryption'] as Obj)['keyFile'] = 'x.key'), 'sas[0].encryption.key', /either key or keyFile/],
  ['missing key file', (c) => { delete (sa(c, 0)['encryption'] as Obj)['key']; (sa(c, 0)['encryption'] as Obj)['keyFile'] = '/nonexistent/k.key'; }, 'sas[0].encryption.keyFile', /cannot read key file \/nonexistent\/k\.key: ENOENT/],
  ['AEAD with integrity', (c) => (sa(c, 0)['integrity'] = { algorithm: 'sha256', key: SHA256_KEY }), 'sas[0].integrity', /AEAD.*remove integrity/],
  ['CBC without integrity', (c) => delete sa(c, 1)['integrity'], 'sas[1].integrity', /required with aes256/],
  ['NULL without opt-in', (c) => (sa(c, 1)['encryption'] = { algorithm: 'null', key: '00' }), 'sas[1].encryption.algorithm', /tests only; set allowTestOnlyAlgorithms/],
  ['replay window too small', (c) => (sa(c, 1)['replayWindow'] = 16), 'sas[1].replayWindow', /0 \(anti-replay off\) or 32-65536/],
  ['esn not boolean', (c) => (sa(c, 1)['esn'] = 'yes'), 'sas[1].esn', /boolean/],
  ['soft above hard', (c) => (sa(c, 1)['lifetime'] = { soft: { bytes: 10 }, hard: { bytes: 5 } }), 'sas[1].lifetime.soft.bytes', /above the hard limit/],
  ['negative lifetime', (c) => (sa(c, 1)['lifetime'] = { hard: { seconds: -1 } }), 'sas[1].lifetime.hard.seconds', /0|positive/],
  ['unknown lifetime unit', (c) => (sa(c, 1)['lifetime'] = { hard: { minutes: 5 } }), 'sas[1].lifetime.hard', /unknown field "minutes"/],
  ['SA not an object', (c) => ((c['sas'] as unknown[])[1] = 'spi 5'), 'sas[1]', /expected an SA/],
];

for (const [what, mutate, path, pattern] of CASES) {
  test(`config error: ${what} -> ${path || '(file)'}`, () => {
    const cfg = base();
    mutate(cfg);
    const err = errorOf(stringify(cfg));
    assert.equal(err.code, 'config.invalid');
    assert.equal(err.file, 'gw-a.yaml');
    const issue = err.issues.find((i) => i.path === path && pattern.test(i.message));
    assert.ok(issue, `no issue at "${path}" matching ${pattern}; got:\n${err.message}`);
    // The message a person reads names the file, the field and the problem.
    assert.match(err.message, /^gw-a\.yaml: \d+ problems?/);
    assert.ok(err.message.includes(`${path || '(file)'}: ${issue.message}`));
    assertNoSecrets(err.message);
  });
}

test('a key pasted into the wrong field is not echoed', () => {
  const cfg = base();
  (sa(cfg, 0)['encryption'] as Obj)['algorithm'] = GCM128_KEY;
  (sa(cfg, 1)['integrity'] as Obj)['algorithm'] = `0x${SHA256_KEY}`;
  sa(cfg, 1)['policy'] = CBC256_KEY.slice(0, 40);
  sa(cfg, 0)['spi'] = `0x${GCM128_KEY}`;
  policy(cfg, 0)['local'] = CBC256_KEY;
  policy(cfg, 1)['protocol'] = SHA256_KEY.slice(0, 20);
  const err = errorOf(stringify(cfg));
  assert.deepEqual(
    err.issues.map((i) => i.path),
    ['policies[0].local', 'policies[1].protocol', 'sas[0].spi', 'sas[0].encryption.algorithm', 'sas[1].policy', 'sas[1].integrity.algorithm'],
  );
  assert.match(err.message, /not shown in case it is key material/);
  assertNoSecrets(err.message);
  assert.ok(!err.message.includes(CBC256_KEY.slice(0, 40)));
});

test('every problem is listed, not just the first', () => {
  const cfg = base();
  (cfg['dataplane'] as Obj)['mtu'] = 10;
  policy(cfg, 0)['local'] = '10.1.0.0/40';
  sa(cfg, 0)['spi'] = 7;
  (sa(cfg, 0)['encryption'] as Obj)['key'] = 'abcd';
  (sa(cfg, 1)['integrity'] as Obj)['algorithm'] = 'sha3';
  const err = errorOf(stringify(cfg));
  assert.deepEqual(
    err.issues.map((i) => i.path),
    ['dataplane.mtu', 'policies[0].local', 'sas[0].spi', 'sas[0].encryption.key', 'sas[1].integrity.algorithm'],
  );
  assert.match(err.message, /^gw-a\.yaml: 5 problems\n/);
  assertNoSecrets(err.message);
});

test('YAML syntax errors and duplicate keys name the line', () => {
  const err = errorOf('dataplane:\n  localAddress: 192.0.2.1\n  localAddress: 192.0.2.2\n');
  assert.match(err.issues[0]!.path, /^line 3$/);
  assert.match(err.issues[0]!.message, /not valid YAML/);
  const err2 = errorOf('dataplane: [\n');
  assert.match(err2.issues[0]!.message, /not valid YAML/);
});

test('a file that is not a mapping is refused', () => {
  for (const text of ['', '42', '- a\n- b', 'null', '"text"']) {
    const err = errorOf(text);
    assert.match(err.issues[0]!.message, /expected a mapping/);
  }
});

test('alias bombs are refused, not expanded', () => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const err = errorOf(lines.join('\n'));
  assert.equal(err.code, 'config.invalid');
});
