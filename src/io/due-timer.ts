// One re-armable timer for a sans-I/O core's shell. The cores have no timers of their own
// (DESIGN.md "Protocol cores"): after every input the shell asks the core for its next due
// time (nextDueMs()) and re-arms this one timer to it; when it fires the shell feeds the
// core a tick.

// Node turns a delay above 2^31-1 ms into 1 ms (it fires at once), so long waits are
// clamped: the timer then fires early, the core finds nothing due and is re-armed.
const MAX_TIMER_MS = 0x7fff_ffff;

export class DueTimer {
  private timer: NodeJS.Timeout | null = null;
  private dueMs = Infinity;
  private stopped = false;

  // now: the same clock as the core's due times (ms). onDue: runs once per firing, after
  // the timer has been cleared, so it may call arm() again.
  constructor(
    private readonly now: () => number,
    private readonly onDue: () => void,
  ) {}

  // Arms the timer for dueMs (a core's nextDueMs()). An unchanged due time keeps the
  // running timer (not reset, so frequent inputs do not keep pushing it back); Infinity
  // (nothing due) leaves no timer. After stop() it does nothing.
  arm(dueMs: number): void {
    if (this.stopped) return;
    if (dueMs === this.dueMs && this.timer !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.dueMs = dueMs;
    if (!Number.isFinite(dueMs)) return;
    // At least 1 ms: Node treats any delay below 1 as 1 anyway.
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.dueMs = Infinity;
        this.onDue();
      },
      Math.min(MAX_TIMER_MS, Math.max(1, dueMs - this.now())),
    );
  }

  // Clears the timer for good: later arm() calls do nothing.
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
