// A bound UDP socket with batched receive and send. Two backends with one interface:
//   'native' — the addon: a reader thread with recvmmsg(2), sends with sendmmsg(2);
//   'dgram'  — Node's node:dgram, pure JavaScript, one datagram per call.
// The data plane uses either; tests run both.

import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { formatIp } from '../wire/address.js';
import { IoError } from './errors.js';
import {
  KIND_UDP,
  MAX_BATCH,
  UDP_META_BYTES,
  errnoName,
  nativeAddon,
  type NativeError,
  type ReaderHandle,
} from './native.js';

export type UdpBackend = 'native' | 'dgram';

export interface UdpEndpoint {
  readonly address: string;
  readonly port: number;
}

// An opaque, reusable destination (resolved once, e.g. per peer).
export interface UdpPeer extends UdpEndpoint {
  readonly raw: Buffer | undefined; // native sockaddr
}

// One receive batch. Source addresses are decoded only when asked for: the ESP path
// never needs them.
export interface DatagramBatch {
  readonly count: number;
  data(i: number): Buffer;
  from(i: number): UdpEndpoint;
  truncated(i: number): boolean;
}

export interface UdpOptions {
  readonly address: string; // local address to bind (IPv4 or IPv6)
  readonly port: number; // 0 = kernel-chosen
  readonly backend?: UdpBackend; // default 'native'
  readonly maxBatch?: number; // native: datagrams per recvmmsg (default 64)
  readonly bufferBytes?: number; // SO_RCVBUF / SO_SNDBUF (default 4 MiB)
  // native: UDP segmentation offload on send (UDP_SEGMENT) and UDP_GRO on receive, so a
  // burst to one peer crosses the kernel's UDP/IP stack once. Default true.
  readonly offload?: boolean;
}

export interface UdpSocket {
  readonly backend: UdpBackend;
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number; // the bound port
  peer(address: string, port: number): UdpPeer;
  start(onBatch: (batch: DatagramBatch) => void, onError?: (error: IoError) => void): void;
  // Sends packets[i] to peers[i]; returns how many the kernel accepted (dgram: queued).
  send(packets: readonly Uint8Array[], peers: readonly UdpPeer[]): number;
  close(): Promise<void>;
}

