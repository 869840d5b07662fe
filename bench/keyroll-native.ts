// Native memory the keyroll benchmark cannot see in process.memoryUsage(): when the crypto
// registry uses the native AEAD addon (src/crypto/native-aead.ts), every ESP context holds
// an OpenSSL EVP_CIPHER_CTX allocated with malloc, which V8 does not count in heapUsed or
// external. The addon counts its live contexts; the bytes per context are calibrated from
// RSS in a fresh process (calibrateNativeContext), and the benchmark adds
// contexts × bytes to the controller's and the agents' figures.
//
// The module is loaded by a computed path, so the benchmark still builds and runs (with
// node:crypto contexts only) in a tree without the addon.
import { randomBytes } from 'node:crypto';

interface NativeContext {
  encryptTo(iv: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset: number, ...parts: Uint8Array[]): number;
}

interface NativeAeadModule {
  nativeAeadPreferred(): boolean;
  loadNativeAead(): {
    AeadContext: new (algorithm: string, keyMaterial: Uint8Array, icvBytes: number) => NativeContext;
    liveContexts(): number;
  } | null;
}

export interface AeadInUse {
  readonly implementation: 'native addon' | 'node:crypto';
  readonly liveContexts: () => number; // 0 for node:crypto
  readonly module: NativeAeadModule | null;
}

let cached: AeadInUse | undefined;

export async function aeadInUse(): Promise<AeadInUse> {
  if (cached !== undefined) return cached;
  const path = '../src/crypto/native-aead.js';
  const mod = (await import(path).catch(() => null)) as NativeAeadModule | null;
  const binding = mod?.loadNativeAead() ?? null;
  if (mod === null || binding === null || !mod.nativeAeadPreferred()) {
    cached = { implementation: 'node:crypto', liveContexts: () => 0, module: mod };
  } else {
    cached = { implementation: 'native addon', liveContexts: () => binding.liveContexts(), module: mod };
  }
  return cached;
}

// Bytes of RSS per AES-256-GCM native context, used once in one direction as every
// keyroll ESP context is (the addon creates its OpenSSL context per direction on first
// use), beyond what V8 accounts for: Δrss − ΔheapTotal − Δexternal over `count` live
// contexts (their JS wrappers are in heapTotal). Run in a fresh process (the caller forks
// one) with --expose-gc.
export async function calibrateNativeContext(count: number): Promise<number> {
  const aead = await aeadInUse();
  const binding = aead.module?.loadNativeAead() ?? null;
  if (binding === null) return 0;
  const gc = (globalThis as { gc?: () => void }).gc;
  const material = randomBytes(36); // AES-256 key || 4-byte salt (RFC 4106 §8.1)
  const iv = Buffer.alloc(8);
  const aad = Buffer.alloc(8);
  const plaintext = Buffer.alloc(16);
  const out = Buffer.alloc(32);
  const keep: NativeContext[] = new Array<NativeContext>(count);
  gc?.();
  const before = process.memoryUsage();
  for (let i = 0; i < count; i++) {
    const c = new binding.AeadContext('aes-256-gcm', material, 16);
    c.encryptTo(iv, aad, out, 0, plaintext);
    keep[i] = c;
  }
  gc?.();
  const after = process.memoryUsage();
  const bytes = (after.rss - before.rss - (after.heapTotal - before.heapTotal) - (after.external - before.external)) / count;
  if (keep.length !== count) throw new Error('unreachable');
  return bytes;
}
