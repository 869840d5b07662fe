// Child process of settings-store.test.ts: saves management-table entries 1, 2, 3, ...
// (complete ones, with keys, and every third one first as pending then completed in
// place) and appends an event per save, printing each number after its saveEntry has
// returned (so it is acknowledged), until it is killed. Does nothing unless started with
// --entry-crash-child, so the test runner can load this file harmlessly.
import { openSqliteStore } from '../../src/store/sqlite.js';
import { entryNumbered } from './settings-fixtures.js';

async function main(): Promise<void> {
  const [, , flag, path, masterKeyFile] = process.argv;
  if (flag !== '--entry-crash-child' || path === undefined || masterKeyFile === undefined) return;
  const store = openSqliteStore({ path, masterKeyFile, create: false });
  for (let i = 1; ; i++) {
    if (i % 3 === 0) await store.saveEntry(entryNumbered(i, false));
    await store.saveEntry(entryNumbered(i, true));
    process.stdout.write(`${i}\n`);
    await store.appendEvents([{ atMs: i, kind: 'distributed', deviceId: `dev-a-${i}`, detail: { entry: i } }]);
  }
}

void main();
