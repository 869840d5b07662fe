// A real admin API for tests: a real SQLite store in a temporary folder, the API on
// 127.0.0.1 with a free port, the token in a 0600 file (as the controller makes it), and
// every log line and response body kept so a test can scan them for secrets.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAdminApi, type AdminApi, type AdminApiOptions } from '../../src/controller/admin-api.js';
import { adminTokenText, loadOrCreateAdminToken } from '../../src/controller/admin-token.js';
import { openSqliteStore, type SqliteControllerStore } from '../../src/store/sqlite.js';

export interface TestApi {
  readonly api: AdminApi;
  readonly store: SqliteControllerStore;
  readonly dir: string;
  readonly token: Uint8Array;
  readonly tokenText: string;
  readonly tokenFile: string;
  readonly logs: string[];
  readonly responses: { method: string; path: string; status: number; text: string }[];
  changes: number;
  call(method: string, path: string, o?: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; json: Record<string, unknown>; text: string; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestApi(extra: Partial<AdminApiOptions> = {}): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'keyplane-admin-'));
  const store = openSqliteStore({ path: join(dir, 'ctl/controller.db'), masterKeyFile: join(dir, 'ctl/master.key') });
  const tokenFile = join(dir, 'ctl/admin.token');
  const token = loadOrCreateAdminToken(tokenFile);
  const logs: string[] = [];
  const line = (level: string) => (m: string) => logs.push(`${level} ${m}`);
  const t: Partial<TestApi> & { changes: number } = { changes: 0 };
  const api = await startAdminApi({
    listen: { address: '127.0.0.1', port: 0 },
    token,
    store,
    log: { info: line('info'), warn: line('warn'), error: line('error') },
    onChange: () => {
      t.changes++;
    },
    enrollment: { address: '192.0.2.10', port: 4501 },
    ...extra,
  });
  const tokenText = adminTokenText(token);
  const responses: TestApi['responses'] = [];
  return Object.assign(t, {
    api,
    store,
    dir,
    token,
    tokenText,
    tokenFile,
    logs,
    responses,
    async call(method: string, path: string, o: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const tk = o.token === undefined ? tokenText : o.token;
      if (tk !== null && headers['Authorization'] === undefined) headers['Authorization'] = `Bearer ${tk}`;
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['Content-Type'] ??= 'application/json';
      }
      const r = await fetch(`${api.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await r.text();
      responses.push({ method, path, status: r.status, text });
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON: the test looks at text
      }
      return { status: r.status, json, text, headers: r.headers };
    },
    async close() {
      await api.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  }) as TestApi;
}
