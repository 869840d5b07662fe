import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  buildEspTrailer,
  decodeEspHeader,
  encodeEspHeader,
  espPaddingLength,
  parseEspTrailer,
  readEspSequence,
  readEspSpi,
  writeEspTrailer,
} from '../../src/wire/esp.js';
import { arbBytes, expectDecodeError, fromHex, fuzzDecoder, hex, offsetCopy, RUNS, u32 } from './fuzz.js';

function vectors<T>(name: string): T[] {
  return (JSON.parse(readFileSync(new URL(`../../../test/vectors/${name}`, import.meta.url), 'utf8')) as { cases: T[] }).cases;
}

test('ESP header round-trips; SPI 0 is refused (RFC 4303 §2.1)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 0xffffffff }), u32(), arbBytes(0, 20), (spi, seq, rest) => {
      const h = encodeEspHeader({ spi, sequenceNumber: seq });
      const pkt = offsetCopy(Uint8Array.from([...h, ...rest]));
      assert.deepEqual(decodeEspHeader(pkt), { spi, sequenceNumber: seq });
      assert.equal(readEspSpi(pkt), spi);
      assert.equal(readEspSequence(pkt), seq);
      assert.deepEqual(encodeEspHeader(decodeEspHeader(pkt)), h);
    }),
    { numRuns: RUNS },
  );
  expectDecodeError(() => decodeEspHeader(new Uint8Array(8)), 'bad-value', 'esp');
  expectDecodeError(() => readEspSpi(Uint8Array.of(0, 0, 1, 0, 0, 0, 0)), 'truncated', 'esp');
  expectDecodeError(() => readEspSequence(new Uint8Array(7)), 'truncated', 'esp');
  assert.throws(() => encodeEspHeader({ spi: 0, sequenceNumber: 1 }), RangeError);
  assert.throws(() => encodeEspHeader({ spi: 1, sequenceNumber: 2 ** 32 }), RangeError);
});

test('fuzz: ESP header and trailer decoders return a value or DecodeError', () => {
  fuzzDecoder(decodeEspHeader, fc.tuple(fc.integer({ min: 1, max: 0xffffffff }), u32()).map(([spi, s]) => encodeEspHeader({ spi, sequenceNumber: s })), (h) => {
    assert.ok(h.spi > 0 && h.spi <= 0xffffffff && h.sequenceNumber >= 0 && h.sequenceNumber <= 0xffffffff);
  });
  const arbPlain = fc.tuple(arbBytes(0, 40), fc.constantFrom(1, 4, 8, 16), fc.integer({ min: 0, max: 255 })).map(([p, b, nh]) =>
    Uint8Array.from([...p, ...buildEspTrailer(p.length, b, nh)]),
  );
  fuzzDecoder((b) => parseEspTrailer(b), arbPlain, (t, input) => {
    assert.equal(t.payloadLength + t.padLength + 2, input.length);
    for (let i = 0; i < t.padLength; i++) assert.equal(input[t.payloadLength + i], i + 1);
  });
});

test('padding edge cases: block sizes 1, 4, 8, 16 and payloads 0..64', () => {
  for (const block of [1, 4, 8, 16]) {
    const align = Math.max(block, 4); // RFC 4303 §2.4: 4-byte alignment at least
    for (let payload = 0; payload <= 64; payload++) {
      // the smallest k with (payload + k + 2) a multiple of align, found by counting up
      let k = 0;
      while ((payload + k + 2) % align !== 0) k++;
      const pad = espPaddingLength(payload, block);
      assert.equal(pad, k, `block ${block} payload ${payload}`);
      const trailer = buildEspTrailer(payload, block, 4);
      assert.equal(trailer.length, pad + 2);
      assert.deepEqual([...trailer.subarray(0, pad)], Array.from({ length: pad }, (_, i) => i + 1));
      assert.deepEqual([trailer[pad], trailer[pad + 1]], [pad, 4]);
      const plaintext = Uint8Array.from([...new Uint8Array(payload).fill(0xab), ...trailer]);
      assert.equal(plaintext.length % align, 0);
      const t = parseEspTrailer(plaintext);
      assert.deepEqual([t.payloadLength, t.padLength, t.nextHeader, t.isDummy], [payload, pad, 4, false]);
    }
  }
  assert.equal(espPaddingLength(0, 256), 254);
  assert.throws(() => espPaddingLength(1, 0), RangeError);
  assert.throws(() => espPaddingLength(1, 257), RangeError);
  assert.throws(() => espPaddingLength(-1, 4), RangeError);
});

test('trailer: non-monotonic padding is bad-padding, wherever the wrong byte is', () => {
  fc.assert(
    fc.property(arbBytes(0, 30), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (payload, padLength, at, delta) => {
      const out = new Uint8Array(payload.length + padLength + 2);
      out.set(payload);
      writeEspTrailer(out, payload.length, padLength, 17);
      assert.equal(parseEspTrailer(out).payloadLength, payload.length);
      const i = payload.length + (at % padLength);
      out[i] = (out[i]! + delta) & 0xff; // any other value
      const e = expectDecodeError(() => parseEspTrailer(out), 'bad-padding', 'esp-trailer');
      assert.match(e.message, /padding byte/);
    }),
    { numRuns: RUNS },
  );
});

