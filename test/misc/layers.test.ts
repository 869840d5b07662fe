// DESIGN.md: "lower layers never import higher ones". This test reads every source file
// and fails on an import that goes up the stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

// Layer number of each top-level folder of src/ (DESIGN.md "Layers").
const LAYER: Record<string, number> = {
  util: 0,
  wire: 1,
  crypto: 2,
  ipsec: 3,
  ike: 4,
  keyroll: 4,
  settings: 4,
  admission: 4,
  proxy: 4,
  sim: 4,
  io: 5,
  dataplane: 5,
  store: 5,
  config: 5,
  controller: 6,
  agent: 6,
  cli: 6,
  web: 6,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('every src folder has a layer', () => {
  for (const name of readdirSync(root)) {
    if (statSync(join(root, name)).isDirectory()) assert.ok(name in LAYER, `src/${name} has no layer in DESIGN.md order`);
  }
});

test('no module imports a higher layer', () => {
  const violations: string[] = [];
  for (const file of files(root)) {
    const from = relative(root, file).split('/')[0]!;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from\s+'(\.[^']+)'/g)) {
      const target = relative(root, resolve(dirname(file), m[1]!)).split('/')[0]!;
      if ((LAYER[target] ?? -1) > (LAYER[from] ?? -1)) violations.push(`${relative(root, file)} -> ${m[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});
