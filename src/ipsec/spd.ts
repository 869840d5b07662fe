// The Security Policy Database (RFC 4301 §4.4.1): an ordered list of policies, searched
// first-match for every outbound packet. Order is `priority` (lower first), then
// insertion order, so equal priorities behave like an ordered list (RFC 4301 §4.4.1
// "the SPD is an ordered database").
import { compileSelector, matchSelector, type CompiledSelector, type SelectorFlow } from './selector.js';
import { DataPlaneError } from './errors.js';
import { parseIp } from '../wire/address.js';
import type { Policy } from './types.js';

interface SpdEntry {
  readonly policy: Policy;
  readonly selector: CompiledSelector;
  readonly order: number; // insertion sequence, breaks priority ties
}

function bad(message: string): never {
  throw new DataPlaneError('bad-policy', message);
}

function validate(policy: Policy): void {
  if (typeof policy.id !== 'string' || policy.id.length === 0) bad('policy id must be a non-empty string');
  if (!Number.isFinite(policy.priority)) bad(`policy ${policy.id}: priority must be a finite number`);
  if (policy.action !== 'protect' && policy.action !== 'bypass' && policy.action !== 'discard') {
    bad(`policy ${policy.id}: action must be protect, bypass or discard, not ${String(policy.action)}`);
  }
  if (policy.action === 'protect') {
    const p = policy.protect;
    if (p === undefined) bad(`policy ${policy.id}: action protect needs "protect" (mode and remoteTunnel)`);
    if (p.mode !== 'tunnel' && p.mode !== 'transport') bad(`policy ${policy.id}: protect.mode must be tunnel or transport`);
    for (const [name, value] of [
      ['remoteTunnel', p.remoteTunnel],
      ['localTunnel', p.localTunnel],
      ['requestPeer', p.requestPeer],
    ] as const) {
      if (value === undefined && name !== 'remoteTunnel') continue;
      try {
        parseIp(value ?? '');
      } catch {
        bad(`policy ${policy.id}: protect.${name} ${JSON.stringify(value)} is not an IP address`);
      }
    }
  }
}

export class Spd {
  private entries: SpdEntry[] = []; // kept sorted
  private readonly byId = new Map<string, SpdEntry>();
  private nextOrder = 0;

  // Throws DataPlaneError 'policy-exists' or 'bad-policy'.
  add(policy: Policy): void {
    if (this.byId.has(policy.id)) throw new DataPlaneError('policy-exists', `policy ${policy.id} already exists`);
    validate(policy);
    const entry: SpdEntry = { policy, selector: compileSelector(policy.selector), order: this.nextOrder++ };
    // Insert after every entry that sorts before or equal to it (stable for ties).
    let at = this.entries.length;
    while (at > 0 && this.entries[at - 1]!.policy.priority > policy.priority) at--;
    this.entries.splice(at, 0, entry);
    this.byId.set(policy.id, entry);
  }

  remove(id: string): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) return false;
    this.byId.delete(id);
    this.entries = this.entries.filter((e) => e !== entry);
    return true;
  }

  get(id: string): Policy | undefined {
    return this.byId.get(id)?.policy;
  }

  // In evaluation order.
  list(): Policy[] {
    return this.entries.map((e) => e.policy);
  }

  get size(): number {
    return this.entries.length;
  }

  // First policy whose selector matches an outbound packet, or undefined (RFC 4301 §5.1:
  // no match means the packet is discarded).
  lookupOutbound(flow: SelectorFlow): Policy | undefined {
    return this.lookup(flow, false);
  }

  // First policy matching a packet that arrived (selectors read from the other side:
  // local = destination). RFC 4301 §5.2 step 3: unprotected inbound traffic is checked
  // against the same SPD.
  lookupInbound(flow: SelectorFlow): Policy | undefined {
    return this.lookup(flow, true);
  }

  private lookup(flow: SelectorFlow, inbound: boolean): Policy | undefined {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (matchSelector(e.selector, flow, inbound)) return e.policy;
    }
    return undefined;
  }
}
