// keygen prints key material of exactly the length each algorithm's RFC asks for, fresh
// every time, and --out writes a 0600 file the config loader accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { tempDir } from './config-helpers.js';
import { keyplane } from './cli-run.js';

// Bytes of key material per algorithm:
// AES-GCM: key + 4-byte salt (RFC 4106 §8.1); ChaCha20-Poly1305: 32 + 4 salt (RFC 7634 §4);
// AES-CBC: the AES key (RFC 3602 §5); HMAC-SHA1-96: 20 (RFC 2404 §3);
// HMAC-SHA2-256/384/512: 32/48/64 (RFC 4868 §2.1.1).
const LENGTHS: [string, number][] = [
  ['aes128gcm16', 20],
  ['aes192gcm16', 28],
  ['aes256gcm16', 36],
  ['aes128gcm8', 20],
  ['aes256gcm12', 36],
  ['aes128', 16],
  ['aes192', 24],
  ['aes256', 32],
  ['chacha20poly1305', 36],
  ['sha1', 20],
  ['sha256', 32],
  ['sha384', 48],
  ['sha512', 64],
];

for (const [alg, bytes] of LENGTHS) {
  test(`keygen --alg ${alg} prints ${bytes} bytes as hex`, () => {
    const r = keyplane(['keygen', '--alg', alg]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^[0-9a-f]{${bytes * 2}}\\n$`));
  });
}

test('keygen --json: algorithm, length and key; two keys differ', () => {
  const a = JSON.parse(keyplane(['keygen', '--alg', 'AES128GCM16', '--json']).stdout) as Record<string, unknown>;
  const b = JSON.parse(keyplane(['keygen', '--alg', 'aes128gcm16', '--json']).stdout) as Record<string, unknown>;
  assert.equal(a['algorithm'], 'aes128gcm16');
  assert.equal(a['bytes'], 20);
  assert.match(String(a['key']), /^[0-9a-f]{40}$/);
  assert.notEqual(a['key'], b['key']);
});

test('keygen output is not obviously non-random (byte values spread over 0-255)', () => {
  const hex = Array.from({ length: 4 }, () => keyplane(['keygen', '--alg', 'sha512']).stdout.trim()).join('');
  const bytes = Buffer.from(hex, 'hex');
  assert.equal(bytes.length, 256);
  const distinct = new Set(bytes).size;
  // 256 uniform draws from 256 values hit about 162 distinct values; a constant or
  // counter-like source would fail this badly.
  assert.ok(distinct > 120, `only ${distinct} distinct byte values in 256 bytes`);
});

test('keygen rejects unknown and keyless algorithms with exit 2', () => {
  for (const alg of ['aes512', 'null', 'md5']) {
    const r = keyplane(['keygen', '--alg', alg]);
    assert.equal(r.status, 2, alg);
    assert.equal(r.stdout, '');
  }
  assert.match(keyplane(['keygen', '--alg', 'aes512']).stderr, /unknown algorithm "aes512"; expected one of .*aes128gcm16.*sha256/);
});

test('keygen --out writes a 0600 key file that a config can use, and will not overwrite it', () => {
  const dir = tempDir();
  try {
    const key = `${dir.path}/a.key`;
    const r = keyplane(['keygen', '--alg', 'aes256gcm16', '--out', key, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { algorithm: 'aes256gcm16', bytes: 36, file: key });
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(readFileSync(key, 'utf8'), /^[0-9a-f]{72}\n$/);
    const again = keyplane(['keygen', '--alg', 'aes256gcm16', '--out', key]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /exists; pass --force/);
    assert.equal(keyplane(['keygen', '--alg', 'aes256gcm16', '--out', key, '--force']).status, 0);
    const cfg = dir.write(
      'c.yaml',
      `dataplane: { localAddress: 192.0.2.1 }
policies: [{ name: p, action: protect, remoteTunnel: 192.0.2.2 }]
sas: [{ policy: p, direction: out, spi: 300, encryption: { algorithm: aes256gcm16, keyFile: a.key } }]
`,
    );
    assert.equal(keyplane(['config', 'check', cfg]).status, 0);
  } finally {
    dir.remove();
  }
});
