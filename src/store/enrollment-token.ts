// The enrollment token `keyplane device add` prints and `keyplane agent enroll` takes:
//
//   kp1.<base64url of UTF-8 JSON>
//   {"v":1,"deviceId","name","initKey" (base64url, 32 bytes),"initSpi","variant",
//    "forwardSecrecy","controller":{"address","port","identity"}}
//
// It carries the device's init key, so it is a secret: show it once, never log it. Parsing
// checks every field and fails with EnrollmentError only; messages name the field, never
// its value.
import { KEYROLL_KEY_BYTES, type ChannelParams, type KeyrollVariant } from '../keyroll/index.js';
import { formatIp, parseIp } from '../wire/address.js';
import { KeyplaneError } from '../util/errors.js';
import { fromBase64url, toBase64url } from './base64.js';
import { DEVICE_NAME_RULE, isValidDeviceName } from './device-name.js';

export const TOKEN_PREFIX = 'kp1.';
export const TOKEN_VERSION = 1;
export const MAX_TOKEN_CHARS = 2048; // a real token is about 400

export const EnrollmentErrorCode = {
  TOKEN_FORMAT: 'enrollment.token-format', // not kp1.<base64url JSON object>
  TOKEN_VERSION: 'enrollment.token-version',
  TOKEN_FIELD: 'enrollment.token-field', // a field is missing, unknown or invalid
  FILE_FORMAT: 'enrollment.file-format',
  FILE_PERMISSIONS: 'enrollment.file-permissions', // readable by group or others
  FILE_EXISTS: 'enrollment.file-exists',
  FILE_MISSING: 'enrollment.file-missing',
} as const;

export class EnrollmentError extends KeyplaneError {
  // The offending field's path (e.g. "controller.port") for field errors.
  readonly field: string | undefined;
  constructor(code: string, message: string, field?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.field = field;
  }
}

export interface ControllerContact {
  readonly address: string; // IP literal (canonical form) or DNS name
  readonly port: number;
  readonly identity: string; // the controller id from its store: 32 hex digits
}

export interface Enrollment {
  readonly deviceId: string;
  readonly name: string;
  readonly initKey: Uint8Array; // KEYROLL_KEY_BYTES
  readonly initSpi: number;
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
  readonly controller: ControllerContact;
}

const DEVICE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const IDENTITY = /^[0-9a-f]{32}$/;
const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function fieldError(field: string, expected: string): never {
  throw new EnrollmentError(EnrollmentErrorCode.TOKEN_FIELD, `enrollment: ${field} must be ${expected}`, field);
}

// An IP literal in canonical form, or a DNS host name (RFC 1123 §2.1); undefined otherwise.
export function canonicalControllerAddress(text: string): string | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 253) return undefined;
  if (text.includes(':') || /^[0-9.]+$/.test(text)) {
    try {
      return formatIp(parseIp(text));
    } catch {
      return undefined;
    }
  }
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  return name.split('.').every((l) => DNS_LABEL.test(l)) ? name.toLowerCase() : undefined;
}

function exactKeys(o: Record<string, unknown>, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fieldError(path === '' ? k : `${path}.${k}`, 'absent (unknown field)');
  }
  for (const k of keys) if (!Object.hasOwn(o, k)) fieldError(path === '' ? k : `${path}.${k}`, 'present');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const FIELDS = ['v', 'deviceId', 'name', 'initKey', 'initSpi', 'variant', 'forwardSecrecy', 'controller'] as const;

