// Cookies for init requests that would destroy a working chain (beyond seed 004, which
// leaves replay protection of init requests open). Sequence numbers alone cannot tell a
// new init request from one recorded in an earlier life of the agent (its counters start
// again after it loses its state), so before the sender throws away N and N-1 it asks for
// an echo of a cookie, as IKEv2 does before committing state (RFC 7296 §2.6):
//   cookie = first 16 bytes of HMAC-SHA-256(secret, label | device | time bucket)
// It needs no binding to one message: only the holder of the init key can put a cookie
// into an authenticated request, so what a cookie proves is its age, and that is what
// stops recordings (an old request carries no cookie, or an expired one). The agent may
// therefore reuse a cookie for its next init requests while it is valid, which matters
// on lossy links. Stateless: nothing is stored per request, so replayed requests cannot
// push out the cookie of a genuine one. The secret lives only in memory (a restarted
// sender issues new cookies). A cookie is good for the bucket it was made in and the next
// one, i.e. for at least COOKIE_BUCKET_MS after it was issued.
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../crypto/index.js';
import { KEYROLL_COOKIE_BYTES } from '../wire/control-keyroll.js';

export const COOKIE_BUCKET_MS = 30_000;
const LABEL = Buffer.from('keyplane keyroll cookie v1', 'ascii');

export function makeCookie(secret: Uint8Array, deviceId: string, bucket: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(bucket, 0);
  return createHmac('sha256', secret).update(LABEL).update(Buffer.from(deviceId, 'utf8')).update(Buffer.from([0])).update(b).digest().subarray(0, KEYROLL_COOKIE_BYTES);
}

export function cookieBucket(nowMs: number): number {
  return Math.floor(nowMs / COOKIE_BUCKET_MS);
}

export function checkCookie(secret: Uint8Array, cookie: Uint8Array, deviceId: string, nowMs: number): boolean {
  const b = cookieBucket(nowMs);
  return constantTimeEqual(cookie, makeCookie(secret, deviceId, b)) || constantTimeEqual(cookie, makeCookie(secret, deviceId, b - 1));
}
