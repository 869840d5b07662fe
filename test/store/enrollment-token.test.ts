// Enrollment tokens: kp1.<base64url JSON>. Valid enrollments round-trip; random strings
// and mutated tokens fail with EnrollmentError only; error messages never carry the
// token or the init key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  EnrollmentError,
  encodeEnrollmentToken,
  enrollmentChannelParams,
  parseEnrollmentToken,
  type Enrollment,
} from '../../src/store/enrollment-token.js';
import { checkChannelParams } from '../../src/keyroll/params.js';
import { norm } from './helpers.js';

const hexChars = '0123456789abcdef'.split('');
const nameChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-'.split('');
const word = (chars: string[], min: number, max: number) => fc.array(fc.constantFrom(...chars), { minLength: min, maxLength: max }).map((a) => a.join(''));

const enrollment: fc.Arbitrary<Enrollment> = fc.record({
  deviceId: word(hexChars, 16, 16),
  name: word(nameChars, 1, 64),
  initKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  initSpi: fc.integer({ min: 256, max: 0xffff_ffff }),
  variant: fc.constantFrom('explicit' as const, 'spi' as const),
  forwardSecrecy: fc.boolean(),
  controller: fc.record({
    address: fc.oneof(fc.ipV4(), fc.constantFrom('2001:db8::1', 'controller.example.net', 'ctl-1.lan')),
    port: fc.integer({ min: 1, max: 65535 }),
    identity: word(hexChars, 32, 32),
  }),
});

function sample(): Enrollment {
  return {
    deviceId: '0123456789abcdef',
    name: 'gw-berlin',
    initKey: randomBytes(32),
    initSpi: 0x1234_5678,
    variant: 'explicit',
    forwardSecrecy: true,
    controller: { address: '192.0.2.10', port: 4510, identity: 'ab'.repeat(16) },
  };
}

function onlyEnrollmentError(f: () => unknown, secrets: string[] = []): EnrollmentError | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    assert.ok(e instanceof EnrollmentError, `not an EnrollmentError: ${String(e)}`);
    assert.match(e.code, /^enrollment\.token-(format|version|field)$/);
    for (const s of secrets) assert.ok(!e.message.includes(s), 'the message leaks a secret');
    return e;
  }
}

test('valid enrollments round-trip through a kp1. token (property)', () => {
  fc.assert(
    fc.property(enrollment, (e) => {
      const token = encodeEnrollmentToken(e);
      assert.match(token, /^kp1\.[A-Za-z0-9_-]+$/);
      assert.deepEqual(norm(parseEnrollmentToken(token)), norm(e));
      assert.deepEqual(norm(parseEnrollmentToken(`  ${token}\n`)), norm(e)); // pasted with whitespace
    }),
    { numRuns: 500 },
  );
});

test('a parsed token gives channel parameters the keyroll core accepts', () => {
  const e = sample();
  const p = enrollmentChannelParams(parseEnrollmentToken(encodeEnrollmentToken(e)));
  checkChannelParams(p);
  assert.deepEqual(norm(p), norm({ deviceId: e.deviceId, initKey: e.initKey, initSpi: e.initSpi, variant: e.variant, forwardSecrecy: e.forwardSecrecy }));
});

test('IP addresses are canonicalised; DNS names lower-cased', () => {
  const e = sample();
  const at = (address: string) => parseEnrollmentToken(encodeEnrollmentToken({ ...e, controller: { ...e.controller, address } })).controller.address;
  assert.equal(at('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(at('Controller.Example.NET.'), 'controller.example.net');
  for (const bad of ['', '300.1.1.1', '1.2.3', 'a..b', '-a.b', 'a_b.c', 'x'.repeat(64) + '.net', ':::', 'a b']) {
    assert.throws(() => encodeEnrollmentToken({ ...e, controller: { ...e.controller, address: bad } }), (x: unknown) => x instanceof EnrollmentError && x.field === 'controller.address', bad);
  }
});

test('random strings are refused with EnrollmentError only (property)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.base64String().map((s) => `kp1.${s}`)), (s) => {
      onlyEnrollmentError(() => parseEnrollmentToken(s));
    }),
    { numRuns: 1000 },
  );
  onlyEnrollmentError(() => parseEnrollmentToken(`kp1.${'A'.repeat(5000)}`));
  onlyEnrollmentError(() => parseEnrollmentToken(undefined as never));
});

