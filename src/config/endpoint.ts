// "address:port" fields of the agent and controller configs, in the notation of the CLI
// flags (src/io/control-udp.ts parseEndpoint): 192.0.2.10:4501, [2001:db8::1]:4501, a bare
// address (the default port), or for a peer to contact also a host name.

import { z } from 'zod';
import { formatEndpoint, parseEndpoint, type ControlEndpoint } from '../io/control-udp.js';
import { canonicalAddress } from './address.js';
import { echo } from './errors.js';

function split(text: string, defaultPort: number): ControlEndpoint | string {
  let e: ControlEndpoint;
  try {
    e = parseEndpoint(text, defaultPort);
  } catch {
    const port = /:(\d+)$/.exec(text.trim());
    if (port !== null && Number(port[1]) > 65535) return `port must be 1-65535, got ${Number(port[1])}`;
    return `expected address:port such as 192.0.2.10:${defaultPort} or [2001:db8::1]:${defaultPort}, got ${echo(text)}`;
  }
  if (e.port < 1) return `port must be 1-65535, got ${e.port}`;
  return e;
}

const what = (defaultPort: number): string => `expected "address:port" as a string, e.g. "0.0.0.0:${defaultPort}"`;

// Where this process listens: an IP address (no host names) and a port 1-65535; or the
// reason the text is not one.
export function parseListen(text: string, defaultPort: number): ControlEndpoint | string {
  const e = split(text, defaultPort);
  if (typeof e === 'string') return e;
  const address = canonicalAddress(e.address);
  if (address === undefined) return `listen on an IP address (0.0.0.0 or :: for all), not a host name; got ${echo(e.address)}`;
  return { address, port: e.port };
}

export function listenEndpoint(defaultPort: number) {
  return z.string({ error: what(defaultPort) }).transform((text, ctx): ControlEndpoint => {
    const e = parseListen(text, defaultPort);
    if (typeof e === 'string') {
      ctx.addIssue({ code: 'custom', message: e });
      return z.NEVER;
    }
    return e;
  });
}

// Where to reach another process: an IP address or host name, with the port filled in,
// in the CLI's notation ("192.0.2.10:4501", "[2001:db8::1]:4501", "ctl.example:4501").
export function contactEndpoint(defaultPort: number) {
  return z.string({ error: what(defaultPort) }).transform((text, ctx): string => {
    const e = split(text, defaultPort);
    if (typeof e === 'string') {
      ctx.addIssue({ code: 'custom', message: e });
      return z.NEVER;
    }
    return formatEndpoint({ address: canonicalAddress(e.address) ?? e.address, port: e.port });
  });
}
