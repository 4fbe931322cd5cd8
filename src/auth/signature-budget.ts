/**
 * How many failed signature checks per second a replica absorbs on its event loop.
 *
 * Why: upgrades verify tokens synchronously (src/auth/verify.ts) so that uWebSockets upgrades
 * inside its own handler; but a signature check costs the replica's only JavaScript thread
 * 30 µs (RS256) to 2 ms (ES512). A flood of forged tokens would stall every client of the
 * replica. Legitimate clients almost never fail a signature check, so failures are what is
 * counted: past this budget, checks run on libuv's threadpool (`crypto.verify` with a
 * callback) until the failures fall back under it. Those upgrades then wait, as an upgrade
 * waiting for a JWKS fetch does.
 *
 * With the defaults the event loop spends at most 50 failed checks a second: 4 ms a second
 * for P-256, 100 ms for P-521.
 */
export class SignatureBudget {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly failuresPerSec = 50,
    private readonly burst = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** True while failed checks stay within the budget: the next check may run on the event loop. */
  get inline(): boolean {
    this.refill();
    return this.tokens >= 1;
  }

  /** A signature check failed (on the event loop or off it). */
  failed(): void {
    this.refill();
    this.tokens = Math.max(0, this.tokens - 1);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.failuresPerSec);
    this.updatedAt = now;
  }
}
