// The admin HTTP API, over real HTTP on 127.0.0.1 against a real SQLite store: the token
// check, every route, validation errors that name the field, bad JSON, oversize bodies,
// unknown routes, and no key material in any response or log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptionByName, integrityByName } from '../../src/crypto/registry.js';
import { parseEnrollmentToken } from '../../src/store/enrollment-token.js';
import { AdminTokenError, adminTokenText, loadOrCreateAdminToken, readAdminToken } from '../../src/controller/admin-token.js';
import { findSecret } from '../store/helpers.js';
import { entryNumbered, randomKeys, secretsOfEntry } from '../store/settings-fixtures.js';
import { startTestApi, type TestApi } from './admin-helpers.js';

function withApi(fn: (t: TestApi) => Promise<void>, extra: Parameters<typeof startTestApi>[0] = {}): () => Promise<void> {
  return async () => {
    const t = await startTestApi(extra);
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  };
}

function fieldsOf(json: Record<string, unknown>): string[] {
  return ((json['issues'] as { field: string }[] | undefined) ?? []).map((i) => i.field);
}

test(
  'every request needs the bearer token; failures are 401, identical, counted and logged without the token',
  withApi(async (t) => {
    const wrong = [
      { token: null }, // no header
      { token: '' },
      { token: t.tokenText.slice(0, -1) }, // a prefix
      { token: `${t.tokenText}A` }, // one more character
      { token: `${t.tokenText.slice(0, -1)}${t.tokenText.endsWith('A') ? 'B' : 'A'}` }, // last character differs
      { token: `${t.tokenText.startsWith('A') ? 'B' : 'A'}${t.tokenText.slice(1)}` }, // first character differs
      { token: Buffer.from(t.token).toString('hex') }, // the right bytes, another encoding
      { token: null, headers: { Authorization: `Basic ${t.tokenText}` } },
      { token: null, headers: { Authorization: t.tokenText } },
    ];
    const bodies = new Set<string>();
    for (const [i, w] of wrong.entries()) {
      for (const [method, path] of [
        ['GET', '/v1/policies'],
        ['POST', '/v1/devices'],
        ['GET', '/no/such/route'], // 401, not 404: nothing about the routes leaks
      ] as const) {
        const r = await t.call(method, path, { ...w, ...(method === 'POST' ? { body: { name: 'x' } } : {}) });
        assert.equal(r.status, 401, `case ${i} ${method} ${path}`);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="keyplane"');
        bodies.add(r.text);
      }
    }
    assert.equal(bodies.size, 1, 'every failure gets the same answer');
    assert.equal(JSON.parse([...bodies][0]!).code, 'api.unauthorized');
    assert.equal(t.api.counters.get('admin.auth-failed'), wrong.length * 3);
    assert.equal(await t.store.getDeviceByName('x'), undefined, 'an unauthenticated POST changed nothing');
    // Logged (rate-limited: one line for this burst), never with the token.
    const authLines = t.logs.filter((l) => l.includes('admin-auth-failed'));
    assert.equal(authLines.length, 1);
    assert.match(authLines[0]!, /count=1 total=1/);
    for (const l of t.logs) assert.ok(!l.includes(t.tokenText), l);

    // The scheme is case-insensitive (RFC 7235 §2.1).
    assert.equal((await t.call('GET', '/v1/policies', { token: null, headers: { Authorization: `bearer ${t.tokenText}` } })).status, 200);
    assert.equal((await t.call('GET', '/v1/policies')).status, 200);
  }),
);

