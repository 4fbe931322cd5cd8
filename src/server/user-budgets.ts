import { Bucket } from './rate-limit.js';

/** The first cool-down after a flood close; each further close within the memory doubles it. */
export const FLOOD_COOLDOWN_BASE_MS = 1000;
export const FLOOD_COOLDOWN_MAX_MS = 60_000;
/** A user with no flood close for this long starts again from the base cool-down. */
export const FLOOD_STRIKE_MEMORY_MS = 10 * 60_000;

interface UserEntry {
  /** The byte budget every connection of the user pays from. */
  readonly bytes: Bucket;
  /** Open connections holding this entry. */
  connections: number;
  /** Flood closes since the last quiet period, and when the last one happened. */
  strikes: number;
  lastStrikeAt: number;
  coolUntil: number;
}

/**
 * What a user's limits remember beyond one connection. A byte budget per connection alone is
 * reset by reconnecting, and opening eight connections multiplies it by eight: a client that
 * floods, is closed, and reconnects at once kept the replica reading its frames at full speed.
 * So every connection of a user pays from one byte budget, and a user closed for flooding is
 * refused new connections (HTTP 429 with Retry-After) for a cool-down that doubles with each
 * repeat. The relay checks the token before this (the user is who the token says), so one
 * user cannot make another cool down.
 *
 * Memory stays bounded by the users connected or recently closed for flooding: an entry goes
 * when its last connection closes, unless its user is cooling down or has recent strikes.
 */
export class UserBudgets {
  private readonly users = new Map<string, UserEntry>();

  constructor(private readonly limits: { readonly bytesPerSec: number; readonly bytesBurst: number }) {}

  /** The shared byte budget for a new connection of `userId`; pair with `release`. */
  acquire(userId: string, now: number): Bucket {
    const entry = this.entryOf(userId, now);
    entry.connections++;
    return entry.bytes;
  }

  release(userId: string, now: number): void {
    const entry = this.users.get(userId);
    if (!entry) return;
    entry.connections = Math.max(0, entry.connections - 1);
    if (this.forgettable(entry, now)) this.users.delete(userId);
  }

  /** Milliseconds until `userId` may connect again (0: now). */
  coolingDown(userId: string, now: number): number {
    const entry = this.users.get(userId);
    return entry ? Math.max(0, entry.coolUntil - now) : 0;
  }

  /** A connection of `userId` was closed for flooding: it cools down before it may reconnect. */
  flooded(userId: string, now: number): number {
    this.forgetQuietUsers(now);
    const entry = this.entryOf(userId, now);
    if (now - entry.lastStrikeAt > FLOOD_STRIKE_MEMORY_MS) entry.strikes = 0;
    const cooldownMs = Math.min(FLOOD_COOLDOWN_MAX_MS, FLOOD_COOLDOWN_BASE_MS * 2 ** entry.strikes);
    entry.strikes++;
    entry.lastStrikeAt = now;
    entry.coolUntil = Math.max(entry.coolUntil, now + cooldownMs);
    return cooldownMs;
  }

  /** Users remembered (for tests and metrics). */
  get size(): number {
    return this.users.size;
  }

  private entryOf(userId: string, now: number): UserEntry {
    let entry = this.users.get(userId);
    if (!entry) {
      entry = { bytes: new Bucket(this.limits.bytesPerSec, this.limits.bytesBurst, now), connections: 0, strikes: 0, lastStrikeAt: 0, coolUntil: 0 };
      this.users.set(userId, entry);
    }
    return entry;
  }

  private forgettable(entry: UserEntry, now: number): boolean {
    return entry.connections === 0 && entry.coolUntil <= now && (entry.strikes === 0 || now - entry.lastStrikeAt > FLOOD_STRIKE_MEMORY_MS);
  }

  /** Runs only when someone floods, so a quiet replica never walks the map. */
  private forgetQuietUsers(now: number): void {
    for (const [userId, entry] of this.users) if (this.forgettable(entry, now)) this.users.delete(userId);
  }
}
