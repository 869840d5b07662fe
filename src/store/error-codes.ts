// Stable codes of StoreError (src/store/types.ts), for callers that act on a kind of
// failure (the CLI maps the "fix your input" ones to exit code 2) and for --json output.
export const StoreErrorCode = {
  // Input the caller can fix.
  BAD_NAME: 'store.bad-name', // device names: 1-64 characters of A-Za-z0-9_.-
  BAD_DEVICE: 'store.bad-device', // variant, forwardSecrecy or init key of the wrong shape
  DEVICE_EXISTS: 'store.device-exists',
  NOT_FOUND: 'store.not-found',
  REVOKED: 'store.revoked', // no channel state is kept for a revoked device
  // Seed 000 (settings service).
  BAD_ADDRESS: 'store.bad-address', // a device address that is not an IP address, or too many
  ADDRESS_TAKEN: 'store.address-taken', // another device already has the address
  BAD_POLICY: 'store.bad-policy', // a policy field of the wrong shape (the message names it)
  POLICY_EXISTS: 'store.policy-exists', // same name, or same endpoints (unordered) and flow
  BAD_ENTRY: 'store.bad-entry', // a management-table entry of the wrong shape, stored or given
  BAD_EVENT: 'store.bad-event', // an event of the wrong shape, or with bytes in its detail
  // The store file and the master key.
  MISSING: 'store.missing', // no store at the path and the caller did not ask to create one
  NOT_A_STORE: 'store.not-a-store', // the file is not SQLite, or SQLite without keyplane's tables
  SCHEMA_TOO_NEW: 'store.schema-too-new', // written by a newer keyplane
  OPEN_FAILED: 'store.open-failed',
  CLOSED: 'store.closed',
  BUSY: 'store.busy', // another process held the write lock longer than the busy timeout
  NO_FREE_VALUE: 'store.no-free-value', // no unused device id / init SPI in 64 random draws
  SQLITE: 'store.sqlite', // any other SQLite failure (disk full, I/O error, ...)
  MASTER_KEY_MISSING: 'store.master-key-missing',
  MASTER_KEY_PERMISSIONS: 'store.master-key-permissions',
  MASTER_KEY_INVALID: 'store.master-key-invalid', // not 64 hex digits
  MASTER_KEY_MISMATCH: 'store.master-key-mismatch', // not the key this store was sealed with
  // A sealed value that does not open: altered, or copied from another row.
  SEALED_DATA_INVALID: 'store.sealed-data-invalid',
  // A channel state that does not decode (durable-codec.ts).
  BAD_CHANNEL_STATE: 'store.bad-channel-state',
  CHANNEL_STATE_VERSION: 'store.channel-state-version',
} as const;

export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

// Errors opening a store that the operator fixes by pointing at the right file or fixing
// its permissions (CLI exit code 2, not 1): shared by every command that opens the store.
export const STORE_OPEN_USAGE_CODES: readonly StoreErrorCode[] = [
  StoreErrorCode.MISSING,
  StoreErrorCode.NOT_A_STORE,
  StoreErrorCode.MASTER_KEY_MISSING,
  StoreErrorCode.MASTER_KEY_PERMISSIONS,
  StoreErrorCode.MASTER_KEY_INVALID,
  StoreErrorCode.MASTER_KEY_MISMATCH,
];
