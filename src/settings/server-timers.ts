// The server's timers (seed 000 タイマ19: "can measure many times at once"): a binary
// min-heap of (due time, entry id). Rescheduling an entry pushes a new item and leaves
// the old one in place; the server skips items whose time is no longer the entry's due
// time (lazy deletion keeps every operation O(log n) without a position index).
interface Timer {
  readonly atMs: number;
  readonly id: string;
}

export class TimerHeap {
  private readonly heap: Timer[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): Timer | undefined {
    return this.heap[0];
  }

  push(atMs: number, id: string): void {
    const h = this.heap;
    h.push({ atMs, id });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.atMs <= h[i]!.atMs) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.atMs < h[m]!.atMs) m = l;
      if (r < h.length && h[r]!.atMs < h[m]!.atMs) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}
