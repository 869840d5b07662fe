// native/esp_aead.c built with AddressSanitizer + UBSan and loaded into node (the ASan
// runtime preloaded), then driven from JavaScript with exact-size buffers (each
// Uint8Array's memory is its own heap block, so reading or writing one byte past it is a
// report): random round trips against node:crypto for every algorithm and ICV length,
// overlapping and in-place buffers, tampered input, argument garbage, and contexts
// destroyed and collected. It fails on a sanitizer report, a crash, or a wrong result.
// A planted one-byte overread in a scratch addon, run the same way, must be reported
// first, so a sanitizer setup that sees nothing cannot pass the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SANITIZER_ENV, SANITIZER_FLAGS, SANITIZER_REPORT, asanRuntime, compile, nodeIncludeDir, repoRoot } from '../native/build.js';

const skip = process.platform !== 'linux' ? 'Linux only' : false;
const dir = mkdtempSync(join(tmpdir(), 'kp-aead-asan-'));
const addon = join(dir, 'keyplane_aead.node');
const planted = join(dir, 'planted.node');

function build(source: string, out: string): void {
  compile([...SANITIZER_FLAGS, '-shared', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter', `-I${nodeIncludeDir()}`, source, '-o', out]);
}

before(() => {
  if (skip) return;
  build(join(repoRoot, 'native', 'esp_aead.c'), addon);
  // Reads one byte past the end of its Uint8Array argument.
  const src = join(dir, 'planted.c');
  writeFileSync(
    src,
    `#define NAPI_VERSION 8
#include <node_api.h>
static napi_value over(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; void *p; size_t len; napi_value r;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_typedarray_info(env, argv[0], NULL, &len, &p, NULL, NULL);
  napi_create_int32(env, ((volatile unsigned char *)p)[len], &r);
  return r;
}
NAPI_MODULE_INIT() { napi_value f; napi_create_function(env, "over", NAPI_AUTO_LENGTH, over, NULL, &f); return f; }
`,
  );
  build(src, planted);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function runUnderAsan(script: string, arg: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, arg], {
    cwd: repoRoot, // resolves fast-check from node_modules
    encoding: 'utf8',
    env: { ...process.env, ...SANITIZER_ENV, LD_PRELOAD: asanRuntime() },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the sanitizer setup reports a planted overread', { skip }, () => {
  const r = runUnderAsan(
    `import { createRequire } from 'node:module';
     const over = createRequire(process.cwd() + '/')(process.argv[1]);
     console.log(over(new Uint8Array(new ArrayBuffer(24))));`,
    planted,
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, SANITIZER_REPORT);
});

const CHILD = `
import { createRequire } from 'node:module';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
const b = createRequire(process.cwd() + '/')(process.argv[1]);
// Exact-size copies: each is its own heap block.
const exact = (buf) => { const u = new Uint8Array(new ArrayBuffer(buf.length)); u.set(buf); return u; };
const hex = (u) => Buffer.from(u.buffer, u.byteOffset, u.length).toString('hex');
const ALGS = [['aes-128-gcm', 16, [8, 12, 16]], ['aes-192-gcm', 24, [8, 12, 16]], ['aes-256-gcm', 32, [8, 12, 16]], ['chacha20-poly1305', 32, [16]]];
let checked = 0;
for (const [alg, keyBytes, icvs] of ALGS) {
  for (const icv of icvs) {
    const km = randomBytes(keyBytes + 4);
    const ctx = new b.AeadContext(alg, exact(km), icv);
    for (let i = 0; i < 60; i++) {
      const iv = exact(randomBytes(8)), aad = exact(randomBytes(i % 13)), pt = exact(randomBytes((i * 37) % 1500));
      const out = new Uint8Array(new ArrayBuffer(pt.length + icv));
      if (ctx.encryptTo(iv, aad, out, 0, pt) !== out.length) throw new Error('encryptTo length');
      const c = createCipheriv(alg, km.subarray(0, keyBytes), Buffer.concat([km.subarray(keyBytes), iv]), { authTagLength: icv });
      c.setAAD(aad, { plaintextLength: pt.length });
      const ref = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
      if (hex(out) !== ref.toString('hex')) throw new Error(alg + ' ' + icv + ': differs from node:crypto');
      const back = new Uint8Array(new ArrayBuffer(pt.length));
      if (ctx.decryptTo(iv, aad, out, back, 0) !== pt.length || hex(back) !== hex(pt)) throw new Error('decryptTo');
      const bad = exact(out); bad[i % bad.length] ^= 1;
      if (ctx.decryptTo(iv, aad, bad, back, 0) !== -1) throw new Error('tamper accepted');
      if (ctx.decryptTo(iv, aad, exact(out.subarray(0, icv - 1)), new Uint8Array(0), 0) !== -1) throw new Error('short accepted');
      // In place, and shifted by a few bytes in both directions.
      for (const shift of [0, -3, 5]) {
        const buf = new Uint8Array(new ArrayBuffer(pt.length + icv + 16));
        buf.set(pt, 8 + shift);
        ctx.encryptTo(iv, aad, buf, 8, buf.subarray(8 + shift, 8 + shift + pt.length));
        if (hex(buf.subarray(8, 8 + out.length)) !== hex(out)) throw new Error('shifted encrypt ' + shift);
        const n = ctx.decryptTo(iv, aad, buf.subarray(8, 8 + out.length), buf, 8 - shift);
        if (n !== pt.length || hex(buf.subarray(8 - shift, 8 - shift + n)) !== hex(pt)) throw new Error('shifted decrypt ' + shift);
      }
      checked++;
    }
    ctx.destroy();
  }
}
// Garbage: the process must survive and only coded errors (or V8's receiver check) appear.
const arg = fc.oneof(
  fc.anything(),
  fc.integer({ min: 0, max: 70 }).map((n) => new Uint8Array(new ArrayBuffer(n))),
  fc.constantFrom(8, 12, 16, 36, 20, -1, 0.5, NaN, Infinity, 2 ** 53, 'aes-128-gcm', 'chacha20-poly1305', null, undefined),
  fc.integer({ min: 0, max: 40 }).map((n) => new Float64Array(n)),
  fc.integer({ min: 0, max: 40 }).map((n) => new DataView(new ArrayBuffer(n))),
);
const good = new b.AeadContext('aes-128-gcm', exact(randomBytes(20)), 16);
fc.assert(fc.property(fc.constantFrom('encryptTo', 'decryptTo', 'construct'), fc.array(arg, { maxLength: 14 }), (m, args) => {
  try {
    if (m === 'construct') Reflect.construct(b.AeadContext, args);
    else Reflect.apply(b.AeadContext.prototype[m], good, args);
  } catch (err) {
    if (!(err instanceof Error) || !(String(err.code).startsWith('crypto.') || err.message === 'Illegal invocation')) throw err;
  }
}), { numRuns: 3000 });
// Lifetime: used, destroyed, used after destroy, collected.
for (let i = 0; i < 3000; i++) {
  const c = new b.AeadContext('aes-256-gcm', exact(randomBytes(36)), 16);
  const out = new Uint8Array(new ArrayBuffer(32));
  c.encryptTo(exact(randomBytes(8)), new Uint8Array(0), out, 0, exact(randomBytes(16)));
  c.decryptTo(exact(randomBytes(8)), new Uint8Array(0), out, new Uint8Array(new ArrayBuffer(16)), 0);
  if (i % 2) { c.destroy(); c.destroy(); try { c.encryptTo(new Uint8Array(8), new Uint8Array(0), out, 0); throw new Error('used after destroy'); } catch (e) { if (e.code !== 'crypto.bad-argument') throw e; } }
}
for (let i = 0; i < 6; i++) { gc(); await new Promise((r) => setImmediate(r)); }
console.log('asan-child-ok ' + checked + ' live=' + b.liveContexts());
`;

test('esp_aead.c under AddressSanitizer + UBSan: results right, no report', { skip }, () => {
  const r = runUnderAsan(CHILD, addon);
  assert.doesNotMatch(r.stderr, SANITIZER_REPORT, r.stderr.slice(0, 4000));
  assert.equal(r.status, 0, r.stderr.slice(0, 4000));
  const m = /asan-child-ok (\d+) live=(\d+)/.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  assert.equal(Number(m[1]), 10 * 60);
  // Of the ~3,000 contexts the child made, only `good` and a few the child's last values
  // may still reference remain.
  assert.ok(Number(m[2]) < 10, `contexts not finalized: ${m[2]}`);
});
