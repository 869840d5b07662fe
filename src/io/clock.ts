// The clock of the long-running shells (controller, agent). The sans-I/O cores take
// `nowMs` from their caller and store some of it (rotation due times) across restarts,
// so it must be wall-clock time; but a wall clock that steps backwards (NTP, an operator)
// would stall every timer by the size of the step. This clock is wall time at start plus
// monotonic time since: steps during a run do not affect it, and a restart picks up the
// wall clock again.
import { performance } from 'node:perf_hooks';

export function anchoredClock(): () => number {
  const wallAtStart = Date.now();
  const monoAtStart = performance.now();
  return () => Math.floor(wallAtStart + (performance.now() - monoAtStart));
}
