// The IKE header, RFC 7296 §3.1:
//
//   0..7   IKE SA Initiator's SPI      8..15  IKE SA Responder's SPI
//   16     Next Payload                17     MjVer (4 bits) | MnVer (4 bits)
//   18     Exchange Type               19     Flags: X X R V I X X X
//   20..23 Message ID                  24..27 Length (header + payloads, octets)
import { DecodeError } from '../errors.js';
import { bad, isBytes } from './codec.js';
import type { IkeHeader, IkeHeaderInfo } from './types.js';

export const IKE_HEADER_BYTES = 28;
export const IKE_SPI_BYTES = 8;
export const IKE_MAJOR_VERSION = 2;

const FLAG_INITIATOR = 0x08;
const FLAG_VERSION = 0x10;
const FLAG_RESPONSE = 0x20;

// Reads the 28 header bytes without judging them (any version, any length), so that a
// receiver can find the SA, or answer INVALID_MAJOR_VERSION (RFC 7296 §2.5), for a message
// it will not decode. Only 'truncated' when fewer than 28 bytes.
export function decodeIkeHeader(bytes: Uint8Array): IkeHeaderInfo {
  if (bytes.length < IKE_HEADER_BYTES) {
    throw new DecodeError('ike-header', 'truncated', `${bytes.length} bytes, the IKE header needs ${IKE_HEADER_BYTES}`);
  }
  const flags = bytes[19]!;
  return {
    // Copies into plain Uint8Arrays: Buffer.prototype.slice would return a view.
    initiatorSpi: new Uint8Array(bytes.subarray(0, 8)),
    responderSpi: new Uint8Array(bytes.subarray(8, 16)),
    nextPayload: bytes[16]!,
    majorVersion: bytes[17]! >> 4,
    minorVersion: bytes[17]! & 0x0f,
    exchangeType: bytes[18]!,
    // X bits: "MUST be cleared when sending and MUST be ignored on receipt".
    initiator: (flags & FLAG_INITIATOR) !== 0,
    higherVersion: (flags & FLAG_VERSION) !== 0,
    response: (flags & FLAG_RESPONSE) !== 0,
    messageId: ((bytes[20]! << 24) | (bytes[21]! << 16) | (bytes[22]! << 8) | bytes[23]!) >>> 0,
    length: ((bytes[24]! << 24) | (bytes[25]! << 16) | (bytes[26]! << 8) | bytes[27]!) >>> 0,
  };
}

function checkInt(name: string, v: unknown, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`ike header ${name}`, v, `must be an integer 0..${max}`);
}

// Writes the header for a message of `length` octets whose first payload is `nextPayload`.
export function writeIkeHeader(out: Uint8Array, h: IkeHeader, nextPayload: number, length: number): void {
  if (!isBytes(h.initiatorSpi) || h.initiatorSpi.length !== IKE_SPI_BYTES) bad('ike header initiatorSpi', h.initiatorSpi, 'must be 8 bytes');
  if (!isBytes(h.responderSpi) || h.responderSpi.length !== IKE_SPI_BYTES) bad('ike header responderSpi', h.responderSpi, 'must be 8 bytes');
  checkInt('exchangeType', h.exchangeType, 0xff);
  checkInt('messageId', h.messageId, 0xffff_ffff);
  checkInt('minorVersion', h.minorVersion ?? 0, 0x0f);
  checkInt('nextPayload', nextPayload, 0xff);
  checkInt('length', length, 0xffff_ffff);
  if (typeof h.initiator !== 'boolean' || typeof h.response !== 'boolean') bad('ike header flags', h.initiator, 'initiator and response must be booleans');
  out.set(h.initiatorSpi, 0);
  out.set(h.responderSpi, 8);
  out[16] = nextPayload;
  out[17] = (IKE_MAJOR_VERSION << 4) | (h.minorVersion ?? 0);
  out[18] = h.exchangeType;
  out[19] = (h.initiator ? FLAG_INITIATOR : 0) | (h.higherVersion === true ? FLAG_VERSION : 0) | (h.response ? FLAG_RESPONSE : 0);
  out[20] = h.messageId >>> 24;
  out[21] = (h.messageId >>> 16) & 0xff;
  out[22] = (h.messageId >>> 8) & 0xff;
  out[23] = h.messageId & 0xff;
  out[24] = length >>> 24;
  out[25] = (length >>> 16) & 0xff;
  out[26] = (length >>> 8) & 0xff;
  out[27] = length & 0xff;
}

// The checks a message must pass before its payloads are read: major version 2 (RFC 7296
// §3.1: a higher one gets INVALID_MAJOR_VERSION, see decodeIkeHeader) and a Length field
// equal to the datagram (one IKE message per UDP payload, RFC 7296 §2).
export function checkIkeHeader(h: IkeHeaderInfo, bytes: Uint8Array): void {
  if (h.majorVersion !== IKE_MAJOR_VERSION) {
    throw new DecodeError('ike-header', 'bad-version', `major version ${h.majorVersion}, IKEv2 is ${IKE_MAJOR_VERSION}`);
  }
  if (h.length < IKE_HEADER_BYTES) throw new DecodeError('ike-header', 'bad-length', `length ${h.length} < ${IKE_HEADER_BYTES}`);
  if (h.length > bytes.length) throw new DecodeError('ike-header', 'truncated', `length ${h.length} > ${bytes.length} bytes received`);
  if (h.length < bytes.length) throw new DecodeError('ike-header', 'bad-length', `length ${h.length} < ${bytes.length} bytes received`);
}
