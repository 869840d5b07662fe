// The native AEAD addon must never crash the process, whatever JavaScript hands it, and must
// free what it allocates:
// - random argument types, lengths and counts (fast-check), straight to the addon and
//   through the TypeScript wrapper: a number comes back or a coded TypeError/RangeError
//   (CryptoError from the wrapper) is thrown; the test process surviving is the no-crash check;
// - methods called on objects that are not contexts (including a context's prototype and
//   a plain object), and the constructor called without `new`;
// - create/discard loops in a child under --expose-gc: every context is finalized (the
//   addon's live count returns to its baseline) and RSS stays flat, while the same loop
//   keeping its contexts shows the count and RSS growing (so the measurement can fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CryptoError } from '../../src/crypto/types.js';
import { encryptionByName } from '../../src/crypto/registry.js';
import { aeadContext } from '../../src/crypto/encr-aead.js';
import { loadNativeAead, type NativeAeadBinding, type NativeAeadContext } from '../../src/crypto/native-aead.js';

function binding(): NativeAeadBinding {
  const b = loadNativeAead();
  assert.ok(b !== null, 'native AEAD addon not built');
  return b;
}

function detached(): Uint8Array {
  const u = new Uint8Array(16);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u;
}

// Arguments that look almost right as well as plain garbage.
const arg: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.integer({ min: 0, max: 70 }).map((n) => new Uint8Array(n)),
  fc.integer({ min: 0, max: 70 }).map((n) => Buffer.alloc(n)),
  fc.constantFrom(8, 12, 16, 36, 20),
  fc.constantFrom(-1, 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, -0, 1e300),
  fc.constantFrom('aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305', 'aes-128-cbc', '', 'x'.repeat(100)),
  fc.integer({ min: 0, max: 40 }).map((n) => new Uint16Array(n)),
  fc.integer({ min: 0, max: 40 }).map((n) => new Float64Array(n)),
  fc.integer({ min: 0, max: 40 }).map((n) => new DataView(new ArrayBuffer(n))),
  fc.integer({ min: 0, max: 40 }).map((n) => new ArrayBuffer(n)),
  fc.integer({ min: 0, max: 40 }).map((n) => new Uint8Array(new SharedArrayBuffer(n + 8), 8)),
  fc.constant(undefined).map(() => detached()),
  fc.constantFrom(null, undefined, Symbol('s'), 10n, () => 0, [new Uint8Array(8)]),
);

// V8 checks the receiver of a class method before the addon runs (napi_define_class
// methods carry a signature): a call on anything but an AeadContext instance is this
// TypeError. The addon's own type-tag check is the second line.
const isIllegalInvocation = (err: unknown): boolean => err instanceof TypeError && err.message === 'Illegal invocation';

// A coded error from the addon: TypeError or RangeError (or Error for an OpenSSL failure)
// whose code is a crypto.* code; or V8's receiver check.
function assertCoded(err: unknown): void {
  if (isIllegalInvocation(err)) return;
  assert.ok(err instanceof Error, `not an Error: ${String(err)}`);
  const code = (err as { code?: unknown }).code;
  assert.ok(typeof code === 'string' && code.startsWith('crypto.'), `uncoded error: ${err.name}: ${err.message}`);
}

test('garbage arguments to the addon: a result or a coded error, never a crash', () => {
  const b = binding();
  const good = new b.AeadContext('aes-128-gcm', randomBytes(20), 16);
  const other = new b.AeadContext('chacha20-poly1305', randomBytes(36), 16);
  const thisValues: unknown[] = [good, other, {}, Object.create(b.AeadContext.prototype), undefined, null, 5, b];
  fc.assert(
    fc.property(
      fc.constantFrom('encryptTo', 'decryptTo', 'destroyOther', 'construct'),
      fc.nat(thisValues.length - 1),
      fc.array(arg, { maxLength: 14 }),
      (method, thisIndex, args) => {
        try {
          if (method === 'construct') {
            const c = Reflect.construct(b.AeadContext, args);
            assert.equal(typeof c.encryptTo, 'function');
            return;
          }
          const self = method === 'destroyOther' ? thisValues[thisIndex] : thisIndex < 2 ? good : thisValues[thisIndex];
          const fn = method === 'destroyOther' ? b.AeadContext.prototype.destroy : b.AeadContext.prototype[method];
          if (method === 'destroyOther' && (self === good || self === other)) return; // keep the contexts usable
          const r: unknown = Reflect.apply(fn as (...a: unknown[]) => unknown, self, args);
          assert.ok(typeof r === 'number' || r === undefined, `unexpected result ${String(r)}`);
        } catch (err) {
          assertCoded(err);
        }
      },
    ),
    { numRuns: 3000 },
  );
  // Still working afterwards.
  const out = Buffer.alloc(32);
  assert.equal(good.encryptTo(Buffer.alloc(8), Buffer.alloc(0), out, 0, Buffer.alloc(16, 1)), 32);
  assert.equal(good.decryptTo(Buffer.alloc(8), Buffer.alloc(0), out, Buffer.alloc(16), 0), 16);
});

