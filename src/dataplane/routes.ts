// Kernel routes for the userspace data plane: traffic for a PROTECT policy's remote range
// must enter the TUN device so the engine can see it. One `ip route replace` per prefix
// (ranges are split into prefixes), with `src` set to a local address inside the policy's
// local range so that locally originated packets carry an address the policy matches.
// Routes are reference-counted (two policies may share a prefix) and removed on delete.
// If a range covers the peer's own outer address, a host route keeps the encapsulated
// traffic to that peer on its current path (otherwise it would loop into the TUN).

import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import type { Policy } from '../ipsec/types.js';
import { IoError } from '../io/errors.js';
import { inRange, parseIp } from '../wire/address.js';
import { formatPrefix, prefixContains, rangeToPrefixes, type RoutePrefix } from './prefixes.js';

export type RunIp = (args: readonly string[]) => Promise<string>;

export const runIp: RunIp = (args) =>
  new Promise((resolve, reject) => {
    execFile('ip', args as string[], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new IoError('route', `ip ${args.join(' ')} failed: ${(stderr || error.message).trim()}`, { cause: error }));
      } else {
        resolve(stdout);
      }
    });
  });

interface Route {
  readonly key: string;
  readonly add: readonly string[]; // arguments after `ip [-6] route replace`
  readonly del: readonly string[];
  readonly version: 4 | 6;
}

export interface RouteTable {
  // Adds the routes a PROTECT policy needs (no-op for other actions).
  addPolicy(policy: Policy): Promise<void>;
  removePolicy(id: string): Promise<void>;
  // Routes currently installed by this table, e.g. "10.2.0.0/24 dev kp0 src 10.1.0.1".
  list(): string[];
  close(): Promise<void>;
}

const FULL: Record<4 | 6, [string, string]> = {
  4: ['0.0.0.0', '255.255.255.255'],
  6: ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
};

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

// A configured local address inside [start, end], if any (prefers non-link-local).
function localSourceIn(start: string, end: string): string | undefined {
  const s = parseIp(start);
  const e = parseIp(end);
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.address.startsWith('fe80:') || info.address.includes('%')) continue;
      if (inRange(parseIp(info.address), s, e)) return info.address;
    }
  }
  return undefined;
}

export function createRouteTable(device: string, run: RunIp = runIp): RouteTable {
  const refs = new Map<string, { route: Route; count: number }>();
  const byPolicy = new Map<string, Route[]>();
  // Serialise changes: installs and deletes may be issued without awaiting each other.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const next = chain.then(f, f);
    chain = next.catch(() => undefined);
    return next;
  };

  const acquire = async (route: Route): Promise<void> => {
    const held = refs.get(route.key);
    if (held) {
      held.count++;
      return;
    }
    await run([`-${route.version}`, 'route', 'replace', ...route.add]);
    refs.set(route.key, { route, count: 1 });
  };

  const release = async (route: Route): Promise<void> => {
    const held = refs.get(route.key);
    if (!held) return;
    if (--held.count > 0) return;
    refs.delete(route.key);
    // The route may already be gone (device removed, operator): not an error worth raising.
    await run([`-${route.version}`, 'route', 'del', ...route.del]).catch(() => undefined);
  };

  // The current route to `peer` as `ip route` arguments for a host route, e.g.
  // ["192.0.2.2/32", "via", "198.51.100.1", "dev", "eth0"].
  const peerRoute = async (peer: string): Promise<Route | undefined> => {
    const version = familyOf(peer);
    let parsed: unknown;
    try {
      // No route at all (unreachable) means there is nothing to protect from the loop.
      parsed = JSON.parse(await run(['-j', `-${version}`, 'route', 'get', peer]));
    } catch {
      return undefined;
    }
    const first = Array.isArray(parsed) ? (parsed[0] as { gateway?: string; dev?: string } | undefined) : undefined;
    if (!first?.dev || first.dev === device) return undefined;
    const host = `${peer}/${version === 4 ? 32 : 128}`;
    const add = [host, ...(first.gateway ? ['via', first.gateway] : []), 'dev', first.dev];
    return { key: `${version} ${host} peer`, add, del: [host, 'dev', first.dev], version };
  };

  const routesFor = async (policy: Policy): Promise<Route[]> => {
    if (policy.action !== 'protect' || !policy.protect) return [];
    const peer = policy.protect.remoteTunnel;
    const version = policy.selector.remote ? familyOf(policy.selector.remote.start) : familyOf(peer);
    const [start, end] = policy.selector.remote ? [policy.selector.remote.start, policy.selector.remote.end] : FULL[version];
    const local = policy.selector.local;
    const src = local && familyOf(local.start) === version ? localSourceIn(local.start, local.end) : undefined;
    const prefixes: RoutePrefix[] = rangeToPrefixes(start, end);
    const routes: Route[] = [];
    if (familyOf(peer) === version && prefixes.some((p) => prefixContains(p, peer))) {
      const exception = await peerRoute(peer);
      if (exception) routes.push(exception);
    }
    for (const p of prefixes) {
      const dst = formatPrefix(p);
      routes.push({
        key: `${version} ${dst} dev ${device}`,
        add: [dst, 'dev', device, ...(src ? ['src', src] : [])],
        del: [dst, 'dev', device],
        version,
      });
    }
    return routes;
  };

  return {
    addPolicy: (policy) =>
      serial(async () => {
        if (byPolicy.has(policy.id)) return;
        const routes = await routesFor(policy);
        const done: Route[] = [];
        try {
          for (const r of routes) {
            await acquire(r);
            done.push(r);
          }
        } catch (e) {
          for (const r of done.reverse()) await release(r);
          throw e;
        }
        byPolicy.set(policy.id, routes);
      }),
    removePolicy: (id) =>
      serial(async () => {
        const routes = byPolicy.get(id);
        if (!routes) return;
        byPolicy.delete(id);
        for (const r of [...routes].reverse()) await release(r);
      }),
    list: () => [...refs.values()].map(({ route }) => route.add.join(' ')),
    close: () =>
      serial(async () => {
        for (const id of [...byPolicy.keys()]) {
          const routes = byPolicy.get(id) ?? [];
          byPolicy.delete(id);
          for (const r of [...routes].reverse()) await release(r);
        }
      }),
  };
}
