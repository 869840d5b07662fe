import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildMarkedIke, buildNatKeepalive, classifyUdpEncap, NON_ESP_MARKER_BYTES } from '../../src/wire/udp-encap.js';
import { encodeEspHeader } from '../../src/wire/esp.js';
import { arbBytes, expectDecodeError, fuzzDecoder, RUNS, u32 } from './fuzz.js';

test('NAT-keepalive is the single byte 0xFF (RFC 3948 §2.3)', () => {
  assert.deepEqual([...buildNatKeepalive()], [0xff]);
  assert.equal(classifyUdpEncap(buildNatKeepalive()), 'keepalive');
});

test('marker-prefixed IKE messages and ESP packets classify and round-trip', () => {
  fc.assert(
    fc.property(arbBytes(1, 80), (ike) => {
      const p = buildMarkedIke(ike);
      assert.equal(classifyUdpEncap(p), 'ike');
      assert.deepEqual([...p.subarray(0, NON_ESP_MARKER_BYTES)], [0, 0, 0, 0]); // RFC 3948 §2.2
      assert.deepEqual(p.subarray(NON_ESP_MARKER_BYTES), ike);
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 0xffffffff }), u32(), arbBytes(0, 40), (spi, seq, rest) => {
      const p = Uint8Array.from([...encodeEspHeader({ spi, sequenceNumber: seq }), ...rest]);
      assert.equal(classifyUdpEncap(p), 'esp');
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: any payload classifies or gives DecodeError, consistently with its first bytes', () => {
  fuzzDecoder(classifyUdpEncap, fc.oneof(arbBytes(1, 40).map(buildMarkedIke), arbBytes(8, 40), fc.constant(buildNatKeepalive())), (kind, b) => {
    if (kind === 'keepalive') assert.deepEqual([...b], [0xff]);
    else if (kind === 'ike') assert.ok(b.length > 4 && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0);
    else assert.ok(b.length >= 8 && (b[0]! | b[1]! | b[2]! | b[3]!) !== 0);
  });
});

test('payloads that are none of the three', () => {
  expectDecodeError(() => classifyUdpEncap(new Uint8Array(0)), 'truncated', 'udp-encap');
  expectDecodeError(() => classifyUdpEncap(Uint8Array.of(0)), 'truncated', 'udp-encap');
  expectDecodeError(() => classifyUdpEncap(Uint8Array.of(0xff, 0xff)), 'truncated', 'udp-encap');
  expectDecodeError(() => classifyUdpEncap(new Uint8Array(4)), 'truncated', 'udp-encap'); // marker, no IKE
  expectDecodeError(() => classifyUdpEncap(Uint8Array.of(0, 0, 0, 1, 0, 0, 0)), 'truncated', 'udp-encap'); // ESP < 8
  assert.throws(() => buildMarkedIke(new Uint8Array(0)), RangeError);
});