test(
  'policies: add with defaults and explicit values, list, conflicts (409), remove by name or id (404 after)',
  withApi(async (t) => {
    const r1 = await t.call('POST', '/v1/policies', { body: { name: 'berlin-paris', a: '192.0.2.1', b: '2001:DB8::2' } });
    assert.equal(r1.status, 201, r1.text);
    const gcm = encryptionByName('aes256gcm16');
    assert.deepEqual({ ...(r1.json['policy'] as object), id: 'X', createdAt: 'T' }, {
      id: 'X',
      name: 'berlin-paris',
      a: '192.0.2.1',
      b: '2001:db8::2',
      flow: null,
      protocol: 'esp',
      mode: 'tunnel',
      esp: 'aes256gcm16',
      encryption: { id: gcm.id, keyBits: 256, name: 'aes256gcm16' },
      integrity: null,
      esn: false,
      lifetimeSeconds: 3600,
      createdAt: 'T',
    });
    const r2 = await t.call('POST', '/v1/policies', {
      body: { name: 'https', a: '2001:db8::2', b: '192.0.2.1', flow: { protocol: 'tcp', port: 443 }, esp: 'AES128-SHA256', mode: 'transport', lifetimeSeconds: 10, esn: true },
    });
    assert.equal(r2.status, 201, r2.text);
    const p2 = r2.json['policy'] as Record<string, unknown>;
    assert.deepEqual(p2['flow'], { protocol: 6, port: 443 });
    assert.equal(p2['esp'], 'aes128-sha256');
    assert.deepEqual(p2['integrity'], { id: integrityByName('sha256').id, name: 'sha256' });
    assert.equal(p2['mode'], 'transport');
    assert.equal(p2['esn'], true);
    assert.equal(p2['lifetimeSeconds'], 10);
    const r3 = await t.call('POST', '/v1/policies', { body: { name: 'default', a: '*', b: '*', esp: 'chacha20poly1305', flow: { protocol: 'udp' } } });
    assert.equal(r3.status, 201, r3.text);
    assert.deepEqual((r3.json['policy'] as Record<string, unknown>)['flow'], { protocol: 17, port: null });

    // The store holds what the API said.
    const stored = await t.store.listPolicies();
    assert.deepEqual(stored.find((p) => p.name === 'https')?.applied, { protocol: 'esp', mode: 'transport', encryption: { id: encryptionByName('aes128').id, keyBits: 128 }, integrity: { id: integrityByName('sha256').id }, esn: true, lifetimeSeconds: 10 });

    for (const body of [
      { name: 'berlin-paris', a: '10.0.0.1', b: '10.0.0.2' },
      { name: 'reversed', a: '2001:db8:0::2', b: '192.0.2.1' },
    ]) {
      const r = await t.call('POST', '/v1/policies', { body });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json['code'], 'store.policy-exists');
      assert.equal(r.json['ok'], false);
    }

    const list = await t.call('GET', '/v1/policies');
    assert.deepEqual((list.json['policies'] as { name: string }[]).map((p) => p.name), ['berlin-paris', 'default', 'https']);
    assert.equal(t.changes, 3);

    const byName = await t.call('DELETE', '/v1/policies/berlin-paris');
    assert.equal(byName.status, 200, byName.text);
    assert.equal((byName.json['policy'] as { name: string }).name, 'berlin-paris');
    const again = await t.call('DELETE', '/v1/policies/berlin-paris');
    assert.equal(again.status, 404);
    assert.equal(again.json['code'], 'api.no-such-policy');
    const byId = await t.call('DELETE', `/v1/policies/${encodeURIComponent((r3.json['policy'] as { id: string }).id)}`);
    assert.equal(byId.status, 200);
    assert.deepEqual((await t.store.listPolicies()).map((p) => p.name), ['https']);
    assert.equal(t.changes, 5);
  }),
);

