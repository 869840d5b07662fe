// The SQLite schema of the controller store and its versioning. `meta.schema_version`
// says which schema a file has; a file from a newer keyplane is refused rather than
// half-understood, and an older one is migrated step by step inside one transaction.
//
// Secrets are never columns in the clear: init_key_sealed and state_sealed hold
// sealed-box.ts blobs (AES-256-GCM bound to table + device id). latest_spi and
// previous_spi copy the SPIs of the keys in the sealed state (public: every packet
// carries them) so that a new device's init SPI can avoid them: the keyroll sender
// refuses an init SPI that names a live key of another device.

export const SCHEMA_VERSION = 1;

// Table names double as the sealing context (sealed-box.ts), so they must never change
// for a sealed column without re-sealing.
export const DEVICES_TABLE = 'devices';
export const CHANNEL_STATE_TABLE = 'channel_state';
export const META_KEY_CHECK = 'master_key_check';

// Migration i takes a file from schema version i to i + 1; index 0 creates version 1.
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER,
    init_spi        INTEGER NOT NULL UNIQUE CHECK (init_spi BETWEEN 256 AND 4294967295),
    variant         TEXT NOT NULL CHECK (variant IN ('explicit', 'spi')),
    forward_secrecy INTEGER NOT NULL CHECK (forward_secrecy IN (0, 1)),
    init_key_sealed BLOB NOT NULL
  ) STRICT;
  CREATE TABLE channel_state (
    device_id    TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    state_sealed BLOB NOT NULL,
    latest_spi   INTEGER,
    previous_spi INTEGER,
    writes       INTEGER NOT NULL
  ) STRICT;
  `,
];
