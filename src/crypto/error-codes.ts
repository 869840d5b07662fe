// Stable `code` values for the CryptoError instances this layer raises (see
// src/util/errors.ts: codes are machine-readable and appear in counters and --json output).
export const CryptoErrorCode = {
  // An IANA transform ID, strongSwan keyword or key size this build does not implement.
  UNKNOWN_TRANSFORM: 'crypto.unknown-transform',
  // A test-only transform (ENCR_NULL) asked for without {allowTestOnly: true}.
  TEST_ONLY: 'crypto.test-only',
  // Key material of the wrong length for the transform.
  KEY_LENGTH: 'crypto.bad-key-length',
  // Explicit IV of the wrong length (caller bug).
  IV_LENGTH: 'crypto.bad-iv-length',
  // Plain-cipher input that is not a whole number of blocks (caller bug: ESP pads).
  ALIGNMENT: 'crypto.misaligned-input',
  // A peer key-exchange value that fails validation (length, range, curve membership).
  INVALID_PUBLIC: 'crypto.invalid-public-value',
  // A private value given to fromPrivate() that the group cannot use.
  INVALID_PRIVATE: 'crypto.invalid-private-value',
  // prf+ asked for more than 255 PRF blocks (RFC 7296 §2.13).
  PRF_PLUS_LENGTH: 'crypto.prf-plus-too-long',
  // An output buffer too small for the ciphertext (caller bug).
  OUTPUT_LENGTH: 'crypto.output-too-small',
  // OpenSSL itself failed inside the native AEAD context (out of memory); not a peer's fault.
  OPENSSL_FAILURE: 'crypto.openssl-failure',
  // Any other argument outside its documented domain (e.g. a random range).
  BAD_ARGUMENT: 'crypto.bad-argument',
} as const;

export type CryptoErrorCodeValue = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];