test('mutated tokens: EnrollmentError, or a valid enrollment that encodes back the same (property)', () => {
  const e = sample();
  const token = encodeEnrollmentToken(e);
  const keyText = Buffer.from(e.initKey).toString('base64url');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('replace'), at: fc.nat(token.length - 1), c: fc.constantFrom(...alphabet) }),
    fc.record({ op: fc.constant('delete'), at: fc.nat(token.length - 1), c: fc.constant('') }),
    fc.record({ op: fc.constant('insert'), at: fc.nat(token.length), c: fc.constantFrom(...alphabet) }),
    fc.record({ op: fc.constant('truncate'), at: fc.nat(token.length - 1), c: fc.constant('') }),
  );
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
      let t = token;
      for (const m of ms) {
        const at = Math.min(m.at, t.length);
        if (m.op === 'replace') t = t.slice(0, at) + m.c + t.slice(at + 1);
        else if (m.op === 'delete') t = t.slice(0, at) + t.slice(at + 1);
        else if (m.op === 'insert') t = t.slice(0, at) + m.c + t.slice(at);
        else t = t.slice(0, at);
      }
      const err = onlyEnrollmentError(() => {
        const parsed = parseEnrollmentToken(t);
        assert.deepEqual(norm(parseEnrollmentToken(encodeEnrollmentToken(parsed))), norm(parsed));
      }, [keyText, token.slice(4, 60)]);
      if (err === undefined && t.trim() !== token) {
        // A mutation that still parses changed a value inside the JSON, never the key's
        // length or the structure.
        assert.equal(parseEnrollmentToken(t).initKey.length, 32);
      }
    }),
    { numRuns: 1000 },
  );
});

test('payload mutations: each bad field is named, unknown and missing fields are refused', () => {
  const e = sample();
  const payload = JSON.parse(Buffer.from(encodeEnrollmentToken(e).slice(4), 'base64url').toString()) as Record<string, unknown>;
  const tokenOf = (p: unknown) => `kp1.${Buffer.from(JSON.stringify(p)).toString('base64url')}`;
  const c = payload['controller'] as Record<string, unknown>;
  const cases: [unknown, string, string][] = [
    [{ ...payload, v: 2 }, 'enrollment.token-version', 'v'],
    [{ ...payload, deviceId: '' }, 'enrollment.token-field', 'deviceId'],
    [{ ...payload, deviceId: 'a b' }, 'enrollment.token-field', 'deviceId'],
    [{ ...payload, name: 'x'.repeat(65) }, 'enrollment.token-field', 'name'],
    [{ ...payload, initKey: Buffer.alloc(31).toString('base64url') }, 'enrollment.token-field', 'initKey'],
    [{ ...payload, initKey: Buffer.alloc(32).toString('base64') + '=' }, 'enrollment.token-field', 'initKey'],
    [{ ...payload, initSpi: 255 }, 'enrollment.token-field', 'initSpi'],
    [{ ...payload, initSpi: 2 ** 32 }, 'enrollment.token-field', 'initSpi'],
    [{ ...payload, initSpi: '4660' }, 'enrollment.token-field', 'initSpi'],
    [{ ...payload, variant: 'both' }, 'enrollment.token-field', 'variant'],
    [{ ...payload, forwardSecrecy: 'true' }, 'enrollment.token-field', 'forwardSecrecy'],
    [{ ...payload, controller: null }, 'enrollment.token-field', 'controller'],
    [{ ...payload, controller: { ...c, port: 0 } }, 'enrollment.token-field', 'controller.port'],
    [{ ...payload, controller: { ...c, port: 65536 } }, 'enrollment.token-field', 'controller.port'],
    [{ ...payload, controller: { ...c, identity: 'AB'.repeat(16) } }, 'enrollment.token-field', 'controller.identity'],
    [{ ...payload, controller: { ...c, extra: 1 } }, 'enrollment.token-field', 'controller.extra'],
    [{ ...payload, extra: 1 }, 'enrollment.token-field', 'extra'],
    [Object.fromEntries(Object.entries(payload).filter(([k]) => k !== 'name')), 'enrollment.token-field', 'name'],
    [[payload], 'enrollment.token-format', ''],
  ];
  for (const [p, code, field] of cases) {
    assert.throws(
      () => parseEnrollmentToken(tokenOf(p)),
      (x: unknown) => x instanceof EnrollmentError && x.code === code && (field === '' || x.field === field) && !x.message.includes(String(payload['initKey'])),
      `${code} ${field}`,
    );
  }
  assert.throws(() => parseEnrollmentToken('kp2.e30'), (x: unknown) => x instanceof EnrollmentError && x.code === 'enrollment.token-version');
  assert.throws(() => parseEnrollmentToken('KP1.e30'), (x: unknown) => x instanceof EnrollmentError && x.code === 'enrollment.token-format');
});
