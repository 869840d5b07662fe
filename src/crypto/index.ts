// Public surface of the crypto layer (layer 2). Higher layers import from here.
export * from './types.js';
export { CryptoErrorCode, type CryptoErrorCodeValue } from './error-codes.js';
export { constantTimeEqual } from './compare.js';
export { randomBytes, randomFill, randomSpi, randomUint32InRange, type Uint32Source } from './random.js';
export { prfPlus, PRF_PLUS_MAX_BLOCKS } from './prf.js';
export {
  encryptionTransform,
  encryptionByName,
  integrityTransform,
  integrityByName,
  prfTransform,
  prfByName,
  keyExchangeTransform,
  keyExchangeByName,
  listEncryptionTransforms,
  listIntegrityTransforms,
  listPrfTransforms,
  listKeyExchangeTransforms,
  listAllTransforms,
  type EncryptionOptions,
  type TransformInfo,
} from './registry.js';
