// The management table (seed 000 "Data"): entries of two rows, indexed so that every
// request looks only at the entries of its own pair. Each entry is reachable from both
// of its rows: key (row address, other row's address, flow) -> the rows with that view,
// so the seed's searches (S2 by requester+peer+ID, S7 by requester+peer+SPI, S9 for a
// blank row of the requester) scan just the entries of one pair and flow.
import type { AppliedPolicy, EntryRow, FlowSelector, ManagementEntry, SaParameters } from './types.js';
import { flowKey } from './server-policies.js';

export interface LiveRow {
  readonly address: string;
  readonly deviceId: string;
  requestId: number | null;
  spi: number | null;
}

export interface LiveEntry {
  readonly id: string;
  readonly rows: readonly [LiveRow, LiveRow];
  readonly flow: FlowSelector | null;
  readonly policyId: string;
  readonly applied: AppliedPolicy;
  params: readonly [SaParameters, SaParameters] | null;
  readonly createdAtMs: number;
  completedAtMs: number | null;
  activationsSent: number;
  nextActivationAtMs: number | null;
  expiresAtMs: number | null;
}

// One row of an entry seen from its own side: rows[side] is "me", rows[1 - side] the peer.
export interface Side {
  readonly entry: LiveEntry;
  readonly side: 0 | 1;
}

const NONE: readonly Side[] = [];

function viewKey(address: string, peer: string, flow: string): string {
  return `${address} ${peer} ${flow}`;
}

export class ManagementTable {
  private readonly byId = new Map<string, LiveEntry>();
  private readonly byView = new Map<string, Side[]>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): LiveEntry | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<LiveEntry> {
    return this.byId.values();
  }

  // The rows whose address is `address` and whose other row is `peer`, for `flow`, in
  // the order their entries were added.
  sides(address: string, peer: string, flow: FlowSelector | null): readonly Side[] {
    return this.byView.get(viewKey(address, peer, flowKey(flow))) ?? NONE;
  }

  add(e: LiveEntry): void {
    this.remove(e.id);
    this.byId.set(e.id, e);
    const f = flowKey(e.flow);
    for (const side of [0, 1] as const) {
      const key = viewKey(e.rows[side].address, e.rows[1 - side]!.address, f);
      const list = this.byView.get(key);
      if (list === undefined) this.byView.set(key, [{ entry: e, side }]);
      else list.push({ entry: e, side });
    }
  }

  remove(id: string): LiveEntry | undefined {
    const e = this.byId.get(id);
    if (e === undefined) return undefined;
    this.byId.delete(id);
    const f = flowKey(e.flow);
    for (const side of [0, 1] as const) {
      const key = viewKey(e.rows[side].address, e.rows[1 - side]!.address, f);
      const list = this.byView.get(key);
      if (list === undefined) continue;
      const at = list.findIndex((s) => s.entry === e && s.side === side);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.byView.delete(key);
    }
    return e;
  }
}

// An immutable copy for 'persist' outputs and entries(): the shell may still be storing
// it while the table moves on. Keys are shared, never mutated.
export function snapshot(e: LiveEntry): ManagementEntry {
  const row = (r: LiveRow): EntryRow => ({ address: r.address, deviceId: r.deviceId, requestId: r.requestId, spi: r.spi });
  return {
    id: e.id,
    rows: [row(e.rows[0]), row(e.rows[1])],
    flow: e.flow,
    policyId: e.policyId,
    applied: e.applied,
    params: e.params,
    createdAtMs: e.createdAtMs,
    completedAtMs: e.completedAtMs,
    activationsSent: e.activationsSent,
    nextActivationAtMs: e.nextActivationAtMs,
    expiresAtMs: e.expiresAtMs,
  };
}

export function live(m: ManagementEntry): LiveEntry {
  const row = (r: EntryRow): LiveRow => ({ address: r.address, deviceId: r.deviceId, requestId: r.requestId, spi: r.spi });
  return {
    id: m.id,
    rows: [row(m.rows[0]), row(m.rows[1])],
    flow: m.flow,
    policyId: m.policyId,
    applied: m.applied,
    params: m.params,
    createdAtMs: m.createdAtMs,
    completedAtMs: m.completedAtMs,
    activationsSent: m.activationsSent,
    nextActivationAtMs: m.nextActivationAtMs,
    expiresAtMs: m.expiresAtMs,
  };
}
