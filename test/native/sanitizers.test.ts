// The native addon's packet code (native/segment.c: TSO segmentation of packets read from
// TUN, coalescing of TCP segments written to it, checksums, the UDP GRO split) under
// AddressSanitizer + UBSan. test/native/harness.c feeds it hand-made edge cases
// (gso_size 0/1/65535, hdr_len and csum offsets beyond the packet, IHL < 5, TCP data
// offset < 5 and > the packet, total lengths that disagree, every truncation, 64 KB
// packets, IPv6 extension headers) and 100k random and mutated cases with a fixed seed,
// every buffer an exact-size heap block; it checks what comes out too (checksums, sequence
// numbers, a coalesced run cut again gives back its segments byte for byte, corrupt
// segments are never merged). Any sanitizer report or failed check fails the test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SANITIZER_ENV, SANITIZER_FLAGS, SANITIZER_REPORT, compile, harnessSource, nativeDir } from './build.js';

const SEED = 20240527;
const CASES = 100_000;

const dir = mkdtempSync(join(tmpdir(), 'kp-native-harness-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function buildHarness(name: string, defines: string[] = []): string {
  const out = join(dir, name);
  compile([...SANITIZER_FLAGS, '-std=gnu11', '-Wall', '-Wextra', `-I${nativeDir}`, ...defines, harnessSource, join(nativeDir, 'segment.c'), '-o', out]);
  return out;
}

function run(binary: string, args: string[]) {
  return spawnSync(binary, args, { encoding: 'utf8', env: { ...process.env, ...SANITIZER_ENV }, timeout: 50_000 });
}

test('the sanitizers are live: a planted overread and a planted signed overflow are reported', () => {
  const overread = run(buildHarness('overread', ['-DKP_INJECT_OVERREAD']), ['1', '10']);
  assert.notEqual(overread.status, 0);
  assert.match(overread.stderr, /AddressSanitizer: heap-buffer-overflow/);
  const ub = run(buildHarness('ub', ['-DKP_INJECT_UB']), ['1', '10']);
  assert.notEqual(ub.status, 0);
  assert.match(ub.stderr, /runtime error: signed integer overflow/);
});

test(`segmentation, coalescing and GRO split: edge cases and ${CASES} random cases (seed ${SEED}), no sanitizer report`, () => {
  const r = run(buildHarness('harness'), [String(SEED), String(CASES)]);
  assert.doesNotMatch(r.stderr, SANITIZER_REPORT, r.stderr);
  assert.equal(r.status, 0, `harness failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^segment-edge: ok$/m);
  assert.match(r.stdout, /^coalesce-edge: ok$/m);
  // The random cases reached both outcomes in numbers (the generator is not degenerate).
  const seg = /^segment-random: (\d+) cases, (\d+) segmented into (\d+) packets, (\d+) dropped$/m.exec(r.stdout);
  assert.ok(seg, r.stdout);
  assert.equal(Number(seg[1]), CASES);
  assert.ok(Number(seg[2]) > CASES / 4 && Number(seg[4]) > CASES / 20, seg[0]);
  const co = /^coalesce: (\d+) flows, (\d+) segments, (\d+) merged in (\d+) runs, (\d+) corrupt never merged$/m.exec(r.stdout);
  assert.ok(co, r.stdout);
  assert.ok(Number(co[3]) > Number(co[2]) / 4 && Number(co[5]) > 0, co[0]);
  assert.match(r.stdout, /^gro-split: \d+ cases$/m);
  assert.match(r.stdout, /^all ok/m);
});