test(
  'every validation error is a 400 that names the field',
  withApi(async (t) => {
    const policy = { name: 'p', a: '10.0.0.1', b: '10.0.0.2' };
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/policies', { ...policy, name: 'bad name' }, 'name'],
      ['POST', '/v1/policies', { ...policy, name: 7 }, 'name'],
      ['POST', '/v1/policies', { a: '10.0.0.1', b: '10.0.0.2' }, 'name'],
      ['POST', '/v1/policies', { ...policy, a: '10.0.0.256' }, 'a'],
      ['POST', '/v1/policies', { ...policy, b: '10.0.0.0/24' }, 'b'],
      ['POST', '/v1/policies', { ...policy, b: '10.0.0.1' }, 'b'],
      ['POST', '/v1/policies', { ...policy, flow: { protocol: 'any' } }, 'flow.protocol'],
      ['POST', '/v1/policies', { ...policy, flow: { protocol: 'tcp', port: 0 } }, 'flow.port'],
      ['POST', '/v1/policies', { ...policy, flow: { protocol: 'icmp', port: 80 } }, 'flow.port'],
      ['POST', '/v1/policies', { ...policy, flow: { protocol: 6, ports: 80 } }, 'flow.ports'],
      ['POST', '/v1/policies', { ...policy, esp: 'aes256gcm16-sha256' }, 'esp'],
      ['POST', '/v1/policies', { ...policy, esp: 'aes128' }, 'esp'],
      ['POST', '/v1/policies', { ...policy, esp: 'null-sha256' }, 'esp'],
      ['POST', '/v1/policies', { ...policy, esp: 'des-md5' }, 'esp'],
      ['POST', '/v1/policies', { ...policy, esp: 'aes128-sha256-modp2048' }, 'esp'],
      ['POST', '/v1/policies', { ...policy, mode: 'beet' }, 'mode'],
      ['POST', '/v1/policies', { ...policy, lifetimeSeconds: 0 }, 'lifetimeSeconds'],
      ['POST', '/v1/policies', { ...policy, lifetimeSeconds: 1.5 }, 'lifetimeSeconds'],
      ['POST', '/v1/policies', { ...policy, lifetimeSeconds: '3600' }, 'lifetimeSeconds'],
      ['POST', '/v1/policies', { ...policy, esn: 'yes' }, 'esn'],
      ['POST', '/v1/policies', { ...policy, extra: 1 }, 'extra'],
      ['POST', '/v1/policies', null, ''],
      ['POST', '/v1/policies', [policy], ''],
      ['POST', '/v1/devices', { name: 'bad/name' }, 'name'],
      ['POST', '/v1/devices', { name: 'gw', variant: 'both' }, 'variant'],
      ['POST', '/v1/devices', { name: 'gw', forwardSecrecy: 'no' }, 'forwardSecrecy'],
      ['POST', '/v1/devices', { name: 'gw', addresses: ['10.0.0.1', 'ten'] }, 'addresses[1]'],
      ['POST', '/v1/devices', { name: 'gw', addresses: '10.0.0.1' }, 'addresses'],
      ['POST', '/v1/devices', { name: 'gw', controllerPort: 70000 }, 'controllerPort'],
      ['POST', '/v1/devices', { name: 'gw', controllerAddress: 'not an address' }, 'controllerAddress'],
      ['POST', '/v1/devices', { name: 'gw', initKey: 'AAAA' }, 'initKey'],
      ['PUT', '/v1/devices/gw/addresses', {}, 'addresses'],
      ['PUT', '/v1/devices/gw/addresses', { addresses: ['::'] }, 'addresses[0]'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await t.call(method, path, { raw: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json['code'], 'api.invalid');
      assert.ok(fieldsOf(r.json).includes(field), `${JSON.stringify(body)}: fields ${JSON.stringify(fieldsOf(r.json))}, want ${field}`);
      if (field !== '') assert.ok(String(r.json['message']).includes(field), `${field} in the message: ${String(r.json['message'])}`);
    }
    for (const [query, field] of [
      ['after=-1', 'after'],
      ['after=x', 'after'],
      ['limit=0', 'limit'],
      ['limit=5000', 'limit'],
      ['tail=5&after=1', 'tail'],
      ['since=1', 'since'],
    ] as const) {
      const r = await t.call('GET', `/v1/events?${query}`);
      assert.equal(r.status, 400, query);
      assert.ok(fieldsOf(r.json).includes(field), `${query}: ${r.text}`);
    }
    assert.equal((await t.store.listPolicies()).length + (await t.store.listDevices()).length, 0, 'nothing invalid was stored');
    assert.equal(t.changes, 0);
  }),
);

function rawPost(url: string, path: string, token: string, body: Buffer, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType, 'Content-Length': body.length } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test(
  'bad JSON, wrong content type and oversize bodies are answered (400/415/413) and the server carries on',
  withApi(async (t) => {
    for (const raw of ['{', '{"name": "p",}', '', '   ', 'nul', '\u0000\u0001', '{"a":'.repeat(2000)]) {
      const r = await t.call('POST', '/v1/policies', { raw, headers: { 'Content-Type': 'application/json' } });
      assert.equal(r.status, 400, JSON.stringify(raw.slice(0, 20)));
      assert.equal(r.json['code'], 'api.bad-json');
    }
    const typed = await t.call('POST', '/v1/policies', { raw: '{"name":"p","a":"*","b":"*"}', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(typed.status, 415);
    assert.equal(typed.json['code'], 'api.unsupported-media-type');
    const none = await t.call('POST', '/v1/policies', { raw: '{"name":"p","a":"*","b":"*"}', headers: { 'Content-Type': '' } });
    assert.equal(none.status, 415);
    // charset parameters are fine.
    const ok = await t.call('POST', '/v1/policies', { raw: '{"name":"p","a":"*","b":"*"}', headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    assert.equal(ok.status, 201, ok.text);

    const big = Buffer.from(JSON.stringify({ name: 'q', a: '*', b: '10.0.0.1', pad: 'x'.repeat(64 * 1024) }));
    const r = await rawPost(t.api.url, '/v1/policies', t.tokenText, big);
    assert.equal(r.status, 413, r.text);
    assert.equal(JSON.parse(r.text).code, 'api.too-large');
    // Just under the limit is read (and refused for its unknown field, so it was parsed).
    const under = Buffer.from(JSON.stringify({ name: 'q', a: '*', b: '10.0.0.1', pad: 'x'.repeat(64 * 1024 - 60) }));
    assert.ok(under.length <= 64 * 1024);
    const u = await rawPost(t.api.url, '/v1/policies', t.tokenText, under);
    assert.equal(u.status, 400, u.text);
    assert.deepEqual(fieldsOf(JSON.parse(u.text)), ['pad']);
    // Far too large: the connection is cut, the server stays up.
    await rawPost(t.api.url, '/v1/policies', t.tokenText, Buffer.alloc(4 * 1024 * 1024, 0x20)).catch(() => undefined);

    assert.equal((await t.call('GET', '/v1/policies')).status, 200, 'still serving');
    assert.equal(t.api.counters.get('admin.error'), 0, 'no bad request became a 500');
    assert.deepEqual((await t.store.listPolicies()).map((p) => p.name), ['p']);
  }),
);

test(
  'unknown routes are 404, a known path with another method 405 with Allow, bad percent-encoding 400',
  withApi(async (t) => {
    for (const path of ['/', '/v1', '/v2/policies', '/v1/policies/x/y', '/v1/devices/x/frobnicate', '/v1/sas/x']) {
      const r = await t.call('GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.json['code'], 'api.no-route');
    }
    const m = await t.call('PATCH', '/v1/policies');
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET, POST');
    assert.equal((await t.call('GET', '/v1/policies/')).status, 200, 'a trailing slash is the same resource');
    assert.equal((await t.call('DELETE', '/v1/devices/%E0%A4%A')).status, 400);
  }),
);

test(
  'devices: add returns a working enrollment token once; list, addresses, revoke and remove; conflicts name the field',
  withApi(async (t) => {
    const add = await t.call('POST', '/v1/devices', { body: { name: 'gw-berlin', addresses: ['192.0.2.1', '2001:DB8::1'] } });
    assert.equal(add.status, 201, add.text);
    const device = add.json['device'] as Record<string, unknown>;
    assert.deepEqual(device['addresses'], ['192.0.2.1', '2001:db8::1']);
    assert.equal(device['status'], 'active');
    assert.equal(device['variant'], 'explicit');
    assert.equal(device['forwardSecrecy'], true);
    const token = parseEnrollmentToken(add.json['token'] as string);
    assert.equal(token.deviceId, device['id']);
    assert.deepEqual(Buffer.from(token.initKey), Buffer.from(await t.store.initKey(token.deviceId)), 'the token carries the stored init key');
    assert.deepEqual(token.controller, { address: '192.0.2.10', port: 4501, identity: await t.store.controllerId() });

    const add2 = await t.call('POST', '/v1/devices', { body: { name: 'pc1', variant: 'spi', forwardSecrecy: false, controllerAddress: 'ctl.example.net', controllerPort: 4600 } });
    assert.equal(add2.status, 201, add2.text);
    const t2 = parseEnrollmentToken(add2.json['token'] as string);
    assert.deepEqual([t2.variant, t2.forwardSecrecy, t2.controller.address, t2.controller.port], ['spi', false, 'ctl.example.net', 4600]);

    const dup = await t.call('POST', '/v1/devices', { body: { name: 'gw-berlin' } });
    assert.equal(dup.status, 409);
    assert.deepEqual([dup.json['code'], dup.json['field']], ['store.device-exists', 'name']);
    const taken = await t.call('POST', '/v1/devices', { body: { name: 'gw3', addresses: ['2001:db8:0:0::1'] } });
    assert.equal(taken.status, 409);
    assert.deepEqual([taken.json['code'], taken.json['field']], ['store.address-taken', 'addresses']);
    assert.match(String(taken.json['message']), /gw-berlin/);

    const list = await t.call('GET', '/v1/devices');
    const devices = list.json['devices'] as Record<string, unknown>[];
    assert.deepEqual(devices.map((d) => d['name']), ['gw-berlin', 'pc1']);
    assert.ok(!list.text.includes('token') && !list.text.includes('initKey'));

    const put = await t.call('PUT', '/v1/devices/pc1/addresses', { body: { addresses: ['10.9.0.1', '10.9.0.1'] } });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual((put.json['device'] as { addresses: string[] }).addresses, ['10.9.0.1']);
    const steal = await t.call('PUT', `/v1/devices/${t2.deviceId}/addresses`, { body: { addresses: ['192.0.2.1'] } });
    assert.equal(steal.status, 409, 'by id too');

    const rev = await t.call('POST', '/v1/devices/pc1/revoke');
    assert.equal(rev.status, 200, rev.text);
    assert.equal(rev.json['revoked'], true);
    assert.equal((rev.json['device'] as { status: string }).status, 'revoked');
    assert.equal((await t.call('POST', '/v1/devices/pc1/revoke')).json['revoked'], false, 'revoking twice is harmless');

    const rm = await t.call('DELETE', '/v1/devices/gw-berlin');
    assert.equal(rm.status, 200);
    assert.equal(await t.store.getDeviceByName('gw-berlin'), undefined);
    for (const [method, path] of [
      ['DELETE', '/v1/devices/gw-berlin'],
      ['POST', '/v1/devices/nobody/revoke'],
      ['PUT', '/v1/devices/nobody/addresses'],
    ] as const) {
      const r = await t.call(method, path, method === 'PUT' ? { body: { addresses: [] } } : {});
      assert.equal(r.status, 404, path);
      assert.equal(r.json['code'], 'api.no-such-device');
    }
    // add, add, addresses, revoke, remove
    assert.equal(t.changes, 5);
    for (const l of t.logs) assert.ok(!l.includes(add.json['token'] as string) && !l.includes('kp1.'), l);
  }),
);

test(
  'GET /v1/sas shows pairs, both SPIs, algorithm names, age, expiry and next renewal, and never a key',
  withApi(
    async (t) => {
      const a = await t.store.addDevice({ name: 'site-a', variant: 'explicit', forwardSecrecy: true, addresses: ['10.0.0.1'] }, Buffer.alloc(32, 1), 0);
      const policy = await t.store.addPolicy({ name: 'pol', a: '*', b: '*', flow: null, applied: entryNumbered(1, true).applied }, 0);
      const base = entryNumbered(1, true, randomKeys);
      const e1 = { ...base, rows: [{ ...base.rows[0], deviceId: a.id }, base.rows[1]] as const, policyId: policy.id };
      // A renewal of the same pair, completed later: the current one.
      const r = entryNumbered(2, true, randomKeys);
      const e2 = { ...r, rows: [{ ...e1.rows[0], requestId: 99, spi: 0x5000 }, { ...e1.rows[1], spi: 0x5001 }] as const, flow: e1.flow, params: [{ ...r.params![0], spi: 0x5001 }, { ...r.params![1], spi: 0x5000 }] as const, createdAtMs: e1.createdAtMs + 500_000, completedAtMs: e1.completedAtMs! + 500_000 };
      const pending = entryNumbered(3, false);
      for (const e of [e1, e2, pending]) await t.store.saveEntry(e);

      const res = await t.call('GET', '/v1/sas');
      assert.equal(res.status, 200, res.text);
      const sas = res.json['sas'] as Record<string, unknown>[];
      assert.equal(sas.length, 2);
      const s1 = sas.find((s) => s['entryId'] === e1.id)!;
      const now = e1.completedAtMs! + 1_234_567;
      assert.deepEqual(s1['a'], { address: e1.rows[0].address, deviceId: a.id, device: 'site-a', requestId: e1.rows[0].requestId, inboundSpi: `0x${e1.rows[0].spi!.toString(16).padStart(8, '0')}` });
      assert.deepEqual(s1['spis'], { aToB: `0x${e1.rows[1].spi!.toString(16).padStart(8, '0')}`, bToA: `0x${e1.rows[0].spi!.toString(16).padStart(8, '0')}` });
      assert.equal(s1['policy'], 'pol');
      assert.equal(s1['encryption'], 'aes128');
      assert.equal(s1['integrity'], 'sha256');
      assert.equal(s1['esp'], 'aes128-sha256');
      assert.equal(s1['ageSeconds'], Math.floor((now - e1.completedAtMs!) / 1000));
      assert.equal(s1['expiresAt'], new Date(e1.expiresAtMs!).toISOString());
      assert.equal(s1['renewAt'], new Date(e1.completedAtMs! + 0.8 * e1.applied.lifetimeSeconds * 1000).toISOString());
      assert.equal(s1['current'], false, 'superseded by the renewal');
      assert.equal(sas.find((s) => s['entryId'] === e2.id)!['current'], true);
      const pend = res.json['pending'] as Record<string, unknown>[];
      assert.deepEqual(pend.map((p) => p['entryId']), [pending.id]);
      assert.equal(pend[0]!['activationsSent'], 2);

      const secrets = [...secretsOfEntry(e1), ...secretsOfEntry(e2)];
      for (const resp of t.responses) for (const k of secrets) assert.equal(findSecret(Buffer.from(resp.text), k), undefined, `${resp.method} ${resp.path}`);
      // The scan can fail: a key in a JSON response, base64-encoded, is found.
      assert.ok(findSecret(Buffer.from(JSON.stringify({ key: Buffer.from(secrets[0]!).toString('base64') })), secrets[0]!) !== undefined);
    },
    { nowMs: () => entryNumbered(1, true).completedAtMs! + 1_234_567 },
  ),
);

test(
  'GET /v1/events: after/limit pages in order, tail gives the newest, device names resolved',
  withApi(async (t) => {
    const d = await t.store.addDevice({ name: 'gw', variant: 'explicit', forwardSecrecy: true }, Buffer.alloc(32, 2), 0);
    await t.store.appendEvents(Array.from({ length: 2500 }, (_, i) => ({ atMs: 1_700_000_000_000 + i, kind: i % 2 ? 'request' : 'distributed', deviceId: i % 3 ? d.id : null, detail: { i } })));
    const first = await t.call('GET', '/v1/events?limit=10');
    const ev = first.json['events'] as { id: number; kind: string; device: string | null; detail: { i: number }; at: string }[];
    assert.equal(ev.length, 10);
    assert.deepEqual(ev.map((e) => e.detail.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(ev[1]!.device, 'gw');
    assert.equal(ev[0]!.device, null);
    assert.equal(ev[0]!.at, new Date(1_700_000_000_000).toISOString());
    assert.equal(first.json['last'], ev[9]!.id);
    const next = await t.call('GET', `/v1/events?after=${String(first.json['last'])}&limit=3`);
    assert.deepEqual((next.json['events'] as { detail: { i: number } }[]).map((e) => e.detail.i), [10, 11, 12]);
    const tail = await t.call('GET', '/v1/events?tail=4');
    assert.deepEqual((tail.json['events'] as { detail: { i: number } }[]).map((e) => e.detail.i), [2496, 2497, 2498, 2499]);
    const end = await t.call('GET', `/v1/events?after=${String(tail.json['last'])}`);
    assert.deepEqual(end.json['events'], []);
    assert.equal(end.json['last'], tail.json['last'], 'an empty page keeps the cursor');
  }),
);

test('admin token file: created 0600 in a 0700 folder, read back; wider modes, links and bad content refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyplane-token-'));
  try {
    const file = join(dir, 'lib/admin.token');
    const token = loadOrCreateAdminToken(file);
    assert.equal(token.length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'lib')).mode & 0o777, 0o700);
    assert.equal(readFileSync(file, 'latin1'), `${adminTokenText(token)}\n`);
    assert.match(readFileSync(file, 'latin1'), /^[A-Za-z0-9_-]{43}\n$/);
    assert.deepEqual(Buffer.from(loadOrCreateAdminToken(file)), Buffer.from(token), 'an existing token is kept');
    assert.notDeepEqual(Buffer.from(loadOrCreateAdminToken(join(dir, 'other.token'))), Buffer.from(token));

    const refused = (code: string, re?: RegExp) => (e: unknown) => e instanceof AdminTokenError && e.code === code && (re === undefined || re.test(e.message));
    for (const mode of [0o640, 0o604, 0o660, 0o644, 0o602]) {
      chmodSync(file, mode);
      assert.throws(() => loadOrCreateAdminToken(file), refused('admin.token-permissions', /chmod 600/), mode.toString(8));
      assert.throws(() => readAdminToken(file), refused('admin.token-permissions'));
    }
    chmodSync(file, 0o400);
    assert.deepEqual(Buffer.from(readAdminToken(file)), Buffer.from(token));
    symlinkSync(file, join(dir, 'link.token'));
    assert.throws(() => loadOrCreateAdminToken(join(dir, 'link.token')), refused('admin.token-permissions', /symbolic link/));
    for (const content of ['', 'short\n', `${adminTokenText(token)}${adminTokenText(token)}\n`, `${adminTokenText(token).slice(0, 42)}=\n`, `${adminTokenText(token)} \n`]) {
      writeFileSync(join(dir, 'bad.token'), content, { mode: 0o600 });
      assert.throws(
        () => loadOrCreateAdminToken(join(dir, 'bad.token')),
        (e: unknown) => refused('admin.token-invalid')(e) && !(e as Error).message.includes(adminTokenText(token).slice(0, 20)),
        JSON.stringify(content),
      );
    }
    assert.throws(() => readAdminToken(join(dir, 'missing')), refused('admin.token-missing'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