// Checks the JSON form (token payload, or the `enrollment` object of the agent's file).
export function enrollmentFromJson(v: unknown): Enrollment {
  if (!isObject(v)) throw new EnrollmentError(EnrollmentErrorCode.TOKEN_FORMAT, 'enrollment: not a JSON object');
  if (v['v'] !== TOKEN_VERSION) {
    throw new EnrollmentError(EnrollmentErrorCode.TOKEN_VERSION, `enrollment: version must be ${TOKEN_VERSION} (made by a different keyplane version?)`, 'v');
  }
  exactKeys(v, '', FIELDS);
  const deviceId = v['deviceId'];
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) fieldError('deviceId', '1-64 characters of A-Za-z0-9_.-');
  const name = v['name'];
  if (!isValidDeviceName(name)) fieldError('name', DEVICE_NAME_RULE);
  const initKeyText = v['initKey'];
  const initKey = typeof initKeyText === 'string' ? fromBase64url(initKeyText) : undefined;
  if (initKey === undefined || initKey.length !== KEYROLL_KEY_BYTES) fieldError('initKey', `${KEYROLL_KEY_BYTES} bytes as base64url`);
  const initSpi = v['initSpi'];
  if (typeof initSpi !== 'number' || !Number.isInteger(initSpi) || initSpi < 256 || initSpi > 0xffff_ffff) {
    fieldError('initSpi', 'an integer in 256..4294967295 (RFC 4303 §2.1)');
  }
  const variant = v['variant'];
  if (variant !== 'explicit' && variant !== 'spi') fieldError('variant', '"explicit" or "spi"');
  const forwardSecrecy = v['forwardSecrecy'];
  if (typeof forwardSecrecy !== 'boolean') fieldError('forwardSecrecy', 'true or false');
  const c = v['controller'];
  if (!isObject(c)) fieldError('controller', 'an object');
  exactKeys(c, 'controller', ['address', 'port', 'identity']);
  const address = typeof c['address'] === 'string' ? canonicalControllerAddress(c['address']) : undefined;
  if (address === undefined) fieldError('controller.address', 'an IP address or a DNS name');
  const port = c['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fieldError('controller.port', 'an integer in 1..65535');
  const identity = c['identity'];
  if (typeof identity !== 'string' || !IDENTITY.test(identity)) fieldError('controller.identity', '32 lower-case hex digits');
  return { deviceId, name, initKey, initSpi, variant, forwardSecrecy, controller: { address, port, identity } };
}

export function enrollmentToJson(e: Enrollment): Record<string, unknown> {
  return {
    v: TOKEN_VERSION,
    deviceId: e.deviceId,
    name: e.name,
    initKey: e.initKey instanceof Uint8Array ? toBase64url(e.initKey) : e.initKey,
    initSpi: e.initSpi,
    variant: e.variant,
    forwardSecrecy: e.forwardSecrecy,
    controller: { address: e.controller.address, port: e.controller.port, identity: e.controller.identity },
  };
}

// Throws EnrollmentError when `e` would not parse back (nothing invalid is ever handed out).
export function encodeEnrollmentToken(e: Enrollment): string {
  const json = enrollmentToJson(e);
  enrollmentFromJson(json);
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
}

export function parseEnrollmentToken(token: string): Enrollment {
  const formatError = (what: string): never => {
    throw new EnrollmentError(EnrollmentErrorCode.TOKEN_FORMAT, `enrollment token: ${what}`);
  };
  if (typeof token !== 'string') formatError('not a string');
  const t = token.trim(); // copy and paste adds line ends
  if (t.length > MAX_TOKEN_CHARS) formatError(`longer than ${MAX_TOKEN_CHARS} characters`);
  if (!t.startsWith(TOKEN_PREFIX)) {
    if (/^kp[0-9]+\./.test(t)) {
      throw new EnrollmentError(EnrollmentErrorCode.TOKEN_VERSION, `enrollment token: unsupported token version (this keyplane reads ${TOKEN_PREFIX} tokens)`);
    }
    formatError(`does not start with "${TOKEN_PREFIX}"`);
  }
  const body = fromBase64url(t.slice(TOKEN_PREFIX.length));
  if (body === undefined || body.length === 0) return formatError('the part after the prefix is not base64url');
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return formatError('the payload is not UTF-8 JSON');
  } finally {
    body.fill(0);
  }
  return enrollmentFromJson(v);
}

// The keyroll channel parameters both ends derive from an enrollment.
export function enrollmentChannelParams(e: Enrollment): ChannelParams {
  return { deviceId: e.deviceId, initKey: e.initKey, initSpi: e.initSpi, variant: e.variant, forwardSecrecy: e.forwardSecrecy };
}
