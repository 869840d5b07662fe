// The secret-file mechanics on a real file system: private creation (0600 in a 0700
// folder), no second writer replacing the first, racing processes ending with one file,
// and the reasons the reader refuses a file for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretFile, readSecretFile, SecretFileError, type SecretFileReason } from '../../src/io/secret-file.js';

const READ = { label: 'test secret file', maxBytes: 16, accessDenied: 'permissions' } as const;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyplane-secret-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const refused = (reason: SecretFileReason, message: RegExp) => (e: unknown) =>
  e instanceof SecretFileError && e.reason === reason && e.code === `secret-file.${reason}` && message.test(e.message);

test('creates the file 0600 in a new 0700 folder, with exactly the content, and no temporary file left', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a', 'b', 'secret');
  assert.equal(createSecretFile(file, Buffer.from('s3cret\n'), 'test secret file'), true);
  assert.equal(readFileSync(file, 'latin1'), 's3cret\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['secret']);
  assert.equal(readSecretFile(file, READ), 's3cret\n');
});

test('a second creator does not replace the first file: it is told to read it', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'secret');
  assert.equal(createSecretFile(file, Buffer.from('first'), 'test secret file'), true);
  assert.equal(createSecretFile(file, Buffer.from('second'), 'test secret file'), false);
  assert.equal(readFileSync(file, 'latin1'), 'first');
  assert.deepEqual(readdirSync(dir), ['secret']);
});

test('processes racing to create the file all end up with the same content', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'secret');
  const moduleUrl = new URL('../../src/io/secret-file.js', import.meta.url).href;
  // Each process writes its own content (its pid), then reads what is in place.
  const script = `
    const { createSecretFile, readSecretFile } = await import(${JSON.stringify(moduleUrl)});
    const file = ${JSON.stringify(file)};
    const created = createSecretFile(file, Buffer.from(String(process.pid)), 'test secret file');
    process.stdout.write(JSON.stringify({ created, pid: process.pid, text: readSecretFile(file, { label: 'x', maxBytes: 64, accessDenied: 'io' }) }));
  `;
  const runs = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0);
      return JSON.parse(out) as { created: boolean; pid: number; text: string };
    }),
  );
  const winners = runs.filter((r) => r.created);
  assert.equal(winners.length, 1, 'exactly one process created the file');
  for (const r of runs) assert.equal(r.text, String(winners[0]!.pid));
  assert.deepEqual(readdirSync(dir), ['secret'], 'no temporary file left');
});

test('the reader refuses a missing file, a symbolic link, a folder and group/other access', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'secret');
  assert.throws(() => readSecretFile(file, READ), refused('missing', /^test secret file .*secret does not exist$/));
  writeFileSync(file, 'x', { mode: 0o600 });
  symlinkSync(file, join(dir, 'link'));
  assert.throws(() => readSecretFile(join(dir, 'link'), READ), refused('permissions', /is a symbolic link; give the file itself$/));
  mkdirSync(join(dir, 'folder'), { mode: 0o700 });
  assert.throws(() => readSecretFile(join(dir, 'folder'), READ), refused('invalid', /is not a regular file$/));
  for (const mode of [0o640, 0o604, 0o610, 0o601]) {
    chmodSync(file, mode);
    assert.throws(() => readSecretFile(file, READ), refused('permissions', new RegExp(`has mode 0${mode.toString(8)}: group and others must have no access; run chmod 600 `)));
  }
  chmodSync(file, 0o400);
  assert.equal(readSecretFile(file, READ), 'x');
});

test('another failure to open is reason io, with the system error as cause', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'plain'), 'x', { mode: 0o600 });
  const file = join(dir, 'plain', 'secret'); // a file used as a folder: ENOTDIR
  assert.throws(
    () => readSecretFile(file, READ),
    (e: unknown) => refused('io', /^cannot open test secret file .*: ENOTDIR/)(e) && ((e as Error).cause as NodeJS.ErrnoException).code === 'ENOTDIR',
  );
});

test('reads at most maxBytes bytes', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'secret');
  writeFileSync(file, 'a'.repeat(40), { mode: 0o600 });
  assert.equal(readSecretFile(file, READ), 'a'.repeat(16));
});
