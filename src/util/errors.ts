// Base class for every error keyplane raises on purpose. `code` is stable and
// machine-readable (used in counters, logs and --json output); `message` is for people.
export class KeyplaneError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
