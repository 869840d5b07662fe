// The agent's enrollment file: written atomically with mode 0600, never over an existing
// file without force, read back into the keyroll channel parameters, and refused when
// group or others can access it or when its content is not a valid enrollment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readEnrollmentFile, writeEnrollmentFile } from '../../src/agent/enrollment-file.js';
import { EnrollmentError, type Enrollment } from '../../src/store/enrollment-token.js';
import { norm, tempDir } from './helpers.js';

function sample(name = 'pc-7'): Enrollment {
  return {
    deviceId: randomBytes(8).toString('hex'),
    name,
    initKey: randomBytes(32),
    initSpi: 0xabcdef,
    variant: 'spi',
    forwardSecrecy: false,
    controller: { address: '2001:db8::10', port: 4510, identity: randomBytes(16).toString('hex') },
  };
}

const isCode = (code: string) => (e: unknown) => e instanceof EnrollmentError && e.code === code;

test('written with mode 0600 in a 0700 folder, read back as channel parameters', () => {
  const dir = tempDir();
  try {
    const file = dir.file('var/lib/keyplane/agent.json');
    const e = sample();
    writeEnrollmentFile(file, e, { nowMs: 1_767_225_600_000 });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dir.file('var/lib/keyplane')).mode & 0o777, 0o700);
    const r = readEnrollmentFile(file);
    assert.equal(r.enrolledAtMs, 1_767_225_600_000);
    assert.deepEqual(norm(r.enrollment), norm(e));
    assert.deepEqual(norm(r.params), norm({ deviceId: e.deviceId, initKey: e.initKey, initSpi: e.initSpi, variant: 'spi', forwardSecrecy: false }));
    assert.deepEqual(r.controller, e.controller);
    assert.deepEqual(readdirSync(dir.file('var/lib/keyplane')), ['agent.json'], 'no temporary file left behind');
  } finally {
    dir.remove();
  }
});

test('an existing file is kept unless force is given', () => {
  const dir = tempDir();
  try {
    const file = dir.file('agent.json');
    const first = sample('first');
    writeEnrollmentFile(file, first, { nowMs: 1 });
    assert.throws(() => writeEnrollmentFile(file, sample('second'), { nowMs: 2 }), isCode('enrollment.file-exists'));
    assert.equal(readEnrollmentFile(file).enrollment.name, 'first');
    writeEnrollmentFile(file, sample('third'), { nowMs: 3, force: true });
    assert.equal(readEnrollmentFile(file).enrollment.name, 'third');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir.path), ['agent.json']);
  } finally {
    dir.remove();
  }
});

test('a file group or others can access is refused; so are missing files and bad content', () => {
  const dir = tempDir();
  try {
    const file = dir.file('agent.json');
    writeEnrollmentFile(file, sample(), { nowMs: 1 });
    for (const mode of [0o640, 0o604, 0o644, 0o660, 0o606]) {
      chmodSync(file, mode);
      assert.throws(() => readEnrollmentFile(file), (e: unknown) => isCode('enrollment.file-permissions')(e) && (e as Error).message.includes('chmod 600'));
    }
    chmodSync(file, 0o400);
    readEnrollmentFile(file);
    chmodSync(file, 0o600);
    assert.throws(() => readEnrollmentFile(dir.file('none.json')), isCode('enrollment.file-missing'));

    const good = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const enr = good['enrollment'] as Record<string, unknown>;
    const bad: unknown[] = [
      'not json',
      [],
      { ...good, v: 2 },
      { ...good, extra: true },
      { ...good, enrolledAtMs: -1 },
      { ...good, enrollment: { ...enr, initKey: 'AAAA' } },
      { ...good, enrollment: { ...enr, initSpi: 1 } },
      { ...good, enrollment: null },
    ];
    for (const [i, content] of bad.entries()) {
      writeFileSync(dir.file(`bad${i}.json`), typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
      assert.throws(() => readEnrollmentFile(dir.file(`bad${i}.json`)), (e: unknown) => isCode('enrollment.file-format')(e) && !(e as Error).message.includes(String(enr['initKey'])), String(i));
    }
  } finally {
    dir.remove();
  }
});
