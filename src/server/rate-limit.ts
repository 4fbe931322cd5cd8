export type RateDecision = 'ok' | 'limited' | 'close';

/**
 * A token bucket per connection: `ratePerSec` sustained, `burst` at once. A client that keeps
 * sending while limited (another `burst` messages dropped without a pause) is flooding rather
 * than bursting, and is told to go.
 */
export class RateLimiter {
  private tokens: number;
  private updatedAt: number;
  /** Messages dropped since the client was last within its rate. */
  private dropped = 0;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  take(now: number): RateDecision {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSec);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.dropped = 0;
      return 'ok';
    }
    this.dropped++;
    return this.dropped > this.burst ? 'close' : 'limited';
  }

  /** True for the first drop of a streak: the client is told once, not once per dropped message. */
  get firstDrop(): boolean {
    return this.dropped === 1;
  }
}
