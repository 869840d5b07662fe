// Errors raised by the ipsec layer when a caller installs something it cannot accept.
// (Packet processing never throws: bad packets become counted drops.) DataPlane backends
// raise the same class, as src/ipsec/dataplane.ts documents ("sa-exists").
import { KeyplaneError } from '../util/errors.js';

export type DataPlaneErrorCode =
  | 'sa-exists' // (direction, spi) already installed
  | 'sa-not-found' // updateSa for an SA that is not installed
  | 'bad-sa' // an SaConfig field is out of range or inconsistent
  | 'policy-exists' // policy id already in the SPD
  | 'bad-policy' // a Policy or selector field is out of range or inconsistent
  | 'closed'; // the data plane was closed

export class DataPlaneError extends KeyplaneError {
  declare readonly code: DataPlaneErrorCode;
  constructor(code: DataPlaneErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
