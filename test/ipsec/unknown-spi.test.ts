// The rate limit of 'unknown-spi' events, shared by the data-plane backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnknownSpiReports } from '../../src/ipsec/unknown-spi.js';

const esp = Uint8Array.of(0x00, 0x00, 0xa0, 0xb0, 0, 0, 0, 1);

test('one report per remote address per second, SPI read from the packet', () => {
  const r = new UnknownSpiReports();
  assert.deepEqual(r.report(esp, '192.0.2.1', 1000), { type: 'unknown-spi', spi: 0xa0b0, remoteAddress: '192.0.2.1', atMs: 1000 });
  assert.equal(r.report(esp, '192.0.2.1', 1999), null);
  assert.notEqual(r.report(esp, '192.0.2.2', 1999), null, 'another address is reported on its own');
  assert.notEqual(r.report(esp, '192.0.2.1', 2000), null);
  assert.notEqual(r.report(esp, '192.0.2.1', 500), null, 'a clock that went back does not silence it');
});

test('packets too short to name an SPI are not reported', () => {
  assert.equal(new UnknownSpiReports().report(Uint8Array.of(1, 2, 3), '192.0.2.1', 0), null);
});

test('the per-address memory is bounded', () => {
  const r = new UnknownSpiReports();
  for (let i = 0; i < 5000; i++) r.report(esp, `10.0.${i >> 8}.${i & 255}`, 0);
  // After the cache was cleared the first address counts as new again.
  assert.notEqual(r.report(esp, '10.0.0.0', 1), null);
});
