// IKEv2 key schedule (RFC 7296 §2.13-§2.18), pure functions over the crypto registry's
// transforms:
//   SKEYSEED = prf(Ni | Nr, g^ir)                                             §2.14
//   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//            = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)                          §2.14
//   KEYMAT   = prf+(SK_d, Ni | Nr)  or  prf+(SK_d, g^ir (new) | Ni | Nr)       §2.17
//   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)        (IKE SA rekey)    §2.18
// Nonces are the Nonce payload data "stripped of any headers"; SPIs are the 8-octet
// values of the IKE header; g^ir is the key exchange output as the crypto layer returns
// it (MODP zero-padded to the prime size, ECP x coordinate, RFC 5903 §7 / RFC 8031).
// Nonce length rules (RFC 7296 §2.10: 16..256 octets, at least half the PRF key size)
// belong to the payload checks; the functions here accept any length, as the NIST KDF
// tests do.
import {
  CryptoError,
  CryptoErrorCode,
  ENCR,
  prfPlus,
  type EncryptionTransform,
  type IntegrityTransform,
  type PrfTransform,
} from '../crypto/index.js';

// RFC 7296 §3.1: IKE SPIs are 8 octets.
export const IKE_SPI_BYTES = 8;

// IANA IKEv2 PRF IDs of the two PRFs with a fixed 128-bit key (RFC 4434, RFC 4615).
// The registry implements neither today; the SKEYSEED rule for them is kept here so that
// adding them to src/crypto needs no change in the key schedule.
export const PRF_AES128_XCBC = 4;
export const PRF_AES128_CMAC = 8;
const FIXED_KEY_PRFS: ReadonlySet<number> = new Set([PRF_AES128_XCBC, PRF_AES128_CMAC]);
// RFC 7296 §2.14: "only the first 64 bits of Ni and the first 64 bits of Nr are used".
const FIXED_KEY_NONCE_PREFIX_BYTES = 8;

// The transforms of an IKE SA. AEAD ciphers carry their own integrity, so no integrity
// transform is negotiated with them (RFC 5282 §8); every other cipher needs one.
export interface IkeSaSuite {
  readonly prf: PrfTransform;
  readonly encr: EncryptionTransform;
  readonly integ: IntegrityTransform | null;
}

// Octet lengths of each SK_* key (RFC 7296 §2.14).
export interface IkeSaKeyLengths {
  readonly skDBytes: number; // preferred key length of the PRF
  readonly skABytes: number; // integrity key length; 0 with an AEAD (RFC 5282 §7.1)
  readonly skEBytes: number; // cipher key, plus the 4-octet salt of AEADs (RFC 5282 §7.1, RFC 7634 §4)
  readonly skPBytes: number; // preferred key length of the PRF
  readonly totalBytes: number; // the prf+ output the seven keys are cut from
}

// The seven IKE SA keys. SK_ai/SK_ar are empty with an AEAD cipher.
export interface IkeSaKeys {
  readonly skD: Buffer;
  readonly skAi: Buffer;
  readonly skAr: Buffer;
  readonly skEi: Buffer;
  readonly skEr: Buffer;
  readonly skPi: Buffer;
  readonly skPr: Buffer;
}

// The transforms of a Child SA (ESP). `integ` is null for an AEAD cipher.
export interface ChildSaSuite {
  readonly encr: EncryptionTransform;
  readonly integ: IntegrityTransform | null;
}

// Keys of one direction of a Child SA: the cipher key (with salt for AEADs, as
// EncryptionTransform.createContext takes it) and the integrity key (empty with AEADs).
export interface ChildSaDirectionKeys {
  readonly encrKey: Buffer;
  readonly integKey: Buffer;
}

export interface ChildSaKeys {
  // "Initiator" is the initiator of the exchange that created the Child SA (RFC 7296
  // §2.17), which is not necessarily the original initiator of the IKE SA.
  readonly initiatorToResponder: ChildSaDirectionKeys;
  readonly responderToInitiator: ChildSaDirectionKeys;
}

