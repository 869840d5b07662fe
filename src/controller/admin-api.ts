// The controller's admin HTTP API (docs/admin-api.md): policies, devices, SAs and
// events over JSON, for `keyplane policy|device|sa|events` and for scripts. node:http
// only, no framework.
//
// - Every request needs `Authorization: Bearer <token>` (RFC 6750 §2.1), the base64url
//   text of admin-token.ts. The check compares SHA-256 digests of the presented and the
//   expected credentials with crypto.timingSafeEqual: fixed length, so neither the
//   token's length nor the position of the first wrong character shows in the time.
//   Failures are 401, counted, and logged at most once per AUTH_LOG_INTERVAL_MS with
//   their number; the header itself is never logged. Authentication comes before
//   routing, so an unauthenticated client learns nothing about the routes.
// - Bodies are JSON objects (Content-Type application/json, else 415) of at most
//   bodyLimitBytes (else 413), checked with zod (admin-schemas.ts): 400 names each bad
//   field. Store conflicts are 409, unknown names 404; anything unexpected is 500 with
//   a generic message (the details go to the log). A bad request never throws out of
//   the handler.
// - Responses never contain key material. The one secret the API hands out is the
//   enrollment token of a device it has just created, once, in that response (with
//   Cache-Control: no-store, like every response).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { z } from 'zod';
import { randomBytes } from '../crypto/random.js';
import { KEYROLL_KEY_BYTES } from '../keyroll/index.js';
import { StoreError, type ControllerStore, type DeviceRecord, type StoredEvent } from '../store/types.js';
import { StoreErrorCode } from '../store/error-codes.js';
import { encodeEnrollmentToken } from '../store/enrollment-token.js';
import { DEFAULT_CONTROL_PORT } from '../io/control-udp.js';
import { Counters } from '../util/counters.js';
import { KeyplaneError } from '../util/errors.js';
import { adminTokenText, ADMIN_TOKEN_BYTES } from './admin-token.js';
import { addressesBody, deviceBody, eventsQuery, issuesOf, policyBody, type FieldIssue } from './admin-schemas.js';
import { deviceView, eventView, policyView, saViews, DEFAULT_RENEW_AT_FRACTION } from './admin-views.js';
import { logLine, type EventLog } from './log-line.js';

// The token helpers, re-exported for the controller's start-up code.
export { AdminTokenError, AdminTokenErrorCode, DEFAULT_ADMIN_TOKEN_FILE, adminTokenText, loadOrCreateAdminToken, readAdminToken } from './admin-token.js';

export const DEFAULT_ADMIN_LISTEN = { address: '127.0.0.1', port: 4580 } as const;
export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
const AUTH_LOG_INTERVAL_MS = 10_000;
const EVENTS_PAGE = 1000;

export interface AdminApiOptions {
  readonly listen: { readonly address: string; readonly port: number }; // port 0: any free port
  readonly token: Uint8Array; // the 32 bytes of admin-token.ts
  readonly store: ControllerStore;
  readonly log: EventLog;
  // Called after every change (policy, device, addresses), so the controller can reload.
  readonly onChange?: () => void;
  // What POST /v1/devices puts in the enrollment token: the controller's identity (default:
  // the store's controllerId(), which the SQLite store has) and the address and port
  // agents reach the control channel at (defaults: this host's first non-loopback IPv4,
  // port 4501). A request may give controllerAddress / controllerPort itself.
  readonly enrollment?: { readonly identity?: string; readonly address?: string; readonly port?: number };
  readonly bodyLimitBytes?: number;
  readonly renewAtFraction?: number; // for GET /v1/sas "renewAt" (default 0.8)
  readonly nowMs?: () => number; // default Date.now
}

export interface AdminApi {
  readonly url: string; // e.g. http://127.0.0.1:4580
  // 'admin.requests', 'admin.auth-failed', 'admin.bad-request', 'admin.error', ...
  readonly counters: Counters;
  close(): Promise<void>;
}

// A reply the handler chose; thrown or returned.
class ApiError extends KeyplaneError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(code, message);
  }
}

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface Context {
  readonly req: IncomingMessage;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly body: () => Promise<unknown>;
}

type Handler = (ctx: Context) => Promise<Reply>;

interface Route {
  readonly method: string;
  readonly path: readonly (string | null)[]; // null = a parameter segment
  readonly handler: Handler;
}

function sha256(text: string | Uint8Array): Buffer {
  return createHash('sha256').update(text).digest();
}

// RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §2.1: one b64token.
function credentials(header: string | undefined): string {
  const m = header === undefined ? null : /^bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return m?.[1] ?? '';
}

