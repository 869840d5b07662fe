// The Security Association Database (RFC 4301 §4.4.2). Inbound SAs are found by SPI
// (RFC 4301 §4.1: the SPI alone suffices for unicast SAs whose SPI this host chose);
// outbound SAs by the SPD policy they belong to. When several outbound SAs serve one
// policy (a rekey in progress), the newest installed is used: make-before-break installs
// the new SA first and deletes the old one once the peer has it.
import { DataPlaneError } from './errors.js';
import type { SecurityAssociation } from './sa.js';

export class Sad {
  private readonly inbound = new Map<number, SecurityAssociation>();
  private readonly outbound = new Map<number, SecurityAssociation>();
  // Outbound SAs per policy id, in install order (newest last).
  private readonly byPolicy = new Map<string, SecurityAssociation[]>();

  private table(direction: 'in' | 'out'): Map<number, SecurityAssociation> {
    return direction === 'in' ? this.inbound : this.outbound;
  }

  has(direction: 'in' | 'out', spi: number): boolean {
    return this.table(direction).has(spi >>> 0);
  }

  get(direction: 'in' | 'out', spi: number): SecurityAssociation | undefined {
    return this.table(direction).get(spi >>> 0);
  }

  // Hot path: inbound lookup by SPI.
  inboundSa(spi: number): SecurityAssociation | undefined {
    return this.inbound.get(spi);
  }

  // Throws DataPlaneError('sa-exists') if (direction, spi) is taken.
  add(sa: SecurityAssociation): void {
    const table = this.table(sa.direction);
    if (table.has(sa.spi)) {
      throw new DataPlaneError('sa-exists', `SA ${sa.direction} spi 0x${sa.spi.toString(16)} is already installed`);
    }
    table.set(sa.spi, sa);
    if (sa.direction === 'out') this.indexPolicy(sa);
  }

  private indexPolicy(sa: SecurityAssociation): void {
    const policyId = sa.config.policyId;
    if (policyId === undefined) return;
    const list = this.byPolicy.get(policyId);
    if (list === undefined) {
      this.byPolicy.set(policyId, [sa]);
      return;
    }
    // Keep install order even when an update re-indexes an older SA.
    let at = list.length;
    while (at > 0 && list[at - 1]!.installOrder > sa.installOrder) at--;
    list.splice(at, 0, sa);
  }

  private unindexPolicy(sa: SecurityAssociation, policyId: string | undefined): void {
    if (policyId === undefined) return;
    const list = this.byPolicy.get(policyId);
    if (list === undefined) return;
    const rest = list.filter((s) => s !== sa);
    if (rest.length === 0) this.byPolicy.delete(policyId);
    else this.byPolicy.set(policyId, rest);
  }

  // Call after an outbound SA's policyId changed (updateSa).
  reindex(sa: SecurityAssociation, oldPolicyId: string | undefined): void {
    if (sa.direction !== 'out' || oldPolicyId === sa.config.policyId) return;
    this.unindexPolicy(sa, oldPolicyId);
    this.indexPolicy(sa);
  }

  remove(direction: 'in' | 'out', spi: number): SecurityAssociation | undefined {
    const table = this.table(direction);
    const sa = table.get(spi >>> 0);
    if (sa === undefined) return undefined;
    table.delete(sa.spi);
    if (direction === 'out') this.unindexPolicy(sa, sa.config.policyId);
    sa.removed = true;
    return sa;
  }

  // The newest outbound SA of a policy, or undefined.
  outboundForPolicy(policyId: string): SecurityAssociation | undefined {
    const list = this.byPolicy.get(policyId);
    return list === undefined ? undefined : list[list.length - 1];
  }

  all(): SecurityAssociation[] {
    return [...this.inbound.values(), ...this.outbound.values()];
  }

  get size(): number {
    return this.inbound.size + this.outbound.size;
  }
}
