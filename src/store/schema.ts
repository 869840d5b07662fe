// The SQLite schema of the controller store and its versioning. `meta.schema_version`
// says which schema a file has; a file from a newer keyplane is refused rather than
// half-understood, and an older one is migrated step by step inside one transaction.
//
// Secrets are never columns in the clear: init_key_sealed and state_sealed hold
// sealed-box.ts blobs (AES-256-GCM bound to table + device id). latest_spi and
// previous_spi copy the SPIs of the keys in the sealed state (public: every packet
// carries them) so that a new device's init SPI can avoid them: the keyroll sender
// refuses an init SPI that names a live key of another device.

//
// Version 2 (seed 000, the settings service) adds the devices' IPsec addresses, the
// distribution policies, the management table and the event log. Only the SA
// parameters of an entry are secret (entries.params_sealed); the rest of an entry
// (addresses, request IDs, SPIs, algorithms, times) is public protocol metadata kept as
// JSON text so an operator can read it with the sqlite3 shell.

export const SCHEMA_VERSION = 2;

// Table names double as the sealing context (sealed-box.ts), so they must never change
// for a sealed column without re-sealing.
export const DEVICES_TABLE = 'devices';
export const CHANNEL_STATE_TABLE = 'channel_state';
export const META_KEY_CHECK = 'master_key_check';
export const ENTRIES_TABLE = 'entries';

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
  // 1 -> 2: seed 000. `device_addresses.address` is the PRIMARY KEY, so an address belongs
  // to one device at most, whatever process writes. A policy's endpoints are unordered
  // (settings/types.ts): end_low/end_high are a and b sorted, and with flow_key ('' for no
  // flow, 'protocol/port' or 'protocol/*') they are unique. Event ids are AUTOINCREMENT:
  // never reused after the oldest are dropped, so `events --follow` never misses one.
  `
  CREATE TABLE device_addresses (
    address   TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX device_addresses_by_device ON device_addresses (device_id, position);
  CREATE TABLE policies (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    a             TEXT NOT NULL,
    b             TEXT NOT NULL,
    end_low       TEXT NOT NULL,
    end_high      TEXT NOT NULL,
    flow_key      TEXT NOT NULL,
    flow_protocol INTEGER CHECK (flow_protocol BETWEEN 0 AND 255),
    flow_port     INTEGER CHECK (flow_port BETWEEN 1 AND 65535),
    applied       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (end_low, end_high, flow_key)
  ) STRICT;
  CREATE TABLE entries (
    id            TEXT PRIMARY KEY,
    entry         TEXT NOT NULL,
    params_sealed BLOB,
    created_at_ms INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    device_id TEXT,
    detail    TEXT NOT NULL
  ) STRICT;
  `,
];