function firstHostIpv4(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

function storeStatus(code: string): number {
  switch (code) {
    case StoreErrorCode.DEVICE_EXISTS:
    case StoreErrorCode.ADDRESS_TAKEN:
    case StoreErrorCode.POLICY_EXISTS:
      return 409;
    case StoreErrorCode.NOT_FOUND:
      return 404;
    case StoreErrorCode.BAD_NAME:
    case StoreErrorCode.BAD_DEVICE:
    case StoreErrorCode.BAD_ADDRESS:
    case StoreErrorCode.BAD_POLICY:
      return 400;
    default:
      return 500;
  }
}

const STORE_FIELD: Readonly<Record<string, string>> = {
  [StoreErrorCode.DEVICE_EXISTS]: 'name',
  [StoreErrorCode.BAD_NAME]: 'name',
  [StoreErrorCode.ADDRESS_TAKEN]: 'addresses',
  [StoreErrorCode.BAD_ADDRESS]: 'addresses',
};

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues: FieldIssue[] = issuesOf(r.error);
  const message = issues.map((i) => `${i.field === '' ? '(body)' : i.field}: ${i.message}`).join('; ');
  throw new ApiError(400, 'api.invalid', `invalid request: ${message}`, { issues });
}

export async function startAdminApi(o: AdminApiOptions): Promise<AdminApi> {
  if (!(o.token instanceof Uint8Array) || o.token.length !== ADMIN_TOKEN_BYTES) throw new RangeError(`the admin token is ${ADMIN_TOKEN_BYTES} bytes`);
  const expected = sha256(adminTokenText(o.token));
  const limit = o.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const now = o.nowMs ?? Date.now;
  const counters = new Counters();
  const { store, log } = o;
  let failuresSinceLog = 0;
  let lastAuthLogMs = -Infinity;

  const changed = (what: string, fields: Record<string, string | number | boolean | null>): void => {
    log.info(logLine('admin-change', { what, ...fields }));
    try {
      o.onChange?.();
    } catch (e) {
      log.error(logLine('admin-onchange-failed', { error: e instanceof Error ? e.message : String(e) }));
    }
  };

  const deviceNames = async (): Promise<Map<string, string>> => new Map((await store.listDevices()).map((d) => [d.id, d.name]));

  // By name first (what operators type), then by id.
  const findDevice = async (idOrName: string): Promise<DeviceRecord> => {
    const d = (await store.getDeviceByName(idOrName)) ?? (await store.getDevice(idOrName));
    if (d === undefined) throw new ApiError(404, 'api.no-such-device', `no device named or with id ${JSON.stringify(idOrName.slice(0, 70))}`);
    return d;
  };

  const identity = async (): Promise<string> => {
    if (o.enrollment?.identity !== undefined) return o.enrollment.identity;
    const withId = store as ControllerStore & { controllerId?: () => Promise<string> };
    if (typeof withId.controllerId === 'function') return withId.controllerId();
    throw new ApiError(500, 'api.no-identity', 'the controller identity for enrollment tokens is not configured');
  };

  const routes: Route[] = [
    {
      method: 'GET',
      path: ['v1', 'policies'],
      handler: async () => ({ status: 200, body: { ok: true, policies: (await store.listPolicies()).map(policyView) } }),
    },
    {
      method: 'POST',
      path: ['v1', 'policies'],
      handler: async (ctx) => {
        const b = parse(policyBody, await ctx.body());
        const p = await store.addPolicy(
          { name: b.name, a: b.a, b: b.b, flow: b.flow, applied: { protocol: 'esp', mode: b.mode, encryption: b.esp.encryption, integrity: b.esp.integrity, esn: b.esn, lifetimeSeconds: b.lifetimeSeconds } },
          now(),
        );
        changed('policy-added', { policy: p.id, name: p.name, a: p.a, b: p.b });
        return { status: 201, body: { ok: true, policy: policyView(p) } };
      },
    },
    {
      method: 'DELETE',
      path: ['v1', 'policies', null],
      handler: async (ctx) => {
        const key = ctx.params[0]!;
        const all = await store.listPolicies();
        const p = all.find((x) => x.name === key) ?? all.find((x) => x.id === key);
        if (p === undefined || !(await store.removePolicy(p.id))) throw new ApiError(404, 'api.no-such-policy', `no policy named or with id ${JSON.stringify(key.slice(0, 70))}`);
        changed('policy-removed', { policy: p.id, name: p.name });
        return { status: 200, body: { ok: true, removed: true, policy: policyView(p) } };
      },
    },
    {
      method: 'GET',
      path: ['v1', 'devices'],
      handler: async () => ({ status: 200, body: { ok: true, devices: (await store.listDevices()).map(deviceView) } }),
    },
    {
      method: 'POST',
      path: ['v1', 'devices'],
      handler: async (ctx) => {
        const b = parse(deviceBody, await ctx.body());
        const controller = {
          address: b.controllerAddress ?? o.enrollment?.address ?? firstHostIpv4(),
          port: b.controllerPort ?? o.enrollment?.port ?? DEFAULT_CONTROL_PORT,
          identity: await identity(),
        };
        const initKey = randomBytes(KEYROLL_KEY_BYTES);
        try {
          const d = await store.addDevice({ name: b.name, variant: b.variant, forwardSecrecy: b.forwardSecrecy, addresses: b.addresses }, initKey, now());
          const token = encodeEnrollmentToken({ deviceId: d.id, name: d.name, initKey, initSpi: d.initSpi, variant: d.variant, forwardSecrecy: d.forwardSecrecy, controller });
          changed('device-added', { device: d.id, name: d.name, addresses: d.addresses.join(',') });
          return { status: 201, body: { ok: true, device: deviceView(d), token, controller: { address: controller.address, port: controller.port } } };
        } finally {
          initKey.fill(0);
        }
      },
    },
    {
      method: 'DELETE',
      path: ['v1', 'devices', null],
      handler: async (ctx) => {
        const d = await findDevice(ctx.params[0]!);
        const removed = await store.removeDevice(d.id);
        if (!removed) throw new ApiError(404, 'api.no-such-device', `no device with id ${d.id}`);
        changed('device-removed', { device: d.id, name: d.name });
        return { status: 200, body: { ok: true, removed: true, device: deviceView(d) } };
      },
    },
    {
      method: 'POST',
      path: ['v1', 'devices', null, 'revoke'],
      handler: async (ctx) => {
        const d = await findDevice(ctx.params[0]!);
        const revoked = await store.revokeDevice(d.id, now());
        const after = (await store.getDevice(d.id)) ?? d;
        if (revoked) changed('device-revoked', { device: d.id, name: d.name });
        return { status: 200, body: { ok: true, revoked, device: deviceView(after) } };
      },
    },
    {
      method: 'PUT',
      path: ['v1', 'devices', null, 'addresses'],
      handler: async (ctx) => {
        const b = parse(addressesBody, await ctx.body());
        const d = await findDevice(ctx.params[0]!);
        await store.setDeviceAddresses(d.id, b.addresses);
        const after = (await store.getDevice(d.id)) ?? d;
        changed('device-addresses', { device: d.id, name: d.name, addresses: after.addresses.join(',') });
        return { status: 200, body: { ok: true, device: deviceView(after) } };
      },
    },
    {
      method: 'GET',
      path: ['v1', 'sas'],
      handler: async () => {
        const [entries, devices, policies] = await Promise.all([store.listEntries(), deviceNames(), store.listPolicies()]);
        const names = { devices, policies: new Map(policies.map((p) => [p.id, p.name])) };
        const { sas, pending } = saViews(entries, now(), names, o.renewAtFraction ?? DEFAULT_RENEW_AT_FRACTION);
        return { status: 200, body: { ok: true, sas, pending } };
      },
    },
    {
      method: 'GET',
      path: ['v1', 'events'],
      handler: async (ctx) => {
        const q = parse(eventsQuery, Object.fromEntries(ctx.query.entries()));
        let events: StoredEvent[];
        if (q.tail !== undefined) {
          // The newest `tail`: page through (the log holds ~10,000) keeping the last ones.
          events = [];
          for (let after = 0; ; ) {
            const page = await store.listEvents(after, EVENTS_PAGE);
            events.push(...page);
            if (events.length > q.tail) events = events.slice(events.length - q.tail);
            if (page.length < EVENTS_PAGE) break;
            after = page[page.length - 1]!.id;
          }
        } else {
          events = await store.listEvents(q.after ?? 0, q.limit ?? 100);
        }
        const devices = await deviceNames();
        const last = events.length > 0 ? events[events.length - 1]!.id : (q.after ?? 0);
        return { status: 200, body: { ok: true, events: events.map((e) => eventView(e, devices)), last } };
      },
    },
  ];

  function authorised(req: IncomingMessage): boolean {
    const presented = sha256(credentials(req.headers.authorization));
    if (timingSafeEqual(presented, expected)) return true;
    counters.add('admin.auth-failed');
    failuresSinceLog++;
    const t = Date.now();
    if (t - lastAuthLogMs >= AUTH_LOG_INTERVAL_MS) {
      log.warn(logLine('admin-auth-failed', { count: failuresSinceLog, total: counters.get('admin.auth-failed'), from: req.socket.remoteAddress ?? null, path: (req.url ?? '').slice(0, 80) }));
      failuresSinceLog = 0;
      lastAuthLogMs = t;
    }
    return false;
  }

  function readBody(req: IncomingMessage): Promise<unknown> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      req.resume();
      return Promise.reject(new ApiError(415, 'api.unsupported-media-type', 'send the body as JSON with Content-Type: application/json'));
    }
    // An oversize body is read to its end (and thrown away) before the 413, so the client
    // is not cut off mid-send and reads the answer; beyond drainCap the connection is closed.
    const drainCap = limit * 16;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > drainCap) {
      req.resume();
      return Promise.reject(new ApiError(413, 'api.too-large', `the body is larger than ${limit} bytes`));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= limit) chunks.push(c);
        else chunks.length = 0;
        if (size > drainCap) reject(new ApiError(413, 'api.too-large', `the body is larger than ${limit} bytes`));
      });
      req.on('error', reject);
      req.on('end', () => {
        if (size > limit) return reject(new ApiError(413, 'api.too-large', `the body is larger than ${limit} bytes`));
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() === '') return reject(new ApiError(400, 'api.bad-json', 'the request body is empty; send a JSON object'));
        try {
          resolve(JSON.parse(text));
        } catch {
          // The parser's message quotes the input; the reply does not.
          reject(new ApiError(400, 'api.bad-json', 'the request body is not valid JSON'));
        }
      });
    });
  }

  function send(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
    });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.add('admin.requests');
    const method = req.method ?? 'GET';
    if (!authorised(req)) {
      req.resume();
      send(res, 401, { ok: false, code: 'api.unauthorized', message: 'missing or wrong admin token (Authorization: Bearer <token from the admin token file>)' }, {
        'WWW-Authenticate': 'Bearer realm="keyplane"',
        Connection: 'close',
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    let segments: string[];
    try {
      segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    } catch {
      throw new ApiError(400, 'api.bad-path', 'the path is not valid percent-encoding');
    }
    if (segments[segments.length - 1] === '') segments.pop(); // a trailing slash
    const matching = routes.filter((r) => r.path.length === segments.length && r.path.every((p, i) => p === null || p === segments[i]));
    if (matching.length === 0) throw new ApiError(404, 'api.no-route', `no such resource: ${url.pathname.slice(0, 100)}`);
    const route = matching.find((r) => r.method === method);
    if (route === undefined) {
      const allow = matching.map((r) => r.method).join(', ');
      throw new ApiError(405, 'api.method-not-allowed', `${method} is not allowed on ${url.pathname.slice(0, 100)}; allowed: ${allow}`, { allow });
    }
    const params = route.path.flatMap((p, i) => (p === null ? [segments[i]!] : []));
    const reply = await route.handler({ req, params, query: url.searchParams, body: () => readBody(req) });
    if (req.readable) req.resume(); // a body nobody asked for
    send(res, reply.status, reply.body);
  }

  const server: Server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      let status: number;
      let body: Record<string, unknown>;
      const headers: Record<string, string> = {};
      if (e instanceof ApiError) {
        status = e.status;
        const { allow, ...extra } = e.extra;
        if (typeof allow === 'string') headers['Allow'] = allow;
        body = { ok: false, code: e.code, message: e.message, ...extra };
      } else if (e instanceof StoreError && storeStatus(e.code) !== 500) {
        status = storeStatus(e.code);
        body = { ok: false, code: e.code, message: e.message, ...(STORE_FIELD[e.code] !== undefined ? { field: STORE_FIELD[e.code] } : {}) };
      } else {
        status = 500;
        const code = e instanceof KeyplaneError ? e.code : 'api.internal';
        // Store messages name files and ids, never keys; anything else stays in the log.
        body = { ok: false, code, message: e instanceof KeyplaneError ? e.message : 'internal error (see the controller log)' };
        counters.add('admin.error');
        log.error(logLine('admin-error', { method: req.method ?? null, path: (req.url ?? '').slice(0, 100), error: e instanceof Error ? e.message : String(e) }));
      }
      if (status === 400) counters.add('admin.bad-request');
      if (status === 413 || status === 415) headers['Connection'] = 'close';
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(res, status, body, headers);
    });
  });
  server.on('clientError', (_e, socket) => {
    counters.add('admin.bad-request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.listen.port;
  const host = o.listen.address.includes(':') ? `[${o.listen.address}]` : o.listen.address;
  const url = `http://${host}:${port}`;
  log.info(logLine('admin-api-listening', { url }));
  return {
    url,
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
