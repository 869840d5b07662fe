// Protection of IKE messages: sealing and opening the Encrypted payload SK (RFC 7296
// §3.14) and the Encrypted Fragment payload SKF (RFC 7383 §2.5), on plain byte arrays
// with explicit offsets, so it depends on no message codec.
//
// Layout of the protected payload (all of it after the generic header is what SK/SKF
// adds around the inner payload chain):
//   SK:  Next Payload | C+RESERVED | Payload Length | IV | encrypted(inner | Padding | Pad Length) | ICV
//   SKF: the same with Fragment Number (2 octets) | Total Fragments (2 octets) after the
//        generic header (RFC 7383 §2.5).
// Two families of ciphers:
//   - a plain block cipher (AES-CBC) with an integrity transform: random IV of one block
//     (RFC 7296 §3.14), plaintext padded to the block size, ICV = truncated MAC "of the
//     entire message starting with the Fixed IKE header through the Pad Length",
//     computed over the ciphertext (encrypt-then-MAC);
//   - an AEAD (AES-GCM RFC 5282, ChaCha20-Poly1305 RFC 7634): 8-octet explicit IV, nonce
//     salt | IV (RFC 5282 §4, RFC 7634 §2), no padding needed, and the associated data is
//     the message "from the first octet of the Fixed IKE Header through the last octet of
//     the Encrypted Payload header" (RFC 5282 §5.1); for SKF that header ends with the
//     Total Fragments field (RFC 7383 §2.5).
// The IKE header's Length field is covered by the ICV/AAD, so seal writes the final
// message length into it; open requires it to equal the message length.
import {
  CryptoError,
  CryptoErrorCode,
  ENCR,
  randomBytes,
  type EncryptionContext,
  type EncryptionTransform,
  type IntegrityContext,
  type IntegrityTransform,
} from '../crypto/index.js';
import type { IkeSaKeys } from './kdf.js';

// RFC 7296 §3.1: the fixed IKE header is 28 octets; Length is its last 4.
export const IKE_HEADER_BYTES = 28;
const IKE_LENGTH_OFFSET = 24;
// RFC 7296 §3.2 generic payload header; RFC 7383 §2.5 adds 4 octets for SKF.
const SK_HEADER_BYTES = 4;
const SKF_HEADER_BYTES = 8;
const PAYLOAD_LENGTH_MAX = 0xffff;
const MESSAGE_LENGTH_MAX = 0xffff_ffff;
const FRAGMENT_NUMBER_MAX = 0xffff;
const PAD_LENGTH_BYTES = 1;

// Why open() refused a message. Stable strings (counter names "drop.ike.sk.<reason>"),
// named like src/wire/errors.ts DecodeErrorReason where the meaning is the same.
export type SkDropReason =
  | 'truncated' // the message ends before the SK/SKF header or the payload its length declares
  | 'bad-length' // IKE header Length, SK payload length or ciphertext size inconsistent
  | 'bad-value' // SKF Fragment Number / Total Fragments out of range (RFC 7383 §2.5)
  | 'bad-icv' // integrity check (MAC or AEAD tag) failed: wrong key, tampering or corruption
  | 'bad-padding'; // Pad Length larger than the decrypted data (RFC 7296 §3.14)

export const SK_DROP_REASONS: readonly SkDropReason[] = ['truncated', 'bad-length', 'bad-value', 'bad-icv', 'bad-padding'];

export interface SkDrop {
  readonly ok: false;
  readonly reason: SkDropReason;
  readonly detail: string; // for logs; never contains key or plaintext bytes
}

export interface SkOpened {
  readonly ok: true;
  // The SK generic header's Next Payload: the type of the first inner payload (0: none).
  readonly nextPayload: number;
  // The inner payload chain, padding and Pad Length removed.
  readonly inner: Buffer;
}

export interface SkfOpened extends SkOpened {
  readonly fragmentNumber: number; // 1-based
  readonly totalFragments: number;
}

export type SkOpenResult = SkOpened | SkDrop;
export type SkfOpenResult = SkfOpened | SkDrop;

export interface SkSealInput {
  // Everything before the SK/SKF payload: the IKE header and any unencrypted payloads
  // (RFC 7296 §3.14: the Encrypted payload is the last one). The Next Payload field that
  // announces SK (46) or SKF (53) must already be set; the Length field is rewritten.
  readonly prefix: Uint8Array;
  // Next Payload of the SK/SKF header: the type of the first inner payload, 0 for an
  // empty SK (e.g. a liveness check). RFC 7383 §2.5: 0 in every fragment but the first.
  readonly nextPayload: number;
  // The inner payload chain (plaintext).
  readonly inner: Uint8Array;
  // Explicit IV, for test vectors only: a reused IV breaks AES-GCM and ChaCha20-Poly1305,
  // and a predictable one breaks CBC. Omit it and a fresh one is made.
  readonly iv?: Uint8Array;
}

