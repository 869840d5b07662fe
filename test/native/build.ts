// Helpers for the native addon's safety tests: find the C compiler, Node's headers and
// the sanitizer runtime, and compile with AddressSanitizer + UBSan.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

// Source tree paths, from the compiled test in dist/test/native/.
export const repoRoot = new URL('../../../', import.meta.url).pathname;
export const nativeDir = join(repoRoot, 'native');
export const harnessSource = join(repoRoot, 'test', 'native', 'harness.c');
export const productionAddon = join(repoRoot, 'build', 'Release', 'keyplane_native.node');

// halt_on_error: the first report ends the process with a non-zero status.
export const SANITIZER_FLAGS = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g', '-O1'];
export const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};
// What a sanitizer prints when it finds something.
export const SANITIZER_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer/;

export function compiler(): string {
  for (const cc of ['gcc', 'cc']) {
    if (spawnSync(cc, ['--version']).status === 0) return cc;
  }
  throw new Error('no C compiler (gcc) found: scripts/install-deps.sh installs one');
}

export function compile(args: readonly string[]): void {
  const r = spawnSync(compiler(), args as string[], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${compiler()} ${args.join(' ')} failed:\n${r.stderr}`);
}

// Node's C headers (node_api.h): next to this node binary (Debian / NodeSource packages,
// official tarballs), where node-gyp was told they are, or node-gyp's download cache.
export function nodeIncludeDir(): string {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node')];
  const gypi = join(repoRoot, 'build', 'config.gypi');
  if (existsSync(gypi)) {
    const nodedir = /"nodedir":\s*"([^"]+)"/.exec(readFileSync(gypi, 'utf8'))?.[1];
    if (nodedir !== undefined) candidates.push(join(nodedir, 'include', 'node'));
  }
  candidates.push(join(homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node'));
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (found === undefined) throw new Error(`node_api.h not found in ${candidates.join(', ')}`);
  return found;
}

// The ASan runtime to preload into an (uninstrumented) node that loads an instrumented addon.
export function asanRuntime(): string {
  const path = execFileSync(compiler(), ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  if (!path.startsWith('/') || !existsSync(path)) throw new Error(`the ASan runtime (libasan.so) is not installed: ${path}`);
  return path;
}

// The addon from the same sources as binding.gyp builds, with the sanitizers.
export function buildSanitizedAddon(out: string): void {
  compile([
    ...SANITIZER_FLAGS,
    '-shared',
    '-fPIC',
    '-pthread',
    '-Wall',
    '-Wextra',
    '-Wno-unused-parameter',
    '-DNODE_GYP_MODULE_NAME=keyplane_native',
    `-I${nodeIncludeDir()}`,
    join(nativeDir, 'keyplane_native.c'),
    join(nativeDir, 'segment.c'),
    '-o',
    out,
  ]);
}
