// Whole IKE messages: header (header.ts) and payload chain (chain.ts). One message fills
// one UDP payload (port 500, or 4500 after the non-ESP marker, RFC 3948 §2.2).
import { bad, Writer } from './codec.js';
import { PayloadType } from './constants.js';
import { checkIkeHeader, decodeIkeHeader, IKE_HEADER_BYTES, writeIkeHeader } from './header.js';
import { decodePayloads, GENERIC_HEADER_BYTES, writePayloads } from './chain.js';
import type { DecodedIkeMessage, IkeHeader, IkeMessage, IkePayload } from './types.js';

// RangeError when a value cannot be sent. With an SK or SKF payload last, its body is the
// last body.length bytes of the result: a sender may encode with a zero-filled body of the
// final size, compute the ICV / AEAD over the bytes before it, and write the body in place.
export function encodeIkeMessage(m: IkeMessage): Uint8Array {
  const w = new Writer(512);
  w.zeros(IKE_HEADER_BYTES);
  const first = writePayloads(w, m.payloads);
  const out = w.result();
  writeIkeHeader(out, m.header, first, out.length);
  return out;
}

// DecodeError for anything malformed: 'bad-version' for a major version other than 2
// (decodeIkeHeader still reads such a header), 'bad-length'/'truncated' when the Length
// field is not the datagram's size, IkeCriticalPayloadError for an unknown critical
// payload. Payloads inside SK/SKF are decoded by decodePayloads once decrypted.
export function decodeIkeMessage(bytes: Uint8Array): DecodedIkeMessage {
  const info = decodeIkeHeader(bytes);
  checkIkeHeader(info, bytes);
  const { payloads, rawBodies } = decodePayloads(info.nextPayload, bytes.subarray(IKE_HEADER_BYTES), { allowEncrypted: true });
  const header = {
    initiatorSpi: info.initiatorSpi,
    responderSpi: info.responderSpi,
    exchangeType: info.exchangeType,
    initiator: info.initiator,
    response: info.response,
    messageId: info.messageId,
    higherVersion: info.higherVersion,
    minorVersion: info.minorVersion,
  };
  return { header, payloads, bytes, rawBodies };
}

const SKF_FIELDS_BYTES = 4; // Fragment Number, Total Fragments (RFC 7383 §2.5)

// Everything of a protected message before its SK (or SKF) payload: the IKE header and
// the unencrypted payloads `before` (usually none), the last Next Payload announcing SK
// (46) or SKF (53). The Length field holds the prefix's own length; the SK layer
// (src/ike/sk-protect.ts, seal's `prefix`) rewrites it for the whole message.
export function encodeEncryptedPrefix(header: IkeHeader, before: readonly IkePayload[], kind: 'sk' | 'skf'): Uint8Array {
  if (kind !== 'sk' && kind !== 'skf') bad('encrypted payload kind', kind, "must be 'sk' or 'skf'");
  if (before.some((p) => p.kind === 'sk' || p.kind === 'skf')) throw new RangeError('the payloads before SK/SKF cannot be encrypted ones');
  const w = new Writer(128);
  w.zeros(IKE_HEADER_BYTES);
  const first = writePayloads(w, before, 'payloads', kind === 'sk' ? PayloadType.SK : PayloadType.SKF);
  const out = w.result();
  writeIkeHeader(out, header, first, out.length);
  return out;
}

// Offset in m.bytes of the SK/SKF payload's generic header (src/ike/sk-protect.ts open's
// `skOffset`), or undefined when the message has no encrypted payload. RFC 7296 §3.14:
// it is the last payload, so its body ends the message.
export function encryptedPayloadOffset(m: DecodedIkeMessage): number | undefined {
  const last = m.payloads[m.payloads.length - 1];
  if (last?.kind === 'sk') return m.bytes.length - last.body.length - GENERIC_HEADER_BYTES;
  if (last?.kind === 'skf') return m.bytes.length - last.body.length - GENERIC_HEADER_BYTES - SKF_FIELDS_BYTES;
  return undefined;
}
