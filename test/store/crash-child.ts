// Child process of crash.test.ts: saves numberedState(1), numberedState(2), ... for one
// device as fast as it can and prints each number after its save has returned (so it is
// committed), until it is killed. Does nothing unless started with --crash-child, so the
// test runner can load this file harmlessly.
import { openSqliteStore } from '../../src/store/sqlite.js';
import { numberedState } from './helpers.js';

async function main(): Promise<void> {
  const [, , flag, path, masterKeyFile, deviceId] = process.argv;
  if (flag !== '--crash-child' || path === undefined || masterKeyFile === undefined || deviceId === undefined) return;
  const store = openSqliteStore({ path, masterKeyFile, create: false });
  for (let i = 1; ; i++) {
    await store.saveChannelState(deviceId, numberedState(i));
    process.stdout.write(`${i}\n`);
  }
}

void main();