export async function openUdp(options: UdpOptions): Promise<UdpSocket> {
  const family = isIP(options.address);
  if (family !== 4 && family !== 6) {
    throw new IoError('udp-address', `UDP bind address "${options.address}" is not an IPv4 or IPv6 address`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new IoError('udp-address', `UDP port ${options.port} is out of range (0..65535)`);
  }
  return (options.backend ?? 'native') === 'native'
    ? openNative(options, family)
    : openDgram(options, family);
}

function bindError(options: UdpOptions, error: NativeError & { code?: string }): IoError {
  // node:dgram errors carry a string code and a negative errno; the addon's a positive errno.
  const code = typeof error.code === 'string' ? error.code : errnoName(error.errno === undefined ? undefined : Math.abs(error.errno));
  const where = `${options.address.includes(':') ? `[${options.address}]` : options.address}:${options.port}`;
  const hint =
    code === 'EADDRINUSE'
      ? 'the port is in use by another process'
      : code === 'EADDRNOTAVAIL'
        ? 'the address is not configured on this host'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : error.message;
  return new IoError('udp-bind', `cannot bind UDP ${where}: ${hint} (${code})`, { cause: error });
}

// A source address from the reader's per-datagram metadata: family (4/6), flags, port
// (network order), 16 address bytes.
function formatAddress(meta: Uint8Array, at: number): UdpEndpoint {
  const port = (meta[at + 2]! << 8) | meta[at + 3]!;
  const bytes = meta.subarray(at + 4, at + (meta[at] === 4 ? 8 : 20));
  return { address: formatIp(bytes), port };
}

function openNative(options: UdpOptions, family: 4 | 6): UdpSocket {
  const addon = nativeAddon();
  const maxBatch = Math.min(MAX_BATCH, Math.max(1, options.maxBatch ?? 64));
  const offload = options.offload ?? true;
  let opened: { fd: number; port: number };
  try {
    opened = addon.udpOpen(options.address, options.port, options.bufferBytes ?? 4 * 1024 * 1024, offload);
  } catch (e) {
    throw bindError(options, e as NativeError);
  }
  const { fd, port } = opened;
  let reader: ReaderHandle | undefined;
  let closed = false;
  return {
    backend: 'native',
    family,
    address: options.address,
    port,
    peer(address, peerPort) {
      try {
        return { address, port: peerPort, raw: addon.sockaddr(address, peerPort) };
      } catch (cause) {
        throw new IoError('udp-address', `"${address}" port ${peerPort} is not a valid UDP destination`, { cause });
      }
    },
    start(onBatch, onError) {
      if (closed) throw new IoError('closed', 'UDP socket is closed');
      if (reader) throw new IoError('udp-bind', 'UDP socket already started');
      reader = addon.startReader(fd, KIND_UDP, maxBatch, (buf, count, offsetOrErrno) => {
        if (buf === null || count === 0) {
          onError?.(new IoError('udp-read', `UDP receive failed: ${errnoName(offsetOrErrno)}`));
          return;
        }
        // Layout (native/keyplane_native.c): u32 length[count], meta[count][20], data.
        const lengths = new Uint32Array(buf, 0, count);
        const meta = new Uint8Array(buf, count * 4, count * UDP_META_BYTES);
        const starts = new Array<number>(count);
        let at = offsetOrErrno;
        for (let i = 0; i < count; i++) {
          starts[i] = at;
          at += lengths[i]!;
        }
        onBatch({
          count,
          data: (i) => Buffer.from(buf, starts[i]!, lengths[i]!),
          from: (i) => formatAddress(meta, i * UDP_META_BYTES),
          truncated: (i) => meta[i * UDP_META_BYTES + 1] === 1,
        });
      });
    },
    send(packets, peers) {
      if (closed || packets.length === 0) return 0;
      const raws = peers.map((p) => p.raw ?? addon.sockaddr(p.address, p.port));
      return addon.udpSend(fd, packets, raws, offload);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (reader) addon.stopReader(reader);
      reader = undefined;
      addon.closeFd(fd);
    },
  };
}

async function openDgram(options: UdpOptions, family: 4 | 6): Promise<UdpSocket> {
  const socket = dgram.createSocket({
    type: family === 4 ? 'udp4' : 'udp6',
    ipv6Only: family === 6,
    recvBufferSize: options.bufferBytes ?? 4 * 1024 * 1024,
    sendBufferSize: options.bufferBytes ?? 4 * 1024 * 1024,
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(bindError(options, e as NativeError));
    socket.once('error', onError);
    socket.bind({ address: options.address, port: options.port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  const port = socket.address().port;
  let closed = false;
  let started = false;
  let errorListener: ((error: IoError) => void) | undefined;
  socket.on('error', (e) => errorListener?.(new IoError('udp-read', `UDP socket error: ${e.message}`, { cause: e })));
  return {
    backend: 'dgram',
    family,
    address: options.address,
    port,
    peer(address, peerPort) {
      if (isIP(address.split('%')[0] ?? '') === 0 || !Number.isInteger(peerPort) || peerPort < 0 || peerPort > 65535) {
        throw new IoError('udp-address', `"${address}" port ${peerPort} is not a valid UDP destination`);
      }
      return { address, port: peerPort, raw: undefined };
    },
    start(onBatch, onError) {
      if (closed) throw new IoError('closed', 'UDP socket is closed');
      if (started) throw new IoError('udp-bind', 'UDP socket already started');
      started = true;
      errorListener = onError;
      socket.on('message', (msg, rinfo) => {
        onBatch({
          count: 1,
          data: () => msg,
          from: () => ({ address: rinfo.address, port: rinfo.port }),
          truncated: () => false,
        });
      });
    },
    send(packets, peers) {
      if (closed) return 0;
      for (let i = 0; i < packets.length; i++) {
        const p = peers[i]!;
        // Errors (e.g. unreachable) arrive on the callback and are ignored here: a lost
        // datagram is the inner transport's business, as with the native backend.
        socket.send(packets[i]!, p.port, p.address, () => {});
      }
      return packets.length;
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
