// The UDP socket of the controller <-> agent control channel (DESIGN.md "Control
// channel"): one datagram per control packet, a few per device per minute, so Node's
// node:dgram is enough (the data plane's batched socket, udp.ts, is for ESP traffic).
// Thin: bind, send, receive with the source address, close. Datagrams above
// `maxDatagramBytes` are reported as oversize and never handed on.

import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { IoError } from './errors.js';

export interface ControlEndpoint {
  readonly address: string;
  readonly port: number;
}

// The control channel's UDP port (DESIGN.md "Control channel"; docs/controller-agent.md).
// Not an IANA assignment: 4500 is IPsec NAT-T (RFC 3948), the data plane's port, and 4501
// is free next to it. The controller's --listen and the enrollment token can change it.
export const DEFAULT_CONTROL_PORT = 4501;

// Control packets are ESP with a small control message inside (docs/keyroll.md
// "Packets": 44-156 bytes for keyroll); other services' items make them larger, never
// near this. Anything bigger is dropped before any crypto runs.
export const DEFAULT_MAX_CONTROL_DATAGRAM = 8192;

export interface ControlUdpOptions {
  readonly bind: ControlEndpoint; // port 0 = any free port
  readonly maxDatagramBytes?: number;
  onMessage(bytes: Buffer, from: ControlEndpoint): void;
  onOversize?(lengthBytes: number, from: ControlEndpoint): void;
  onSendError?(error: Error, to: ControlEndpoint): void;
  onError?(error: Error): void; // socket-level errors after bind
}

export interface ControlUdpSocket {
  readonly local: ControlEndpoint; // the bound address and port
  send(bytes: Uint8Array, to: ControlEndpoint): void;
  close(): Promise<void>;
}

export async function openControlUdp(options: ControlUdpOptions): Promise<ControlUdpSocket> {
  const { address, port } = options.bind;
  const family = isIP(address);
  if (family === 0) throw new IoError('udp-address', `not an IP address: "${address}"`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new IoError('udp-address', `bad UDP port ${port}`);
  const max = options.maxDatagramBytes ?? DEFAULT_MAX_CONTROL_DATAGRAM;
  // ipv6Only false: a controller bound to "::" also serves IPv4 agents (mapped addresses).
  const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: false });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      socket.close();
      reject(new IoError('udp-bind', `cannot bind UDP ${formatEndpoint(options.bind)}: ${e.code ?? e.message}`, { cause: e }));
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  socket.on('error', (e) => options.onError?.(e));
  socket.on('message', (msg, rinfo) => {
    const from = { address: rinfo.address, port: rinfo.port };
    if (msg.length > max) options.onOversize?.(msg.length, from);
    else options.onMessage(msg, from);
  });
  const bound = socket.address();
  let closed = false;
  return {
    local: { address: bound.address, port: bound.port },
    send(bytes, to) {
      if (closed) return;
      socket.send(bytes, to.port, to.address, (e) => {
        if (e) options.onSendError?.(e, to);
      });
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
}

// "192.0.2.1:4501", "[2001:db8::1]:4501", "host.example:4501"; the port may be omitted
// when `defaultPort` is given. Host names are kept as written (see resolveEndpoint).
export function parseEndpoint(text: string, defaultPort?: number): ControlEndpoint {
  const t = text.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
    if (isIP(host) !== 6) throw new IoError('udp-address', `"${text}": only IPv6 addresses go in brackets`);
  } else if (isIP(t) === 6) {
    host = t; // bare IPv6 address: no port
  } else {
    const colon = t.lastIndexOf(':');
    if (colon >= 0) {
      host = t.slice(0, colon);
      portText = t.slice(colon + 1);
      if (!/^\d+$/.test(portText)) throw new IoError('udp-address', `"${text}": bad port`);
    } else host = t;
  }
  if (host.length === 0 || !/^[A-Za-z0-9.:%_-]+$/.test(host)) throw new IoError('udp-address', `"${text}": bad host`);
  const port = portText === undefined ? defaultPort : Number(portText);
  if (port === undefined) throw new IoError('udp-address', `"${text}": no port`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new IoError('udp-address', `"${text}": port must be 0..65535`);
  return { address: host, port };
}

// An IP address for a host name (first answer of the system resolver); IPs pass through.
export async function resolveEndpoint(e: ControlEndpoint): Promise<ControlEndpoint> {
  if (isIP(e.address) !== 0) return e;
  try {
    const r = await lookup(e.address);
    return { address: r.address, port: e.port };
  } catch (err) {
    throw new IoError('udp-address', `cannot resolve "${e.address}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

export function formatEndpoint(e: ControlEndpoint): string {
  return isIP(e.address) === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
