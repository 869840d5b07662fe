// The agent's enrollment file, written by `keyplane agent enroll TOKEN` and read by the
// agent at start: the device id, the init key, and the controller's address and identity.
// It holds the init key, so it is written with mode 0600 and refused when group or others
// can read it.
//
//   {"v": 1, "enrolledAtMs": 1767225600000, "enrollment": {<the token's JSON>}}
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from '../crypto/random.js';
import type { ChannelParams } from '../keyroll/index.js';
import {
  EnrollmentError,
  EnrollmentErrorCode,
  enrollmentChannelParams,
  enrollmentFromJson,
  enrollmentToJson,
  type ControllerContact,
  type Enrollment,
} from '../store/enrollment-token.js';
import { fsyncDir } from '../io/secret-file.js';

export const DEFAULT_ENROLLMENT_FILE = '/var/lib/keyplane/agent.json';
const FILE_VERSION = 1;
const MAX_FILE_BYTES = 64 * 1024;

export interface AgentEnrollment {
  readonly enrollment: Enrollment;
  readonly enrolledAtMs: number;
  readonly params: ChannelParams; // for the KeyReceiver
  readonly controller: ControllerContact; // where to send registrations
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

// Writes the file atomically with mode 0600: a private temporary file in the same folder,
// synced, then linked (no --force: fails if the file exists, even when another process
// races) or renamed (force) into place. Creates a missing folder with mode 0700.
export function writeEnrollmentFile(file: string, enrollment: Enrollment, options: { force?: boolean; nowMs: number }): void {
  const data = Buffer.from(`${JSON.stringify({ v: FILE_VERSION, enrolledAtMs: Math.floor(options.nowMs), enrollment: enrollmentToJson(enrollment) }, null, 2)}\n`);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      fchmodSync(fd, 0o600); // exactly 0600, whatever the umask
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
      data.fill(0);
    }
    if (options.force) {
      renameSync(tmp, file);
    } else {
      try {
        linkSync(tmp, file);
      } catch (e) {
        if (errno(e) === 'EEXIST') throw new EnrollmentError(EnrollmentErrorCode.FILE_EXISTS, `${file} exists; pass --force to replace it`);
        throw e;
      }
    }
    fsyncDir(dirname(file));
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed, or never created
    }
  }
}

// Reads and checks the file. EnrollmentError for a missing file, one that group or
// others can access, or content that is not a valid enrollment.
export function readEnrollmentFile(file: string): AgentEnrollment {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new EnrollmentError(EnrollmentErrorCode.FILE_MISSING, `${file} does not exist; enroll first (keyplane agent enroll TOKEN)`);
    throw new EnrollmentError(EnrollmentErrorCode.FILE_FORMAT, `cannot open ${file}: ${(e as Error).message}`, undefined, { cause: e });
  }
  let data: Buffer;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new EnrollmentError(EnrollmentErrorCode.FILE_FORMAT, `${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new EnrollmentError(
        EnrollmentErrorCode.FILE_PERMISSIONS,
        `${file} has mode 0${(st.mode & 0o777).toString(8)}: it holds the init key, so group and others must have no access; run chmod 600 ${file}`,
      );
    }
    if (st.size > MAX_FILE_BYTES) throw new EnrollmentError(EnrollmentErrorCode.FILE_FORMAT, `${file} is larger than ${MAX_FILE_BYTES} bytes`);
    data = Buffer.alloc(st.size);
    let off = 0;
    while (off < data.length) {
      const n = readSync(fd, data, off, data.length - off, off);
      if (n === 0) break;
      off += n;
    }
    data = data.subarray(0, off);
  } finally {
    closeSync(fd);
  }
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    throw new EnrollmentError(EnrollmentErrorCode.FILE_FORMAT, `${file} is not UTF-8 JSON`);
  } finally {
    data.fill(0);
  }
  const bad = (what: string): never => {
    throw new EnrollmentError(EnrollmentErrorCode.FILE_FORMAT, `${file}: ${what}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (o['v'] !== FILE_VERSION) bad(`version must be ${FILE_VERSION}`);
  for (const k of Object.keys(o)) if (!['v', 'enrolledAtMs', 'enrollment'].includes(k)) bad('unknown field');
  const enrolledAtMs = o['enrolledAtMs'];
  if (typeof enrolledAtMs !== 'number' || !Number.isSafeInteger(enrolledAtMs) || enrolledAtMs < 0) return bad('enrolledAtMs must be a time in ms');
  let enrollment: Enrollment;
  try {
    enrollment = enrollmentFromJson(o['enrollment']);
  } catch (e) {
    if (e instanceof EnrollmentError) throw new EnrollmentError(EnrollmentErrorCode.FILE_FORMAT, `${file}: ${e.message}`, e.field, { cause: e });
    throw e;
  }
  return { enrollment, enrolledAtMs, params: enrollmentChannelParams(enrollment), controller: enrollment.controller };
}
