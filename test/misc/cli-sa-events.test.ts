// `keyplane sa list` and `keyplane events [--follow]` against a real admin API whose
// store holds real management-table entries (with keys) and events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findSecret } from '../store/helpers.js';
import { entryNumbered, randomKeys, secretsOfEntry } from '../store/settings-fixtures.js';
import { startTestApi, type TestApi } from '../controller/admin-helpers.js';
import { run, start } from './cli-api-run.js';

function withApi(fn: (t: TestApi, api: string[]) => Promise<void>, extra: Parameters<typeof startTestApi>[0] = {}): () => Promise<void> {
  return async () => {
    const t = await startTestApi(extra);
    try {
      await fn(t, ['--api', t.api.url, '--token-file', t.tokenFile]);
    } finally {
      await t.close();
    }
  };
}

const hex = (n: number | null) => `0x${n!.toString(16).padStart(8, '0')}`;
const NOW = entryNumbered(4, true).completedAtMs! + 125_000; // 2m05s after entry 4 completed

test(
  'sa list: pairs with device names, both SPIs, algorithms, age, renewal and expiry; pending requests; --all; --json; no keys',
  withApi(
    async (t, api) => {
      assert.match((await run(['sa', 'list', ...api])).stdout, /^no SAs distributed yet/);
      const gw = await t.store.addDevice({ name: 'site-a', variant: 'explicit', forwardSecrecy: true, addresses: ['10.0.0.4'] }, Buffer.alloc(32, 3), 0);
      const base = entryNumbered(4, true, randomKeys); // aes256gcm16, udp, lifetime 64 s
      const e4 = { ...base, rows: [{ ...base.rows[0], deviceId: gw.id }, base.rows[1]] as const };
      // The entry a renewal replaced: the same pair and flow, other SPIs, completed 30 s earlier.
      const o8 = entryNumbered(8, true, randomKeys);
      const old = {
        ...o8,
        rows: [{ ...e4.rows[0], requestId: 77, spi: 0x7000 }, { ...e4.rows[1], spi: 0x7001 }] as const,
        flow: e4.flow,
        params: [{ ...o8.params![0], spi: 0x7001 }, { ...o8.params![1], spi: 0x7000 }] as const,
        createdAtMs: e4.createdAtMs - 30_000,
        completedAtMs: e4.completedAtMs! - 30_000,
      };
      const pending = entryNumbered(5, false);
      for (const e of [e4, old, pending]) await t.store.saveEntry(e);

      const r = await run(['sa', 'list', ...api]);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.split('\n');
      assert.match(lines[0]!, /^A\s+B\s+FLOW\s+SPI A->B\s+SPI B->A\s+ESP\s+MODE\s+AGE\s+RENEW IN\s+EXPIRES IN$/);
      // 64 s lifetime: renew at 0.8 * 64 = 51.2 s after completion, i.e. 73.8 s overdue at NOW.
      const row = new RegExp(
        `^10\\.0\\.0\\.4 \\(site-a\\)\\s+2001:db8::1\\s+udp\\s+${hex(e4.rows[1].spi)}\\s+${hex(e4.rows[0].spi)}\\s+aes256gcm16\\s+tunnel\\s+2m05s\\s+overdue 1m13s\\s+overdue 1m01s$`,
      );
      assert.match(lines[1]!, row);
      assert.equal(lines.filter((l) => l.includes('aes')).length, 1, 'the replaced entry is hidden without --all');
      assert.match(r.stdout, /Waiting for the peer:\n\s+REQUESTER\s+PEER\s+FLOW\s+POLICY\s+ACTIVATIONS\s+SINCE\n\s+10\.0\.0\.5\s+2001:db8::1\s+any\s+policy-0\s+2\s/);

      const all = await run(['sa', 'list', '--all', ...api]);
      assert.match(all.stdout, /CURRENT/);
      assert.match(all.stdout, /\s+yes\n/);
      assert.match(all.stdout, /\s+replaced\n/);

      const json = JSON.parse((await run(['sa', 'list', '--json', ...api])).stdout) as { sas: { entryId: string; ageSeconds: number; renewAt: string }[]; pending: unknown[] };
      assert.deepEqual(json.sas.map((s) => s.entryId), [e4.id]);
      assert.equal(json.sas[0]!.ageSeconds, 125);
      assert.equal(json.sas[0]!.renewAt, new Date(e4.completedAtMs! + 51_200).toISOString());
      assert.equal(json.pending.length, 1);

      for (const out of [r.stdout, all.stdout, JSON.stringify(json)]) {
        for (const k of [...secretsOfEntry(e4), ...secretsOfEntry(old)]) assert.equal(findSecret(Buffer.from(out), k), undefined);
      }
    },
    { nowMs: () => NOW },
  ),
);