function badArgument(message: string): CryptoError {
  return new CryptoError(CryptoErrorCode.BAD_ARGUMENT, message);
}

function checkSuite(encr: EncryptionTransform, integ: IntegrityTransform | null, what: string): void {
  if (encr.aead && integ !== null) {
    throw badArgument(`${what}: ${encr.name} is an AEAD cipher; no integrity transform may be combined with it (RFC 5282 §8)`);
  }
}

function checkSpi(what: string, spi: Uint8Array): void {
  if (spi.length !== IKE_SPI_BYTES) {
    throw badArgument(`${what} must be ${IKE_SPI_BYTES} octets (RFC 7296 §3.1), got ${spi.length}`);
  }
}

// Cuts `keymat` into consecutive pieces of the given lengths. Each piece is a copy, and
// the caller's buffer is wiped, so no slice keeps the whole key block alive.
function split(keymat: Buffer, lengths: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const n of lengths) {
    pieces.push(Buffer.from(keymat.subarray(at, at + n)));
    at += n;
  }
  keymat.fill(0);
  return pieces;
}

// The PRF key used for SKEYSEED: Ni | Nr, except for the fixed-key PRFs (RFC 7296 §2.14),
// which take the first 64 bits of each nonce.
export function skeyseedKey(prf: PrfTransform, ni: Uint8Array, nr: Uint8Array): Buffer {
  if (FIXED_KEY_PRFS.has(prf.id)) {
    if (ni.length < FIXED_KEY_NONCE_PREFIX_BYTES || nr.length < FIXED_KEY_NONCE_PREFIX_BYTES) {
      throw badArgument(`${prf.name}: SKEYSEED needs nonces of at least ${FIXED_KEY_NONCE_PREFIX_BYTES} octets (RFC 7296 §2.14)`);
    }
    return Buffer.concat([ni.subarray(0, FIXED_KEY_NONCE_PREFIX_BYTES), nr.subarray(0, FIXED_KEY_NONCE_PREFIX_BYTES)]);
  }
  return Buffer.concat([ni, nr]);
}

// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14).
export function computeSkeyseed(prf: PrfTransform, ni: Uint8Array, nr: Uint8Array, sharedSecret: Uint8Array): Buffer {
  return prf.compute(skeyseedKey(prf, ni, nr), sharedSecret);
}

// SKEYSEED of the new IKE SA on an IKE SA rekey: prf(SK_d (old), g^ir (new) | Ni | Nr)
// (RFC 7296 §2.18). `oldPrf` is the PRF of the IKE SA being rekeyed ("it is the old IKE
// SA's PRF that is used to generate SKEYSEED"); the new SA's keys then come from
// deriveIkeSaKeys with the new suite, the new SPIs and these nonces.
export function rekeySkeyseed(
  oldPrf: PrfTransform,
  skDOld: Uint8Array,
  newSharedSecret: Uint8Array,
  ni: Uint8Array,
  nr: Uint8Array,
): Buffer {
  return oldPrf.compute(skDOld, Buffer.concat([newSharedSecret, ni, nr]));
}

// The raw IKE SA key block prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), `lengthBytes` long.
export function ikeSaKeymat(
  prf: PrfTransform,
  skeyseed: Uint8Array,
  ni: Uint8Array,
  nr: Uint8Array,
  spiI: Uint8Array,
  spiR: Uint8Array,
  lengthBytes: number,
): Buffer {
  checkSpi('SPIi', spiI);
  checkSpi('SPIr', spiR);
  return prfPlus(prf, skeyseed, Buffer.concat([ni, nr, spiI, spiR]), lengthBytes);
}