test('methods on non-contexts and the constructor without new throw TypeErrors', () => {
  const b = binding();
  const proto = b.AeadContext.prototype;
  for (const self of [{}, Object.create(proto), [], new Uint8Array(64), undefined]) {
    for (const fn of [proto.encryptTo, proto.decryptTo, proto.destroy]) {
      assert.throws(
        () => Reflect.apply(fn as (...a: unknown[]) => unknown, self, [Buffer.alloc(8), Buffer.alloc(0), Buffer.alloc(64), 0, Buffer.alloc(8)]),
        isIllegalInvocation,
      );
    }
  }
  assert.throws(
    () => Reflect.apply(b.AeadContext as unknown as (...a: unknown[]) => unknown, undefined, ['aes-128-gcm', randomBytes(20), 16]),
    (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'crypto.bad-argument',
  );
  // Unsupported algorithms and ICV lengths (RFC 4106 §6: 8/12/16; RFC 7634: 16 only).
  for (const [alg, km, icv] of [
    ['aes-128-cbc', 20, 16],
    ['aes-128-gcm', 20, 4],
    ['aes-128-gcm', 20, 17],
    ['chacha20-poly1305', 36, 12],
    ['chacha20-poly1305', 36, 8],
  ] as const) {
    assert.throws(() => new b.AeadContext(alg, randomBytes(km), icv), (e: unknown) => e instanceof RangeError, `${alg} icv ${icv}`);
  }
});

test('garbage arguments through the wrapper: only CryptoError', () => {
  const t = encryptionByName('aes256gcm12');
  const ctx = aeadContext(t, randomBytes(t.keyMaterialBytes), { native: true }) as NativeAeadContext;
  const call = (m: string, args: unknown[]) => Reflect.apply((ctx as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!, ctx, args);
  fc.assert(
    fc.property(
      fc.constantFrom('encrypt', 'encryptTo', 'decrypt', 'decryptTo'),
      fc.array(arg, { maxLength: 6 }),
      fc.option(fc.array(arg, { maxLength: 12 }), { nil: undefined }),
      (m, args, parts) => {
        if (m === 'encryptTo' && parts !== undefined) args.splice(2, 0, parts);
        try {
          const r = call(m, args);
          assert.ok(r === null || typeof r === 'number' || Buffer.isBuffer(r));
        } catch (err) {
          assert.ok(err instanceof CryptoError, `not a CryptoError: ${String(err)}`);
        }
      },
    ),
    { numRuns: 2000 },
  );
  assert.equal(ctx.decrypt(Buffer.alloc(8), Buffer.alloc(0), ctx.encrypt(Buffer.alloc(8), Buffer.alloc(0), Buffer.from('ok')))?.toString(), 'ok');
});

test('contexts are freed: create/discard under --expose-gc keeps the live count and RSS flat', () => {
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const script = `
    const { aeadContext } = await import(${url('../../src/crypto/encr-aead.js')});
    const { encryptionByName } = await import(${url('../../src/crypto/registry.js')});
    const { loadNativeAead } = await import(${url('../../src/crypto/native-aead.js')});
    const b = loadNativeAead();
    const t = encryptionByName('aes256gcm16');
    const km = Buffer.alloc(t.keyMaterialBytes, 7), iv = Buffer.alloc(8), aad = Buffer.alloc(8), pt = Buffer.alloc(64);
    // Finalizers run after the collection, from the event loop: collect and yield a few times.
    const settle = async () => { for (let i = 0; i < 6; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
    const kept = [];
    const round = (n, keep) => {
      for (let i = 0; i < n; i++) {
        const c = aeadContext(t, km, { native: true });
        c.decrypt(iv, aad, c.encrypt(iv, aad, pt)); // both directions keyed
        if (keep) kept.push(c);
      }
    };
    const N = 5000, ROUNDS = 8;
    await settle();
    const base = b.liveContexts();
    const rss = [];
    for (let r = 0; r < ROUNDS; r++) { round(N, false); await settle(); rss.push(process.memoryUsage().rss); }
    const liveAfterDiscard = b.liveContexts() - base;
    const rssBeforeKeep = process.memoryUsage().rss;
    for (let r = 0; r < 4; r++) round(N, true);
    await settle();
    console.log(JSON.stringify({ baseRss: rss[1],
      created: N * ROUNDS, liveAfterDiscard, rssGrowthDiscarded: rss[ROUNDS - 1] - rss[1],
      liveKept: b.liveContexts() - base, keptCount: kept.length, rssGrowthKept: process.memoryUsage().rss - rssBeforeKeep,
    }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  if (process.env.KEYPLANE_TEST_VERBOSE) console.log(r.stdout);
  const m = JSON.parse(r.stdout) as {
    created: number;
    liveAfterDiscard: number;
    rssGrowthDiscarded: number;
    liveKept: number;
    keptCount: number;
    rssGrowthKept: number;
  };
  const MB = 1024 * 1024;
  // 40,000 contexts created and dropped: all finalized, memory flat (a leak of the
  // OpenSSL contexts alone would be tens of MB).
  assert.ok(m.liveAfterDiscard <= 16, `contexts not finalized: ${JSON.stringify(m)}`);
  assert.ok(m.rssGrowthDiscarded < 8 * MB, `RSS grew: ${JSON.stringify(m)}`);
  // The control: 20,000 contexts kept alive are all counted, and cost visible memory.
  assert.equal(m.liveKept, m.keptCount);
  assert.ok(m.rssGrowthKept > 4 * m.rssGrowthDiscarded && m.rssGrowthKept > 10 * MB, `control did not grow: ${JSON.stringify(m)}`);
});
