// What the controller must change so that its key sender serves exactly the devices the
// store says are enrolled and not revoked (the store is the truth: `keyplane device
// add|revoke|remove` write it, possibly from another process, while the controller runs).
// Pure: the server carries the plan out.
import type { DeviceRecord } from '../store/types.js';

export interface SyncPlan {
  readonly add: readonly DeviceRecord[]; // enrolled, not revoked, not served yet
  readonly revoke: readonly DeviceRecord[]; // revoked in the store, not yet refused here
  readonly remove: readonly string[]; // served here, gone from the store
  readonly forget: readonly string[]; // refused here, gone from the store
}

export function planSync(records: readonly DeviceRecord[], served: ReadonlySet<string>, refused: ReadonlySet<string>): SyncPlan {
  const add: DeviceRecord[] = [];
  const revoke: DeviceRecord[] = [];
  const inStore = new Set<string>();
  for (const r of records) {
    inStore.add(r.id);
    if (r.revokedAtMs !== null) {
      if (!refused.has(r.id)) revoke.push(r);
    } else if (!served.has(r.id)) add.push(r);
  }
  const remove = [...served].filter((id) => !inStore.has(id));
  const forget = [...refused].filter((id) => !inStore.has(id));
  return { add, revoke, remove, forget };
}
