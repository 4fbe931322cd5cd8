/**
 * Reconnect delays with exponential backoff and full jitter: the n-th retry waits a uniform
 * random time in [0, min(max, base · 2^n)]. Full jitter spreads a crowd of clients that lost
 * the same relay over the whole window instead of bunching them at its edges, and the cap
 * keeps a long outage from making anyone wait more than `max` once it is over.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The ceiling of the next delay, before jitter. */
  get ceilingMs(): number {
    // 2^30 is far past any sensible cap; stopping there keeps the product finite.
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
  }

  /** The delay before the next attempt; each call doubles the ceiling of the one after. */
  next(): number {
    const delay = Math.round(this.random() * this.ceilingMs);
    this.attempt += 1;
    return delay;
  }

  /** After a connection that lasted: the next failure starts from the base again. */
  reset(): void {
    this.attempt = 0;
  }
}

/** One full-jitter delay in [0, ceiling]: for retries that keep no count (a refused join). */
export function fullJitter(ceilingMs: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.max(0, ceilingMs));
}
