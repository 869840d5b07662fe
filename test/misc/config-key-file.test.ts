// Key files and config files holding keys must not be readable by group or others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadManualKeyingConfig } from '../../src/config/manual-keying.js';
import { ConfigError } from '../../src/config/errors.js';
import { GCM128_KEY, tempDir } from './config-helpers.js';

function configUsing(key: string): string {
  return `dataplane: { localAddress: 192.0.2.1 }
policies: [{ name: p, action: protect, remoteTunnel: 192.0.2.2 }]
sas: [{ policy: p, direction: out, spi: 0x1000, encryption: { algorithm: aes128gcm16, ${key} } }]
`;
}

function loadError(file: string): ConfigError {
  try {
    loadManualKeyingConfig(file);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e;
  }
  assert.fail('accepted');
}

for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o777]) {
  test(`key file with mode 0${mode.toString(8)} is refused with a clear error`, () => {
    const dir = tempDir();
    try {
      const key = dir.write('k.key', GCM128_KEY, mode);
      const file = dir.write('c.yaml', configUsing('keyFile: k.key'), 0o600);
      const err = loadError(file);
      assert.equal(err.issues.length, 1);
      assert.equal(err.issues[0]!.path, 'sas[0].encryption.keyFile');
      assert.equal(
        err.issues[0]!.message,
        `key file ${key} has mode 0${mode.toString(8)}, readable or writable by group/others; run: chmod 600 ${key}`,
      );
      assert.ok(err.message.startsWith(`${file}: 1 problem\n`));
      assert.ok(!err.message.includes(GCM128_KEY));
    } finally {
      dir.remove();
    }
  });
}

for (const mode of [0o600, 0o400]) {
  test(`key file with mode 0${mode.toString(8)} is accepted`, () => {
    const dir = tempDir();
    try {
      dir.write('k.key', `${GCM128_KEY}\n`, mode);
      const cfg = loadManualKeyingConfig(dir.write('c.yaml', configUsing('keyFile: k.key'), 0o644));
      assert.deepEqual(cfg.sas[0]!.config.encryption.keyMaterial, Buffer.from(GCM128_KEY, 'hex'));
    } finally {
      dir.remove();
    }
  });
}

test('inline keys in a group/world-readable config file are refused', () => {
  const dir = tempDir();
  try {
    const file = dir.write('c.yaml', configUsing(`key: "${GCM128_KEY}"`), 0o644);
    const err = loadError(file);
    assert.equal(err.issues[0]!.path, 'sas[0].encryption.key');
    assert.match(err.issues[0]!.message, /readable by group\/others \(mode 0644\); run chmod 600 .* or use keyFile/);
    // The same file with mode 0600 loads.
    const ok = dir.write('d.yaml', configUsing(`key: "${GCM128_KEY}"`), 0o600);
    assert.equal(loadManualKeyingConfig(ok).sas.length, 1);
  } finally {
    dir.remove();
  }
});

test('a key file that is a directory, or not hex, is refused without echoing it', () => {
  const dir = tempDir();
  try {
    dir.write('c.yaml', configUsing('keyFile: /'), 0o600);
    assert.match(loadError(`${dir.path}/c.yaml`).issues[0]!.message, /not a regular file/);
    dir.write('k.key', `secret-${GCM128_KEY}`, 0o600);
    const err = loadError(dir.write('e.yaml', configUsing('keyFile: k.key'), 0o600));
    assert.match(err.issues[0]!.message, /hex digits/);
    assert.ok(!err.message.includes(GCM128_KEY));
  } finally {
    dir.remove();
  }
});

test('a missing config file is a config error naming it', () => {
  const err = loadError('/nonexistent/keyplane.yaml');
  assert.match(err.message, /^\/nonexistent\/keyplane\.yaml: 1 problem\n {2}\(file\): cannot read: ENOENT/);
});
