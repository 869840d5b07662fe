// SenderPeerDurable <-> bytes: every valid state round-trips exactly; anything else,
// random bytes or a valid encoding with one field changed, is a StoreError and never
// an exception of another kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeSenderPeerDurable, encodeSenderPeerDurable } from '../../src/store/durable-codec.js';
import { StoreError } from '../../src/store/types.js';
import { DURABLE_VERSION } from '../../src/keyroll/durable.js';
import type { SenderPeerDurable } from '../../src/keyroll/types.js';
import type { KeyDurable } from '../../src/keyroll/durable.js';
import { norm, numberedState, realChannelStates } from './helpers.js';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const spi = fc.integer({ min: 256, max: 0xffff_ffff });
const seq = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff + 2048 }), fc.constant(Number.MAX_SAFE_INTEGER));
// JSON has no -0; as a time it means the same as 0, so the generator does not make it.
const time = fc.option(
  fc.oneof(fc.integer({ min: -1e15, max: 1e15 }), fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x))),
  { nil: null },
);
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

const key: fc.Arbitrary<KeyDurable> = fc.record({ generation: u32, spi, material: bytes(32), sendSeqReserved: seq, receiveTop: seq });
const ephemeral = fc.oneof(
  fc.constant(null),
  fc.record({ keId: fc.constant(31), senderPublic: bytes(32), receiverPublic: bytes(32) }),
  fc.record({ keId: fc.constant(32), senderPublic: bytes(56), receiverPublic: bytes(56) }),
);
const durable: fc.Arbitrary<SenderPeerDurable> = fc.record({
  version: fc.constant(DURABLE_VERSION),
  latest: fc.option(key, { nil: null }),
  previous: fc.oneof(fc.constant(null), fc.constant('init' as const), key),
  latestDistribution: fc.option(
    fc.record({ kind: fc.constantFrom('init' as const, 'rotation' as const), generation: fc.integer({ min: 1, max: 0xffff_ffff }), spi, seed: bytes(32), ephemeral }),
    { nil: null },
  ),
  chainOriginMessageId: fc.option(u32, { nil: null }),
  rotationDueAtMs: time,
  rotationDue: fc.boolean(),
  lastRotationAtMs: time,
  initTopSeq: seq,
  initSendSeqReserved: seq,
});

function isStoreErrorOnly(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof StoreError, `not a StoreError: ${String(e)}`);
    assert.match(e.code, /^store\.(bad-channel-state|channel-state-version)$/);
  }
}

test('valid states round-trip exactly (property)', () => {
  fc.assert(
    fc.property(durable, (d) => {
      assert.deepEqual(norm(decodeSenderPeerDurable(encodeSenderPeerDurable(d))), norm(d));
    }),
    { numRuns: 500 },
  );
});

test('states produced by the real keyroll cores round-trip exactly', () => {
  const states = realChannelStates({ deviceId: 'dev', initKey: Buffer.alloc(32, 9), initSpi: 777, variant: 'spi', forwardSecrecy: true }, 3);
  assert.ok(states.length > 3);
  for (const s of states) assert.deepEqual(norm(decodeSenderPeerDurable(encodeSenderPeerDurable(s))), norm(s));
});

test('random bytes decode to a StoreError only (property)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.json().map((j) => Buffer.from(j))), (b) => {
      isStoreErrorOnly(() => decodeSenderPeerDurable(b));
    }),
    { numRuns: 1000 },
  );
});

// Every path to a value inside a JSON tree.
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return [prefix];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return [prefix, ...keys.flatMap((k) => paths((v as Record<string | number, unknown>)[k], [...prefix, k]))];
}

test('a valid encoding with one field replaced, removed or added is a StoreError or a valid state (property)', () => {
  const base = JSON.parse(encodeSenderPeerDurable(numberedState(3)).toString()) as Record<string, unknown>;
  const all = paths(base).filter((p) => p.length > 0);
  const junk = fc.oneof(fc.jsonValue(), fc.constantFrom(-1, 2 ** 53, 1.5, 'init', '', 'AAAA', null, [], {}, true, 255, 256, 2 ** 32));
  fc.assert(
    fc.property(fc.constantFrom(...all), junk, fc.constantFrom('replace', 'delete', 'add'), (path, value, op) => {
      const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
      let parent: Record<string | number, unknown> = copy;
      for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      const last = path[path.length - 1]!;
      if (op === 'replace') parent[last] = value;
      else if (op === 'delete') delete parent[last];
      else parent[`x${String(last)}`] = value;
      isStoreErrorOnly(() => {
        const d = decodeSenderPeerDurable(Buffer.from(JSON.stringify(copy)));
        // Whatever decodes is a state the codec can write again.
        assert.deepEqual(norm(decodeSenderPeerDurable(encodeSenderPeerDurable(d))), norm(d));
      });
    }),
    { numRuns: 1000 },
  );
});

test('specific refusals carry the field path, never a value', () => {
  const good = numberedState(4);
  const secret = Buffer.from((good.latest as KeyDurable).material).toString('base64');
  const cases: [Partial<Record<keyof SenderPeerDurable, unknown>>, RegExp][] = [
    [{ latest: { ...(good.latest as KeyDurable), material: Buffer.alloc(31) } }, /latest\.material must be 32 bytes/],
    [{ latest: { ...(good.latest as KeyDurable), spi: 255 } }, /latest\.spi must be an integer in 256\.\./],
    [{ previous: 'init2' }, /previous must be an object/],
    [{ initTopSeq: -1 }, /initTopSeq must be an integer/],
    [{ rotationDue: 'yes' }, /rotationDue must be true or false/],
    [{ latestDistribution: { ...good.latestDistribution!, ephemeral: { keId: 99, senderPublic: Buffer.alloc(32), receiverPublic: Buffer.alloc(32) } } }, /ephemeral\.keId must be one of 31, 32/],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => encodeSenderPeerDurable({ ...good, ...change } as SenderPeerDurable),
      (e: unknown) => e instanceof StoreError && e.code === 'store.bad-channel-state' && message.test(e.message) && !e.message.includes(secret),
    );
  }
  const v2 = JSON.stringify({ ...JSON.parse(encodeSenderPeerDurable(good).toString()), version: 2 });
  assert.throws(() => decodeSenderPeerDurable(Buffer.from(v2)), (e: unknown) => e instanceof StoreError && e.code === 'store.channel-state-version');
  // Non-canonical base64 (a changed padding bit decodes to the same bytes in Node) is refused.
  const json = JSON.parse(encodeSenderPeerDurable(good).toString()) as { latest: { material: string } };
  const m = json.latest.material; // 32 bytes -> 43 chars + '='
  json.latest.material = m.slice(0, 42) + String.fromCharCode(m.charCodeAt(42) + 1) + '=';
  assert.throws(() => decodeSenderPeerDurable(Buffer.from(JSON.stringify(json))), (e: unknown) => e instanceof StoreError && /latest\.material/.test(e.message));
});
