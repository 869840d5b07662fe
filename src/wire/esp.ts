// ESP framing (RFC 4303): the header (SPI and the low 32 bits of the sequence number, §2)
// and the trailer inside the encrypted part (Padding, Pad Length, Next Header, §2.4-2.6).
// The IV and ICV sizes depend on the algorithm and belong to the crypto/ipsec layers.
import { DecodeError } from './errors.js';

export const ESP_HEADER_BYTES = 8; // SPI + Sequence Number (RFC 4303 §2)
export const ESP_TRAILER_MIN_BYTES = 2; // Pad Length + Next Header
export const ESP_NEXT_HEADER_NONE = 59; // dummy packet (RFC 4303 §2.6): drop silently

export interface EspHeader {
  readonly spi: number; // uint32, never 0
  readonly sequenceNumber: number; // low 32 bits (the high half of an ESN is not sent, §2.2.1)
}

// Decodes the 8-byte header at the start of `packet`. SPI 0 is reserved for local use and
// MUST NOT be sent (RFC 4303 §2.1): 'bad-value'. SPIs 1..255 are IANA-reserved but simply
// never match an SA, so they decode.
export function decodeEspHeader(packet: Uint8Array): EspHeader {
  return { spi: readEspSpi(packet), sequenceNumber: readEspSequence(packet) };
}

// The SPI alone, for the per-packet SA lookup (no object). Checks the whole header length.
export function readEspSpi(packet: Uint8Array): number {
  if (packet.length < ESP_HEADER_BYTES) {
    throw new DecodeError('esp', 'truncated', `${packet.length} bytes, header needs ${ESP_HEADER_BYTES}`);
  }
  const spi = ((packet[0]! << 24) | (packet[1]! << 16) | (packet[2]! << 8) | packet[3]!) >>> 0;
  if (spi === 0) throw new DecodeError('esp', 'bad-value', 'SPI 0 (reserved, RFC 4303 §2.1)');
  return spi;
}

export function readEspSequence(packet: Uint8Array): number {
  if (packet.length < ESP_HEADER_BYTES) {
    throw new DecodeError('esp', 'truncated', `${packet.length} bytes, header needs ${ESP_HEADER_BYTES}`);
  }
  return ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
}

export function writeEspHeader(out: Uint8Array, offset: number, spi: number, sequenceLow: number): void {
  if (!Number.isInteger(spi) || spi < 1 || spi > 0xffffffff) throw new RangeError(`esp SPI ${spi} not in 1..2^32-1`);
  if (!Number.isInteger(sequenceLow) || sequenceLow < 0 || sequenceLow > 0xffffffff) {
    throw new RangeError(`esp sequence ${sequenceLow} not a uint32`);
  }
  if (offset < 0 || offset + ESP_HEADER_BYTES > out.length) throw new RangeError('esp header does not fit the output buffer');
  out[offset] = spi >>> 24;
  out[offset + 1] = (spi >>> 16) & 0xff;
  out[offset + 2] = (spi >>> 8) & 0xff;
  out[offset + 3] = spi & 0xff;
  out[offset + 4] = sequenceLow >>> 24;
  out[offset + 5] = (sequenceLow >>> 16) & 0xff;
  out[offset + 6] = (sequenceLow >>> 8) & 0xff;
  out[offset + 7] = sequenceLow & 0xff;
}

export function encodeEspHeader(h: EspHeader): Uint8Array {
  const out = new Uint8Array(ESP_HEADER_BYTES);
  writeEspHeader(out, 0, h.spi, h.sequenceNumber);
  return out;
}

