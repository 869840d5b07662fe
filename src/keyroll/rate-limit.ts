// Token bucket: `burst` tokens, refilled at `perMinute` tokens per minute, computed lazily
// from the time of the last take (no timer; the sender stays purely reactive).
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.lastMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.perMinute) / 60_000);
      this.lastMs = nowMs;
    }
  }

  // Tokens available at `nowMs`, without changing anything (for views).
  available(nowMs: number): number {
    if (nowMs <= this.lastMs) return this.tokens;
    return Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.perMinute) / 60_000);
  }

  take(nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
