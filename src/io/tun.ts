// A TUN device (Linux, IFF_TUN | IFF_NO_PI: every read and write is one bare IPv4 or IPv6
// packet). Reads arrive in batches from the addon's reader thread, so one JavaScript call
// handles many packets; writes are batched the same way.

import { IoError } from './errors.js';
import {
  KIND_TUN,
  KIND_TUN_VNET,
  MAX_BATCH,
  TUN_WRITE_PLAIN,
  TUN_WRITE_VNET_GRO,
  errnoName,
  nativeAddon,
  type NativeError,
  type ReaderHandle,
} from './native.js';

// Linux IFNAMSIZ is 16 including the terminating NUL.
export const MAX_TUN_NAME_LENGTH = 15;

export interface TunOptions {
  // Interface name; omitted or "" lets the kernel choose (tun0, tun1, ...). A "%d" in the
  // name is replaced by the kernel with the first free number.
  readonly name?: string;
  readonly mtu?: number; // bytes; omitted keeps the kernel default (1500)
  readonly maxBatch?: number; // packets per read batch, 1..256 (default 64)
  // Coalesce runs of TCP segments of one flow into one large packet on write (IFF_VNET_HDR
  // + GSO, like the kernel's GRO), so the local TCP stack handles one packet instead of
  // dozens. Default true.
  readonly offload?: boolean;
}

export interface TunDevice {
  readonly name: string;
  readonly fd: number; // the /dev/net/tun descriptor (non-blocking); owned by this object
  // Starts the reader. `onPackets` gets each batch (views into one block of memory; keep
  // them as long as you like). `onError` gets a fatal read error, after which reading stops.
  start(onPackets: (packets: Buffer[]) => void, onError?: (error: IoError) => void): void;
  // Writes packets to the kernel (towards the local stack); returns how many it accepted.
  write(packets: readonly Uint8Array[]): number;
  // Stops the reader and closes the device; the kernel removes the interface and its routes.
  close(): void;
  readonly closed: boolean;
}

export function validateTunName(name: string): void {
  if (name.length > MAX_TUN_NAME_LENGTH || Buffer.byteLength(name) > MAX_TUN_NAME_LENGTH) {
    throw new IoError(
      'tun-bad-name',
      `TUN device name "${name}" is too long: at most ${MAX_TUN_NAME_LENGTH} bytes (Linux IFNAMSIZ)`,
    );
  }
  // Linux dev_valid_name(): no "/", ":", whitespace; not "." or "..".
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new IoError('tun-bad-name', `TUN device name "${name}" is not a valid interface name (no "/", ":" or spaces)`);
  }
}

function openError(name: string, error: NativeError): IoError {
  const code = errnoName(error.errno);
  const what = name === '' ? 'a TUN device' : `TUN device "${name}"`;
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      return new IoError(
        'tun-permission',
        `cannot open ${what}: permission denied (${error.syscall ?? 'open'}); run as root or with CAP_NET_ADMIN`,
        { cause: error },
      );
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return new IoError('tun-unavailable', `cannot open ${what}: /dev/net/tun is missing (is the tun module loaded?)`, {
        cause: error,
      });
    case 'EINVAL':
    case 'ENAMETOOLONG':
      return new IoError(
        'tun-bad-name',
        `cannot open ${what}: the kernel refused the name (invalid, or taken by an interface that is not a TUN device)`,
        { cause: error },
      );
    case 'EBUSY':
      return new IoError('tun-bad-name', `cannot open ${what}: the name is in use by another process`, { cause: error });
    default:
      return new IoError('tun-open', `cannot open ${what}: ${error.message}`, { cause: error });
  }
}

export function openTun(options: TunOptions = {}): TunDevice {
  const requested = options.name ?? '';
  validateTunName(requested);
  const mtu = options.mtu ?? 0;
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > 65535 || (mtu > 0 && mtu < 68)) {
    throw new IoError('tun-open', `TUN MTU ${mtu} is out of range (68..65535)`);
  }
  const maxBatch = Math.min(MAX_BATCH, Math.max(1, options.maxBatch ?? 64));
  const addon = nativeAddon();
  const offload = options.offload ?? true;
  let opened: { fd: number; name: string };
  try {
    opened = addon.openTun(requested, mtu, offload);
  } catch (e) {
    throw openError(requested, e as NativeError);
  }
  const { fd, name } = opened;
  let reader: ReaderHandle | undefined;
  let closed = false;

  return {
    name,
    fd,
    get closed() {
      return closed;
    },
    start(onPackets, onError) {
      if (closed) throw new IoError('closed', `TUN device ${name} is closed`);
      if (reader) throw new IoError('tun-open', `TUN device ${name} is already started`);
      reader = addon.startReader(fd, offload ? KIND_TUN_VNET : KIND_TUN, maxBatch, (batch, count, offsetOrErrno) => {
        if (batch === null || count === 0) {
          onError?.(new IoError('tun-read', `reading TUN device ${name} failed: ${errnoName(offsetOrErrno)}`));
          return;
        }
        const lengths = new Uint32Array(batch, 0, count);
        const packets: Buffer[] = new Array<Buffer>(count);
        let at = offsetOrErrno;
        for (let i = 0; i < count; i++) {
          const len = lengths[i]!;
          packets[i] = Buffer.from(batch, at, len);
          at += len;
        }
        onPackets(packets);
      });
    },
    write(packets) {
      if (closed || packets.length === 0) return 0;
      return addon.tunWrite(fd, packets, offload ? TUN_WRITE_VNET_GRO : TUN_WRITE_PLAIN);
    },
    close() {
      if (closed) return;
      closed = true;
      if (reader) addon.stopReader(reader);
      reader = undefined;
      addon.closeFd(fd);
    },
  };
}
