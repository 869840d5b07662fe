// IKEv2 wire codecs (RFC 7296 §3, RFC 7383 §2.5, RFC 7427 §3): bytes <-> typed values,
// no cryptography. See docs/ike.md ("Wire").
//
// Receiving:  decodeIkeHeader (peek: SPIs, version, exchange) -> decodeIkeMessage ->
//             the SK layer opens (src/ike/sk-protect.ts open(m.bytes,
//             encryptedPayloadOffset(m))) -> decodePayloads(nextPayload, inner).
// Sending:    encodePayloads(inner) gives { firstPayload, bytes } -> the SK layer seals
//             { prefix: encodeEncryptedPrefix(header, [], 'sk'), nextPayload: firstPayload,
//             inner: bytes }. Without that layer, encodeIkeMessage with { kind: 'sk',
//             nextPayload, body } gives the same bytes: the SK/SKF body is always the last
//             body.length bytes of the message, and the bytes before it are what the ICV /
//             AEAD associated data cover (RFC 7296 §3.14, RFC 5282 §5.1, RFC 7383 §2.5).
export * from './constants.js';
export type * from './types.js';
export { IKE_HEADER_BYTES, IKE_SPI_BYTES, IKE_MAJOR_VERSION, decodeIkeHeader } from './header.js';
export { encodeIkeMessage, decodeIkeMessage, encodeEncryptedPrefix, encryptedPayloadOffset } from './message.js';
export {
  GENERIC_HEADER_BYTES,
  IkeCriticalPayloadError,
  decodePayloads,
  encodePayloads,
  encodePayloadBody,
  payloadTypeOf,
  type DecodePayloadsOptions,
} from './chain.js';
export { CA_HASH_BYTES, NONCE_MAX_BYTES, NONCE_MIN_BYTES, PAYLOADS, caHashes, isKnownPayloadType } from './payloads.js';
export {
  decodeNotifyData,
  encodeNotifyData,
  findNotifies,
  findNotify,
  isTypedNotify,
  notifyPayload,
  type NotifyDataValues,
  type TypedNotifyType,
} from './notify.js';
export { cpAttribute, cpFormatOf, cpValue, type CpFormat, type CpValue } from './config.js';
export { idTypeOf } from './identity.js';
export { decodeSignatureAuthData, encodeSignatureAuthData, type SignatureAuthData } from './signature-auth.js';
