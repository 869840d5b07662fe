import { KeyplaneError } from '../util/errors.js';

// Why a decode failed. Stable strings: they become counter names ("drop.decode.<reason>").
export type DecodeErrorReason =
  | 'truncated' // fewer bytes than the header or a length field says
  | 'bad-version' // IP version nibble or similar does not match
  | 'bad-length' // a length field is inconsistent (too small, beyond the buffer, ...)
  | 'bad-checksum'
  | 'bad-value' // a field holds a value the protocol forbids (reserved, out of range)
  | 'bad-padding' // ESP padding bytes not 1,2,3,... (RFC 4303 §2.4)
  | 'unsupported'; // well-formed but not something we handle (e.g. unknown ext header chain)

// Every decoder in src/wire reports malformed input with this error, never with an
// exception from a buffer read (RangeError). Decoders check bounds before reading.
export class DecodeError extends KeyplaneError {
  readonly reason: DecodeErrorReason;
  readonly what: string; // the structure being decoded, e.g. "ipv4", "esp-trailer"
  constructor(what: string, reason: DecodeErrorReason, detail: string) {
    super(`decode.${reason}`, `${what}: ${detail}`);
    this.reason = reason;
    this.what = what;
  }
}
