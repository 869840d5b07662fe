// Public surface of the controller store (layer 5) and the enrollment token.
export * from './types.js';
export { StoreErrorCode } from './error-codes.js';
export { openSqliteStore, SqliteControllerStore, type SqliteStoreOptions } from './sqlite.js';
export { DEVICE_NAME_PATTERN, DEVICE_NAME_RULE, checkDeviceName, isValidDeviceName } from './device-name.js';
export { decodeSenderPeerDurable, encodeSenderPeerDurable } from './durable-codec.js';
export {
  EnrollmentError,
  EnrollmentErrorCode,
  encodeEnrollmentToken,
  enrollmentChannelParams,
  parseEnrollmentToken,
  type ControllerContact,
  type Enrollment,
} from './enrollment-token.js';