export interface SkfSealInput extends SkSealInput {
  readonly fragmentNumber: number; // 1..totalFragments
  readonly totalFragments: number; // 1..65535
}

export interface SkProtectorConfig {
  readonly encr: EncryptionTransform;
  readonly integ: IntegrityTransform | null; // null with an AEAD cipher
  readonly encrKey: Uint8Array; // SK_ei or SK_er (cipher key | salt for AEADs)
  readonly integKey: Uint8Array | null; // SK_ai or SK_ar; null with an AEAD cipher
}

// One direction of an IKE SA: keys imported once, then seal/open per message.
export interface SkProtector {
  readonly encr: EncryptionTransform;
  readonly integ: IntegrityTransform | null;
  seal(input: SkSealInput): Buffer;
  open(message: Uint8Array, skOffset: number): SkOpenResult;
  sealFragment(input: SkfSealInput): Buffer;
  openFragment(message: Uint8Array, skfOffset: number): SkfOpenResult;
  // Octets an SK (fragment: SKF) payload takes around `innerBytes` of inner payloads,
  // generic header included; for sizing messages and fragments (RFC 7383 §2.5.1).
  payloadBytes(innerBytes: number, fragment?: boolean): number;
  // The largest inner chain whose SK (SKF) payload fits in `payloadBytes` octets; -1 if
  // not even an empty one fits.
  maxInnerBytes(payloadBytes: number, fragment?: boolean): number;
}

function badArgument(message: string): CryptoError {
  return new CryptoError(CryptoErrorCode.BAD_ARGUMENT, message);
}

function drop(reason: SkDropReason, detail: string): SkDrop {
  return { ok: false, reason, detail };
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xff;
}

class Protector implements SkProtector {
  private readonly cipher: EncryptionContext;
  private readonly mac: IntegrityContext | null;
  // RFC 7296 §3.14 / RFC 5282 §3: CBC pads to its block; an AEAD needs no padding.
  private readonly align: number;
  private readonly icvBytes: number;
  // AEAD IVs: RFC 5282 §3.1 and RFC 7634 §2 require an IV never repeated under one key.
  // A 64-bit counter per protector (one per key and direction) guarantees that; it starts
  // at a random value so that a protector re-created for the same keys does not restart
  // from a known point.
  private ivCounter: bigint;

  constructor(
    readonly encr: EncryptionTransform,
    readonly integ: IntegrityTransform | null,
    encrKey: Uint8Array,
    integKey: Uint8Array | null,
  ) {
    if (encr.id === ENCR.NULL) {
      throw badArgument('ENCR_NULL is not allowed for IKE (IANA IKEv2 Transform Type 1)');
    }
    if (encr.aead) {
      if (integ !== null || integKey !== null) {
        throw badArgument(`${encr.name} is an AEAD cipher: no integrity transform or key may be given (RFC 5282 §8)`);
      }
    } else if (integ === null || integKey === null) {
      throw badArgument(`${encr.name} needs an integrity transform and key (RFC 7296 §3.14)`);
    }
    this.cipher = encr.createContext(encrKey);
    this.mac = integ === null || integKey === null ? null : integ.createContext(integKey);
    this.align = encr.aead ? 1 : encr.blockBytes;
    this.icvBytes = encr.aead ? encr.icvBytes : (integ?.icvBytes ?? 0);
    this.ivCounter = randomBytes(8).readBigUInt64BE(0);
  }

  payloadBytes(innerBytes: number, fragment = false): number {
    const header = fragment ? SKF_HEADER_BYTES : SK_HEADER_BYTES;
    return header + this.encr.ivBytes + this.paddedBytes(innerBytes) + this.icvBytes;
  }

  maxInnerBytes(payloadBytes: number, fragment = false): number {
    const header = fragment ? SKF_HEADER_BYTES : SK_HEADER_BYTES;
    const body = payloadBytes - header - this.encr.ivBytes - this.icvBytes;
    const aligned = body - (body % this.align);
    return aligned < PAD_LENGTH_BYTES ? -1 : aligned - PAD_LENGTH_BYTES;
  }

  seal(input: SkSealInput): Buffer {
    return this.sealPayload(input, SK_HEADER_BYTES, null);
  }

  sealFragment(input: SkfSealInput): Buffer {
    const { fragmentNumber, totalFragments } = input;
    if (!Number.isInteger(totalFragments) || totalFragments < 1 || totalFragments > FRAGMENT_NUMBER_MAX) {
      throw badArgument(`SKF: Total Fragments must be 1..${FRAGMENT_NUMBER_MAX}, got ${totalFragments}`);
    }
    if (!Number.isInteger(fragmentNumber) || fragmentNumber < 1 || fragmentNumber > totalFragments) {
      throw badArgument(`SKF: Fragment Number must be 1..${totalFragments}, got ${fragmentNumber} (RFC 7383 §2.5)`);
    }
    return this.sealPayload(input, SKF_HEADER_BYTES, { fragmentNumber, totalFragments });
  }