test(
  'events: newest by default, --after/--limit pages, --json, bad options exit 2',
  withApi(async (t, api) => {
    assert.match((await run(['events', ...api])).stdout, /^no events\n$/);
    const d = await t.store.addDevice({ name: 'gw', variant: 'explicit', forwardSecrecy: true }, Buffer.alloc(32, 4), 0);
    await t.store.appendEvents(Array.from({ length: 30 }, (_, i) => ({ atMs: 1_700_000_000_000 + i * 1000, kind: i % 2 ? 'distributed' : 'request', deviceId: i % 2 ? d.id : null, detail: { n: i, step: 'S11', note: 'two words' } })));
    const r = await run(['events', ...api]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+TIME\s+KIND\s+DEVICE\s+DETAIL$/);
    assert.equal(lines.length, 21, 'the newest 20');
    assert.match(lines[1]!, /^\d+\s+2023-11-14T22:13:30\.000Z\s+request\s+-\s+n=10 step=S11 note="two words"$/);
    assert.match(lines[20]!, /\s+distributed\s+gw\s+n=29 /);

    const first = JSON.parse((await run(['events', '--json', '--after', '0', '--limit', '5', ...api])).stdout) as { events: { id: number; detail: { n: number } }[]; last: number };
    assert.deepEqual(first.events.map((e) => e.detail.n), [0, 1, 2, 3, 4]);
    const next = JSON.parse((await run(['events', '--json', '--after', String(first.last), '--limit', '2', ...api])).stdout) as { events: { detail: { n: number } }[] };
    assert.deepEqual(next.events.map((e) => e.detail.n), [5, 6]);
    for (const args of [['--limit', '0'], ['--limit', '5000'], ['--after', '-1'], ['--interval', 'x']]) {
      const b = await run(['events', ...args, ...api]);
      assert.equal(b.status, 2, args.join(' '));
    }
  }),
);

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'events --follow prints new events as they come and exits 0 on SIGTERM; --json gives one object per line',
  withApi(async (t, api) => {
    await t.store.appendEvents([{ atMs: 1, kind: 'request', deviceId: null, detail: { n: 'old' } }]);
    for (const json of [false, true]) {
      const f = start(['events', '--follow', '--interval', '0.1', ...(json ? ['--json'] : []), ...api]);
      await until('the existing event', () => f.stdout().includes('old'));
      await t.store.appendEvents([{ atMs: 2, kind: 'distributed', deviceId: null, detail: { n: `new-${json}` } }]);
      await until('the new event', () => f.stdout().includes(`new-${json}`));
      await t.store.appendEvents([{ atMs: 3, kind: 'expired', deviceId: null, detail: { n: `later-${json}` } }]);
      await until('the later event', () => f.stdout().includes(`later-${json}`));
      f.child.kill('SIGTERM');
      const r = await f.done;
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.trimEnd().split('\n');
      if (json) {
        const objs = out.map((l) => JSON.parse(l) as { kind: string; detail: { n: string } });
        assert.deepEqual(objs.slice(-2).map((o) => [o.kind, o.detail.n]), [['distributed', 'new-true'], ['expired', 'later-true']]);
      } else {
        assert.equal(out.filter((l) => l.includes('new-false')).length, 1, 'each event once');
        assert.match(out[out.length - 1]!, /expired\s+-\s+n=later-false$/);
      }
    }
  }),
);
