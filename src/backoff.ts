/*
 * The one retry policy of the relay and its client: exponential backoff with full jitter,
 * bounded. Used for the client's reconnects, the engine's commit retries, Redis reconnects and
 * snapshot retries. Pure (no timers): callers own their timers.
 */

/** The n-th ceiling (n = 0, 1, ...): `baseMs` doubling up to `maxMs`. */
export function backoffCeilingMs(attempt: number, baseMs: number, maxMs: number): number {
  // 2^30 is far past any sensible cap; stopping there keeps the product finite.
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/** One delay for retry `attempt` (0, 1, ...): uniform in [0, backoffCeilingMs(...)]. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return fullJitter(backoffCeilingMs(attempt, baseMs, maxMs), random);
}

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
    return backoffCeilingMs(this.attempt, this.baseMs, this.maxMs);
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
