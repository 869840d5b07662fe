// Loads keyplane's native addon (native/keyplane_native.c, built by node-gyp when npm
// installs the package) and types its functions. Only src/io uses it directly.

import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { IoError } from './errors.js';

export const KIND_TUN = 0;
export const KIND_UDP = 1;
export const KIND_TUN_VNET = 2; // TUN opened with IFF_VNET_HDR
// tunWrite modes
export const TUN_WRITE_PLAIN = 0;
export const TUN_WRITE_VNET = 1;
export const TUN_WRITE_VNET_GRO = 2;
// Must match MAX_BATCH and UDP_META in native/keyplane_native.c.
export const MAX_BATCH = 256;
export const UDP_META_BYTES = 20;

// callback(batch, count, dataOffsetOrErrno): count > 0 -> a batch; count 0 -> the reader
// hit a fatal error (errno in the third argument) and has stopped.
export type ReaderCallback = (batch: ArrayBuffer | null, count: number, dataOffsetOrErrno: number) => void;
export type ReaderHandle = { readonly __reader: unique symbol };

export interface NativeAddon {
  openTun(name: string, mtu: number, vnetHdr: boolean): { fd: number; name: string };
  closeFd(fd: number): void;
  setBlocking(fd: number, blocking: boolean): void;
  sockaddr(host: string, port: number): Buffer;
  udpOpen(host: string, port: number, bufferBytes: number, gro: boolean): { fd: number; port: number; gro: boolean };
  tunWrite(fd: number, packets: readonly Uint8Array[], mode: number): number;
  udpSend(fd: number, packets: readonly Uint8Array[], addrs: readonly Uint8Array[], gso: boolean): number;
  startReader(fd: number, kind: number, maxBatch: number, callback: ReaderCallback): ReaderHandle;
  stopReader(handle: ReaderHandle): void;
}

// The errors the addon throws carry a positive errno and the failing system call.
export interface NativeError extends Error {
  readonly errno?: number;
  readonly syscall?: string;
}

export function errnoName(errno: number | undefined): string {
  if (errno === undefined) return 'UNKNOWN';
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

let cached: NativeAddon | undefined;

export function nativeAddon(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  // dist/src/io/native.js -> <package root>/build/Release
  const path = new URL('../../../build/Release/keyplane_native.node', import.meta.url);
  try {
    cached = require(path.pathname) as NativeAddon;
  } catch (cause) {
    throw new IoError(
      'native-missing',
      `keyplane's native addon could not be loaded from ${path.pathname} (build it with "npm install", which needs a C compiler and Node's headers)`,
      { cause },
    );
  }
  return cached;
}
