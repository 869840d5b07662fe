// Errors the keyroll cores raise for caller mistakes (bad configuration, unknown device).
// Packets never cause exceptions: bad ones are counted drops (src/util/counters.ts).
import { KeyplaneError } from '../util/errors.js';

export class KeyrollError extends KeyplaneError {}