  open(message: Uint8Array, skOffset: number): SkOpenResult {
    const r = this.openPayload(message, skOffset, SK_HEADER_BYTES);
    if (!r.ok) return r;
    return { ok: true, nextPayload: r.nextPayload, inner: r.inner };
  }

  openFragment(message: Uint8Array, skfOffset: number): SkfOpenResult {
    return this.openPayload(message, skfOffset, SKF_HEADER_BYTES);
  }

  private paddedBytes(innerBytes: number): number {
    const unpadded = innerBytes + PAD_LENGTH_BYTES;
    return unpadded + ((this.align - (unpadded % this.align)) % this.align);
  }

  private nextIv(): Buffer {
    if (!this.encr.aead) return randomBytes(this.encr.ivBytes);
    const iv = Buffer.alloc(this.encr.ivBytes);
    iv.writeBigUInt64BE(this.ivCounter, 0);
    this.ivCounter = (this.ivCounter + 1n) & 0xffff_ffff_ffff_ffffn;
    return iv;
  }

  private sealPayload(
    input: SkSealInput,
    headerBytes: number,
    fragment: { fragmentNumber: number; totalFragments: number } | null,
  ): Buffer {
    const { prefix, inner, nextPayload } = input;
    if (prefix.length < IKE_HEADER_BYTES) {
      throw badArgument(`SK: the prefix must hold at least the ${IKE_HEADER_BYTES}-octet IKE header, got ${prefix.length} octets`);
    }
    if (!isByte(nextPayload)) throw badArgument(`SK: Next Payload must be 0..255, got ${nextPayload}`);
    const iv = input.iv ?? this.nextIv();
    if (iv.length !== this.encr.ivBytes) {
      throw new CryptoError(CryptoErrorCode.IV_LENGTH, `SK: ${this.encr.name} needs a ${this.encr.ivBytes}-octet IV, got ${iv.length}`);
    }
    const bodyBytes = this.paddedBytes(inner.length);
    const padBytes = bodyBytes - inner.length - PAD_LENGTH_BYTES;
    const payloadBytes = headerBytes + iv.length + bodyBytes + this.icvBytes;
    if (payloadBytes > PAYLOAD_LENGTH_MAX) {
      throw badArgument(
        `SK: ${inner.length} octets of inner payloads make a ${payloadBytes}-octet payload, over the ${PAYLOAD_LENGTH_MAX} a ` +
          'Payload Length can say; fragment the message (RFC 7383)',
      );
    }
    const total = prefix.length + payloadBytes;
    if (total > MESSAGE_LENGTH_MAX) throw badArgument(`SK: message of ${total} octets is too long`);

    const out = Buffer.alloc(total);
    out.set(prefix, 0);
    out.writeUInt32BE(total, IKE_LENGTH_OFFSET);
    const at = prefix.length;
    out[at] = nextPayload;
    out[at + 1] = 0; // Critical bit 0 for payloads of RFC 7296 (§3.2), RESERVED 0
    out.writeUInt16BE(payloadBytes, at + 2);
    if (fragment !== null) {
      out.writeUInt16BE(fragment.fragmentNumber, at + 4);
      out.writeUInt16BE(fragment.totalFragments, at + 6);
    }
    const ivAt = at + headerBytes;
    out.set(iv, ivAt);
    const bodyAt = ivAt + iv.length;
    // Padding is zeros ("MAY contain any value chosen by the sender", RFC 7296 §3.14),
    // the minimum the block needs, as the sender SHOULD.
    const trailer = Buffer.alloc(padBytes + PAD_LENGTH_BYTES);
    trailer[padBytes] = padBytes;
    if (this.encr.aead) {
      this.cipher.encryptTo(iv, out.subarray(0, ivAt), [inner, trailer], out, bodyAt);
    } else {
      this.cipher.encryptTo(iv, Buffer.alloc(0), [inner, trailer], out, bodyAt);
      const icvAt = bodyAt + bodyBytes;
      // `mac` is set for every non-AEAD cipher (checked in the constructor).
      out.set((this.mac as IntegrityContext).compute(out.subarray(0, icvAt)), icvAt);
    }
    return out;
  }

