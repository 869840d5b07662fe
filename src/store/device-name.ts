// Operator-chosen device names: short, unambiguous in a shell, a log line and a file name.
import { StoreError } from './types.js';
import { StoreErrorCode } from './error-codes.js';

export const DEVICE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const DEVICE_NAME_RULE = '1-64 characters of A-Za-z0-9_.-';

export function isValidDeviceName(name: unknown): name is string {
  return typeof name === 'string' && DEVICE_NAME_PATTERN.test(name);
}

export function checkDeviceName(name: unknown): string {
  if (!isValidDeviceName(name)) {
    const shown = typeof name === 'string' ? `${JSON.stringify(name.slice(0, 70))}${name.length > 70 ? '...' : ''} ` : '';
    throw new StoreError(StoreErrorCode.BAD_NAME, `device name ${shown}is invalid: a name is ${DEVICE_NAME_RULE}`);
  }
  return name;
}
