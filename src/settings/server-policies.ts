// The distribution policy store's lookup (seed 000 S21): which policy answers a request
// from `requester` for `peer` (and the request's flow). Endpoints are unordered, '*' is
// the wildcard ("all others"). Order (settings/types.ts DistributionPolicy):
//   1. the exact pair        with the request's flow, its protocol with any port, no flow
//   2. one side '*'          (same flow order)
//   3. ('*', '*')            (same flow order)
// When both half wildcards match ((requester, '*') and ('*', peer)) the older policy wins
// (then the smaller name): the rule must not depend on which side asks, or the two ends
// of a pair could be answered with different policies.
//
// O(1) per lookup: at most 9 map probes.
import { canonicalIp } from '../wire/address.js';
import type { DistributionPolicy, FlowSelector } from './types.js';

export const WILDCARD = '*';

function endpoint(text: string): string {
  return text === WILDCARD ? WILDCARD : canonicalIp(text);
}

export function flowKey(flow: FlowSelector | null): string {
  if (flow === null) return '';
  return flow.port === null ? `${flow.protocol}` : `${flow.protocol}/${flow.port}`;
}

function pairKey(x: string, y: string, flow: string): string {
  return x < y ? `${x} ${y} ${flow}` : `${y} ${x} ${flow}`;
}

function older(p: DistributionPolicy, q: DistributionPolicy): DistributionPolicy {
  if (p.createdAtMs !== q.createdAtMs) return p.createdAtMs < q.createdAtMs ? p : q;
  return p.name <= q.name ? p : q;
}

export class PolicyTable {
  private readonly byId = new Map<string, DistributionPolicy>();
  private readonly byKey = new Map<string, DistributionPolicy[]>();

  constructor(policies: Iterable<DistributionPolicy> = []) {
    for (const p of policies) this.set(p);
  }

  // Insert or replace by id. RangeError (DecodeError from the address parser) for an
  // endpoint that is neither an address nor '*'.
  set(policy: DistributionPolicy): void {
    const key = pairKey(endpoint(policy.a), endpoint(policy.b), flowKey(policy.flow));
    this.remove(policy.id);
    this.byId.set(policy.id, policy);
    this.byKey.set(key, [...(this.byKey.get(key) ?? []), policy]);
  }

  remove(id: string): boolean {
    const old = this.byId.get(id);
    if (old === undefined) return false;
    this.byId.delete(id);
    const key = pairKey(endpoint(old.a), endpoint(old.b), flowKey(old.flow));
    const rest = (this.byKey.get(key) ?? []).filter((p) => p.id !== id);
    if (rest.length === 0) this.byKey.delete(key);
    else this.byKey.set(key, rest);
    return true;
  }

  list(): DistributionPolicy[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }

  // `requester` and `peer` in canonical text (the settings server passes them so).
  lookup(requester: string, peer: string, flow: FlowSelector | null): DistributionPolicy | undefined {
    const flows = flow === null ? [''] : flow.port === null ? [flowKey(flow), ''] : [flowKey(flow), `${flow.protocol}`, ''];
    const one = (x: string, y: string, f: string): DistributionPolicy | undefined => {
      const list = this.byKey.get(pairKey(x, y, f));
      return list === undefined || list.length === 0 ? undefined : list.reduce(older);
    };
    for (const f of flows) {
      const hit = one(requester, peer, f);
      if (hit !== undefined) return hit;
    }
    for (const f of flows) {
      const mine = one(requester, WILDCARD, f);
      const theirs = one(WILDCARD, peer, f);
      if (mine !== undefined && theirs !== undefined) return older(mine, theirs);
      if (mine !== undefined || theirs !== undefined) return mine ?? theirs;
    }
    for (const f of flows) {
      const hit = one(WILDCARD, WILDCARD, f);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}