export function ikeSaKeyLengths(suite: IkeSaSuite): IkeSaKeyLengths {
  checkSuite(suite.encr, suite.integ, 'IKE SA');
  if (suite.encr.id === ENCR.NULL) {
    // IANA "IKEv2 Transform Type 1": ENCR_NULL is not allowed for IKE.
    throw badArgument('IKE SA: ENCR_NULL is not allowed for IKE (RFC 7296 §3.3.2, IANA Transform Type 1)');
  }
  if (!suite.encr.aead && suite.integ === null) {
    throw badArgument(`IKE SA: ${suite.encr.name} is not an AEAD cipher and needs an integrity transform (RFC 7296 §3.3)`);
  }
  const skDBytes = suite.prf.keyBytes;
  const skABytes = suite.integ?.keyBytes ?? 0;
  const skEBytes = suite.encr.keyMaterialBytes;
  const skPBytes = suite.prf.keyBytes;
  return { skDBytes, skABytes, skEBytes, skPBytes, totalBytes: skDBytes + 2 * (skABytes + skEBytes + skPBytes) };
}

export interface IkeSaKeyInput {
  readonly suite: IkeSaSuite;
  readonly skeyseed: Uint8Array;
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
}

// The seven IKE SA keys, cut from prf+ in the order of RFC 7296 §2.14.
export function deriveIkeSaKeys(input: IkeSaKeyInput): IkeSaKeys {
  const l = ikeSaKeyLengths(input.suite);
  const keymat = ikeSaKeymat(input.suite.prf, input.skeyseed, input.ni, input.nr, input.spiI, input.spiR, l.totalBytes);
  const [skD, skAi, skAr, skEi, skEr, skPi, skPr] = split(keymat, [
    l.skDBytes,
    l.skABytes,
    l.skABytes,
    l.skEBytes,
    l.skEBytes,
    l.skPBytes,
    l.skPBytes,
  ]) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
  return { skD, skAi, skAr, skEi, skEr, skPi, skPr };
}

// The raw Child SA key block (RFC 7296 §2.17): prf+(SK_d, Ni | Nr), or with a key
// exchange in the CREATE_CHILD_SA exchange prf+(SK_d, g^ir (new) | Ni | Nr). Ni and Nr
// are the nonces of the exchange that creates the Child SA (IKE_SA_INIT's for the first
// one).
export function childSaKeymat(
  prf: PrfTransform,
  skD: Uint8Array,
  ni: Uint8Array,
  nr: Uint8Array,
  lengthBytes: number,
  newSharedSecret?: Uint8Array,
): Buffer {
  const seed = newSharedSecret === undefined ? Buffer.concat([ni, nr]) : Buffer.concat([newSharedSecret, ni, nr]);
  return prfPlus(prf, skD, seed, lengthBytes);
}

// Octets of KEYMAT one Child SA takes: both directions' cipher and integrity keys.
export function childSaKeymatBytes(suite: ChildSaSuite): number {
  checkSuite(suite.encr, suite.integ, 'Child SA');
  return 2 * (suite.encr.keyMaterialBytes + (suite.integ?.keyBytes ?? 0));
}

export interface ChildSaKeyInput {
  readonly prf: PrfTransform; // the IKE SA's PRF
  readonly skD: Uint8Array;
  readonly suite: ChildSaSuite;
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  readonly newSharedSecret?: Uint8Array; // g^ir (new) when the exchange carried KE payloads
}

// Child SA keys in the order of RFC 7296 §2.17: "all keys for SAs carrying data from the
// initiator to the responder are taken before SAs going from the responder to the
// initiator", and within a direction the encryption key before the integrity key
// ("If a single protocol has both encryption and authentication keys, the encryption
// key is taken from the first octets of KEYMAT and the authentication key is taken
// from the next octets").
export function deriveChildSaKeys(input: ChildSaKeyInput): ChildSaKeys {
  const encrBytes = input.suite.encr.keyMaterialBytes;
  const integBytes = input.suite.integ?.keyBytes ?? 0;
  const keymat = childSaKeymat(input.prf, input.skD, input.ni, input.nr, childSaKeymatBytes(input.suite), input.newSharedSecret);
  const [encrI, integI, encrR, integR] = split(keymat, [encrBytes, integBytes, encrBytes, integBytes]) as [
    Buffer,
    Buffer,
    Buffer,
    Buffer,
  ];
  return {
    initiatorToResponder: { encrKey: encrI, integKey: integI },
    responderToInitiator: { encrKey: encrR, integKey: integR },
  };
}
