// Every command has help; help exits 0 and says what the command does and takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyplane } from './cli-run.js';

const COMMANDS: [string[], RegExp[]][] = [
  [[], [/^Usage: keyplane \[options\] \[command\]/m, /dataplane/, /config/, /keygen/, /version/, /Exit codes:\n {2}0 .*\n {2}1 .*runtime.*\n {2}2 .*usage or config/]],
  [['dataplane'], [/^Usage: keyplane dataplane/m, /run/, /status/]],
  [['dataplane', 'run'], [/^Usage: keyplane dataplane run \[options\]/m, /-c, --config <file>/, /SIGINT\/SIGTERM/, /never keys/]],
  [['dataplane', 'status'], [/^Usage: keyplane dataplane status \[options\]/m, /--json/, /--socket <path>/, /\/run\/keyplane\/dataplane\.sock/]],
  [['config'], [/^Usage: keyplane config/m, /check/]],
  [['config', 'check'], [/^Usage: keyplane config check \[options\] <file>/m, /--json/, /Exit codes: 0 valid, 2 invalid/]],
  [['keygen'], [/^Usage: keyplane keygen \[options\]/m, /--alg <name>/, /--out <file>/, /--json/, /RFC 4106/]],
  [['version'], [/^Usage: keyplane version \[options\]/m, /--json/]],
];

for (const [path, patterns] of COMMANDS) {
  test(`keyplane ${[...path, '--help'].join(' ')} exits 0 and describes the command`, () => {
    const r = keyplane([...path, '--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const p of patterns) assert.match(r.stdout, p);
  });
}

test('`keyplane help <command>` prints the same help as `<command> --help`', () => {
  const a = keyplane(['help', 'keygen']);
  const b = keyplane(['keygen', '--help']);
  assert.equal(a.status, 0);
  assert.equal(a.stdout, b.stdout);
});

test('keyplane with no command prints help on stderr and exits 2', () => {
  const r = keyplane([]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^Usage: keyplane/m);
});
