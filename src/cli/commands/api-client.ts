// The `keyplane` admin commands' side of the controller's admin HTTP API
// (docs/admin-api.md): where it is (--api, env KEYPLANE_API), the token
// (--token-file, env KEYPLANE_ADMIN_TOKEN_FILE), and the mapping of its answers to exit
// codes: an answer that says "fix your input" (400, 401, 404, 409, 413, 415) is a usage
// error (2); an API that cannot be reached, times out or fails (5xx) is a runtime
// failure (1), with a message that names the URL.
import { Option, type Command } from 'commander';
import { AdminTokenError, AdminTokenErrorCode, DEFAULT_ADMIN_TOKEN_FILE, adminTokenText, readAdminToken } from '../../controller/admin-token.js';
import { KeyplaneError } from '../../util/errors.js';
import { UsageError } from '../usage-error.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:4580';
const REQUEST_TIMEOUT_MS = 15_000;

export interface ApiOptions {
  readonly api: string;
  readonly tokenFile: string;
}

export function apiOptions(c: Command): Command {
  return c
    .addOption(new Option('--api <url>', 'the controller admin API').env('KEYPLANE_API').default(DEFAULT_API_URL))
    .addOption(new Option('--token-file <file>', 'the admin token file (mode 0600)').env('KEYPLANE_ADMIN_TOKEN_FILE').default(DEFAULT_ADMIN_TOKEN_FILE));
}

export class ApiClient {
  private constructor(
    readonly base: string,
    private readonly authorization: string,
  ) {}

  static fromOptions(o: ApiOptions): ApiClient {
    let url: URL;
    try {
      url = new URL(o.api);
    } catch {
      throw new UsageError(`--api must be a URL such as ${DEFAULT_API_URL}, got ${JSON.stringify(o.api.slice(0, 80))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--api must be an http:// or https:// URL, got ${JSON.stringify(o.api.slice(0, 80))}`);
    let token: Uint8Array;
    try {
      token = readAdminToken(o.tokenFile);
    } catch (e) {
      if (e instanceof AdminTokenError) {
        const hint = e.code === AdminTokenErrorCode.MISSING ? ' (the controller writes it on start; pass --token-file or set KEYPLANE_ADMIN_TOKEN_FILE)' : '';
        throw new UsageError(`${e.message}${hint}`);
      }
      throw e;
    }
    const text = adminTokenText(token);
    token.fill(0);
    return new ApiClient(url.href.replace(/\/+$/, ''), `Bearer ${text}`);
  }

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { Authorization: this.authorization, Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError') throw new KeyplaneError('cli.api-timeout', `the admin API at ${this.base} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
      const why = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new KeyplaneError('cli.api-unreachable', `cannot reach the admin API at ${this.base} (${why}); is the controller running? (--api, KEYPLANE_API)`, { cause: e });
    }
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) json = v as Record<string, unknown>;
    } catch {
      // handled below
    }
    if (json === undefined) throw new KeyplaneError('cli.api-bad-response', `the admin API at ${this.base} answered ${method} ${path} with HTTP ${res.status} and no JSON object`);
    if (res.ok && json['ok'] === true) return json as T;
    const message = typeof json['message'] === 'string' ? json['message'] : `HTTP ${res.status}`;
    const code = typeof json['code'] === 'string' ? json['code'] : `http.${res.status}`;
    if (res.status === 401) throw new UsageError(`the admin API at ${this.base} refused the admin token (${message})`);
    if (res.status >= 400 && res.status < 500) throw new UsageError(`${message} [${code}]`);
    throw new KeyplaneError(code, `the admin API at ${this.base} failed: ${message}`);
  }
}

// Whether the user set an option on the command line (not a default or the environment).
export function given(cmd: Command, option: string): boolean {
  return cmd.getOptionValueSource(option) === 'cli';
}