// Padding bytes needed after `payloadBytes` so that payload + padding + 2 is a multiple of
// max(blockBytes, 4): the cipher's block size, and always 4-byte alignment of the ICV
// (RFC 4303 §2.4). blockBytes 1 (stream ciphers, AEADs like GCM) gives 4-byte alignment.
export function espPaddingLength(payloadBytes: number, blockBytes: number): number {
  if (!Number.isInteger(payloadBytes) || payloadBytes < 0) throw new RangeError(`esp payload length ${payloadBytes}`);
  // Pad Length is one byte: alignments above 256 could need more than 255 bytes.
  if (!Number.isInteger(blockBytes) || blockBytes < 1 || blockBytes > 256) {
    throw new RangeError(`esp block size ${blockBytes} not in 1..256`);
  }
  const align = blockBytes < 4 ? 4 : blockBytes;
  const rem = (payloadBytes + ESP_TRAILER_MIN_BYTES) % align;
  return rem === 0 ? 0 : align - rem;
}

// Writes Padding (1, 2, 3, ... RFC 4303 §2.4 default), Pad Length and Next Header at
// out[offset..]; returns the offset after them.
export function writeEspTrailer(out: Uint8Array, offset: number, padLength: number, nextHeader: number): number {
  if (!Number.isInteger(padLength) || padLength < 0 || padLength > 255) throw new RangeError(`esp pad length ${padLength}`);
  if (!Number.isInteger(nextHeader) || nextHeader < 0 || nextHeader > 255) throw new RangeError(`esp next header ${nextHeader}`);
  const end = offset + padLength + ESP_TRAILER_MIN_BYTES;
  if (offset < 0 || end > out.length) throw new RangeError('esp trailer does not fit the output buffer');
  for (let i = 0; i < padLength; i++) out[offset + i] = i + 1;
  out[end - 2] = padLength;
  out[end - 1] = nextHeader;
  return end;
}

// The trailer for a payload of payloadBytes, as a new array.
export function buildEspTrailer(payloadBytes: number, blockBytes: number, nextHeader: number): Uint8Array {
  const pad = espPaddingLength(payloadBytes, blockBytes);
  const out = new Uint8Array(pad + ESP_TRAILER_MIN_BYTES);
  writeEspTrailer(out, 0, pad, nextHeader);
  return out;
}

export interface EspTrailer {
  payloadLength: number; // bytes of the protected payload at the start of the plaintext
  padLength: number;
  nextHeader: number;
  // Next Header 59: a dummy packet for traffic flow confidentiality (RFC 4303 §2.6);
  // the receiver discards it silently.
  isDummy: boolean;
}

// Parses the trailer at the end of the decrypted `plaintext` (payload, padding, Pad Length,
// Next Header; IV and ICV already removed). Checks that Pad Length fits ('bad-length') and
// that the padding is 1, 2, 3, ... ('bad-padding', RFC 4303 §2.4: other values are not the
// default scheme this implementation sends or accepts). Pass `out` to reuse an object.
export function parseEspTrailer(plaintext: Uint8Array, out?: EspTrailer): EspTrailer {
  const n = plaintext.length;
  if (n < ESP_TRAILER_MIN_BYTES) {
    throw new DecodeError('esp-trailer', 'truncated', `${n} bytes, trailer needs ${ESP_TRAILER_MIN_BYTES}`);
  }
  const padLength = plaintext[n - 2]!;
  const nextHeader = plaintext[n - 1]!;
  const payloadLength = n - ESP_TRAILER_MIN_BYTES - padLength;
  if (payloadLength < 0) {
    throw new DecodeError('esp-trailer', 'bad-length', `pad length ${padLength} > ${n - ESP_TRAILER_MIN_BYTES} bytes available`);
  }
  for (let i = 0; i < padLength; i++) {
    if (plaintext[payloadLength + i] !== i + 1) {
      throw new DecodeError('esp-trailer', 'bad-padding', `padding byte ${i + 1} of ${padLength} is ${plaintext[payloadLength + i]}`);
    }
  }
  const r = out ?? { payloadLength: 0, padLength: 0, nextHeader: 0, isDummy: false };
  r.payloadLength = payloadLength;
  r.padLength = padLength;
  r.nextHeader = nextHeader;
  r.isDummy = nextHeader === ESP_NEXT_HEADER_NONE;
  return r;
}