  private openPayload(message: Uint8Array, offset: number, headerBytes: number): SkfOpenResult {
    if (!Number.isInteger(offset) || offset < IKE_HEADER_BYTES) {
      // The offset comes from the caller's own parse of the payload chain.
      throw badArgument(`SK: payload offset must be an integer >= ${IKE_HEADER_BYTES}, got ${offset}`);
    }
    if (message.length < offset + headerBytes) {
      return drop('truncated', `message of ${message.length} octets ends inside the payload header at ${offset}`);
    }
    const view = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const declaredTotal = view.readUInt32BE(IKE_LENGTH_OFFSET);
    if (declaredTotal !== view.length) {
      return drop('bad-length', `IKE header Length ${declaredTotal} but the message has ${view.length} octets`);
    }
    const payloadBytes = view.readUInt16BE(offset + 2);
    const end = offset + payloadBytes;
    if (end > view.length) return drop('truncated', `payload length ${payloadBytes} runs past the message end`);
    if (end < view.length) {
      return drop('bad-length', `payload ends at ${end} of ${view.length}: the Encrypted payload must be last (RFC 7296 §3.14)`);
    }
    let fragmentNumber = 1;
    let totalFragments = 1;
    if (headerBytes === SKF_HEADER_BYTES) {
      fragmentNumber = view.readUInt16BE(offset + 4);
      totalFragments = view.readUInt16BE(offset + 6);
      if (totalFragments < 1 || fragmentNumber < 1 || fragmentNumber > totalFragments) {
        return drop('bad-value', `Fragment Number ${fragmentNumber} of Total Fragments ${totalFragments} (RFC 7383 §2.5)`);
      }
    }
    const ivAt = offset + headerBytes;
    const bodyAt = ivAt + this.encr.ivBytes;
    const icvAt = end - this.icvBytes;
    const bodyBytes = icvAt - bodyAt;
    if (bodyBytes < PAD_LENGTH_BYTES || bodyBytes % this.align !== 0) {
      return drop(
        'bad-length',
        `${bodyBytes} octets of ciphertext: ${this.encr.name} needs a positive multiple of ${this.align} (RFC 7296 §3.14)`,
      );
    }
    const iv = view.subarray(ivAt, bodyAt);
    let plaintext: Buffer;
    if (this.encr.aead) {
      const opened = this.cipher.decrypt(iv, view.subarray(0, ivAt), view.subarray(bodyAt, end));
      if (opened === null) return drop('bad-icv', `${this.encr.name} tag does not verify`);
      plaintext = opened;
    } else {
      // Encrypt-then-MAC: authenticate before decrypting, so the padding of an
      // unauthenticated message is never looked at. verify() compares in constant time.
      if (!(this.mac as IntegrityContext).verify(view.subarray(icvAt, end), view.subarray(0, icvAt))) {
        return drop('bad-icv', `${this.integ?.name ?? ''} ICV does not verify`);
      }
      plaintext = this.cipher.decrypt(iv, Buffer.alloc(0), view.subarray(bodyAt, icvAt)) as Buffer;
    }
    const padLength = plaintext[plaintext.length - 1] as number;
    if (padLength + PAD_LENGTH_BYTES > plaintext.length) {
      return drop('bad-padding', `Pad Length ${padLength} exceeds the ${plaintext.length - 1} decrypted octets before it`);
    }
    return {
      ok: true,
      nextPayload: view[offset] as number,
      inner: plaintext.subarray(0, plaintext.length - PAD_LENGTH_BYTES - padLength),
      fragmentNumber,
      totalFragments,
    };
  }
}

export function createSkProtector(config: SkProtectorConfig): SkProtector {
  return new Protector(config.encr, config.integ, config.encrKey, config.integKey);
}

export type IkeRole = 'initiator' | 'responder';

export interface IkeSaProtectors {
  readonly outbound: SkProtector;
  readonly inbound: SkProtector;
}

// Both directions of an IKE SA. RFC 7296 §2.14: "The keys used to protect messages from
// the original initiator are SK_ai and SK_ei. The keys used to protect messages in the
// other direction are SK_ar and SK_er." `role` is the role in the IKE_SA_INIT (or, for a
// rekeyed IKE SA, the CREATE_CHILD_SA) exchange that created the SA, not the role in the
// current exchange.
export function createIkeSaProtectors(
  keys: IkeSaKeys,
  suite: { readonly encr: EncryptionTransform; readonly integ: IntegrityTransform | null },
  role: IkeRole,
): IkeSaProtectors {
  const aead = suite.encr.aead;
  const initiatorSide = createSkProtector({ encr: suite.encr, integ: suite.integ, encrKey: keys.skEi, integKey: aead ? null : keys.skAi });
  const responderSide = createSkProtector({ encr: suite.encr, integ: suite.integ, encrKey: keys.skEr, integKey: aead ? null : keys.skAr });
  return role === 'initiator'
    ? { outbound: initiatorSide, inbound: responderSide }
    : { outbound: responderSide, inbound: initiatorSide };
}
