// A mistake in how the command was called (exit code 2, see exit-codes.ts).
import { KeyplaneError } from '../util/errors.js';

export class UsageError extends KeyplaneError {
  constructor(message: string) {
    super('cli.usage', message);
  }
}