test('trailer: pad length larger than what precedes it is bad-length; short input is truncated', () => {
  expectDecodeError(() => parseEspTrailer(Uint8Array.of(4)), 'truncated', 'esp-trailer');
  expectDecodeError(() => parseEspTrailer(new Uint8Array(0)), 'truncated', 'esp-trailer');
  expectDecodeError(() => parseEspTrailer(Uint8Array.of(1, 4)), 'bad-length', 'esp-trailer'); // pad 1, nothing before
  expectDecodeError(() => parseEspTrailer(Uint8Array.of(1, 2, 3, 4, 17)), 'bad-length', 'esp-trailer');
  assert.deepEqual({ ...parseEspTrailer(Uint8Array.of(1, 2, 3, 3, 17)) }, { payloadLength: 0, padLength: 3, nextHeader: 17, isDummy: false });
  fc.assert(
    fc.property(arbBytes(0, 20), fc.integer({ min: 0, max: 255 }), (before, padLength) => {
      const pt = Uint8Array.from([...before, padLength, 6]);
      if (padLength > before.length) expectDecodeError(() => parseEspTrailer(pt), 'bad-length', 'esp-trailer');
    }),
    { numRuns: RUNS },
  );
});

test('next header 59 marks a dummy packet (RFC 4303 §2.6); the out object is reused', () => {
  const out = { payloadLength: -1, padLength: -1, nextHeader: -1, isDummy: false };
  const t = parseEspTrailer(Uint8Array.from([9, 9, 9, 9, ...buildEspTrailer(4, 4, 59)]), out);
  assert.equal(t, out);
  assert.deepEqual({ ...t }, { payloadLength: 4, padLength: 2, nextHeader: 59, isDummy: true });
});

interface CbcCase { name: string; data: string; originalIpHeader: string; padding: string; padLength: string; nextHeader: string; preEncryption: string; spiSeq: string; mode: string }
interface GcmCase { name: string; seq: string; spi: string; plaintext: string; packet: string }
interface ChachaCase { name: string; spi: string; seq: number; sourcePacket: string; plaintext: string; espPacket: string }

test('RFC 3602 §4 ESP plaintexts: trailer parsed and rebuilt (block 16)', () => {
  const cases = vectors<CbcCase>('esp-aes-cbc.json');
  assert.ok(cases.length >= 4);
  for (const c of cases) {
    const payload = c.mode === 'tunnel' ? c.originalIpHeader + c.data : c.data;
    const t = parseEspTrailer(fromHex(c.preEncryption));
    assert.equal(t.payloadLength, payload.length / 2, c.name);
    assert.equal(t.padLength, parseInt(c.padLength, 16));
    assert.equal(t.nextHeader, parseInt(c.nextHeader, 16));
    assert.equal(hex(buildEspTrailer(t.payloadLength, 16, t.nextHeader)), c.padding + c.padLength + c.nextHeader, c.name);
    const h = decodeEspHeader(fromHex(c.spiSeq));
    assert.equal(h.spi, parseInt(c.spiSeq.slice(0, 8), 16));
    assert.equal(h.sequenceNumber, parseInt(c.spiSeq.slice(8, 16), 16));
  }
});

test('draft-mcgrew-gcm-test-01 and RFC 7634 ESP packets: header and trailer (4-byte alignment)', () => {
  const gcm = vectors<GcmCase>('esp-aes-gcm.json');
  assert.ok(gcm.length >= 10);
  for (const c of gcm) {
    const pt = fromHex(c.plaintext);
    const t = parseEspTrailer(pt);
    assert.equal(hex(buildEspTrailer(t.payloadLength, 1, t.nextHeader)), hex(pt.subarray(t.payloadLength)), c.name);
    if (parseInt(c.spi, 16) === 0) {
      // case 4 uses SPI 0, which RFC 4303 §2.1 forbids on the wire: we refuse it
      expectDecodeError(() => decodeEspHeader(fromHex(c.packet)), 'bad-value', 'esp');
      continue;
    }
    const h = decodeEspHeader(fromHex(c.packet));
    assert.equal(h.spi, parseInt(c.spi, 16));
    assert.equal(h.sequenceNumber, parseInt(c.seq.slice(-8), 16), c.name); // low 32 bits of an ESN
  }
  for (const c of vectors<ChachaCase>('esp-chacha20-poly1305.json')) {
    const pt = fromHex(c.plaintext);
    const t = parseEspTrailer(pt);
    assert.equal(hex(pt.subarray(0, t.payloadLength)), c.sourcePacket);
    assert.equal(t.nextHeader, 4); // tunnel mode, inner IPv4
    assert.equal(hex(buildEspTrailer(t.payloadLength, 1, 4)), hex(pt.subarray(t.payloadLength)));
    const esp = fromHex(c.espPacket).subarray(20); // after the outer IPv4 header
    assert.deepEqual(decodeEspHeader(esp), { spi: parseInt(c.spi, 16), sequenceNumber: c.seq });
  }
});
