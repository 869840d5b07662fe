// Authentication Data of the Digital Signature method (Auth Method 14), RFC 7427 §3:
//
//   ASN.1 Length (1) | AlgorithmIdentifier (DER, ASN.1 Length octets) | Signature Value
//
// The AlgorithmIdentifier is kept as its DER bytes: RFC 7427 Appendix A lists the exact
// encodings peers send, and the IKE core compares against those.
import { field, hidden, restBytes, sizedBytes, struct, uint, decodeWith, encodeWith, isBytes } from './codec.js';

export interface SignatureAuthData {
  readonly algorithmIdentifier: Uint8Array; // 1..255 bytes
  readonly signature: Uint8Array; // at least 1 byte
}

const signatureAuthData = struct<SignatureAuthData>([
  hidden<SignatureAuthData>('asn1Length', uint(1, 1, 255), (v) => (isBytes(v.algorithmIdentifier) ? v.algorithmIdentifier.length : 0)),
  field('algorithmIdentifier', sizedBytes('asn1Length')),
  field('signature', restBytes(1)),
]);

// DecodeError ('ike-auth') when the data does not have this layout.
export function decodeSignatureAuthData(data: Uint8Array): SignatureAuthData {
  return decodeWith(signatureAuthData, 'ike-auth', data);
}

export function encodeSignatureAuthData(v: SignatureAuthData): Uint8Array {
  return encodeWith(signatureAuthData, 'signature auth data', v);
}
