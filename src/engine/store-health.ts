import { backoffDelayMs } from '../backoff.js';
/** What StoreHealth logs through (pino's signature, narrowed to what it needs). */
export interface StreakLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface StoreHealthOptions {
  readonly log: StreakLogger;
  /** While a streak lasts it is reported this often. */
  readonly reportEveryMs: number;
  /**
   * Asks the database whether it answers again (e.g. `SELECT 1`). Run every `probeEveryMs`
   * during a streak; when it starts answering, every waiting commit is retried at once
   * instead of at the end of its backoff.
   */
  readonly probe?: () => Promise<boolean>;
  readonly probeEveryMs?: number;
  /** Counts each failed call (a metric). */
  readonly onFailure?: () => void;
  readonly now?: () => number;
}

interface Streak {
  readonly startedAt: number;
  failures: number;
  /** Documents whose calls are failing now, with the changes each has waiting. */
  readonly documents: Map<string, number>;
  reportTimer: NodeJS.Timeout;
  probeTimer: NodeJS.Timeout | undefined;
  databaseAnswers: boolean;
}

/**
 * The health of the commit path, shared by every document engine of a replica. A retry
 * streak starts with the first failed op-log call and ends when every document that failed
 * has succeeded again (or was closed). It is logged when it starts, every `reportEveryMs`
 * while it lasts (failures so far, documents and changes waiting) and when it ends; readiness
 * reports the database as failing during it, whatever `SELECT 1` says.
 */
export class StoreHealth {
  private streak: Streak | undefined;
  private wakers = new Set<() => void>();
  private readonly now: () => number;

  constructor(private readonly options: StoreHealthOptions) {
    this.now = options.now ?? Date.now;
  }

  /** False while a retry streak lasts. */
  get healthy(): boolean {
    return this.streak === undefined;
  }

  /** An op-log call for `docId` failed because the store is unavailable; `pending` changes wait. */
  failed(docId: string, err: unknown, pending: number): void {
    this.options.onFailure?.();
    let streak = this.streak;
    if (!streak) {
      streak = {
        startedAt: this.now(),
        failures: 0,
        documents: new Map(),
        reportTimer: setInterval(() => this.report(), this.options.reportEveryMs),
        probeTimer: undefined,
        databaseAnswers: false,
      };
      streak.reportTimer.unref();
      this.streak = streak;
      this.options.log.warn({ err, doc: docId, pending }, 'op log unavailable: commits are failing; changes stay pending and are retried');
      this.startProbing(streak);
    }
    streak.failures++;
    streak.documents.set(docId, pending);
  }

  /** An op-log call for `docId` succeeded. */
  succeeded(docId: string): void {
    const streak = this.streak;
    if (!streak || !streak.documents.delete(docId)) return;
    // The database answers: the others need not sit out their backoff.
    this.wakeAll();
    if (streak.documents.size === 0) this.end(streak, 'op log available again: commits succeed');
  }

  /** The document was closed or unloaded: it no longer keeps a streak going. */
  forget(docId: string): void {
    const streak = this.streak;
    if (streak?.documents.delete(docId) && streak.documents.size === 0) this.end(streak, 'retry streak over: no document is waiting any more');
  }

  /** Resolves after `delayMs`, or sooner when the database is seen answering again. */
  retryAfter(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, delayMs);
      this.wakers.add(done);
    });
  }

  close(): void {
    if (this.streak) this.stopTimers(this.streak);
    this.streak = undefined;
    this.wakeAll();
  }

  private report(): void {
    const streak = this.streak;
    if (!streak) return;
    this.options.log.warn(
      { failures: streak.failures, documents: streak.documents.size, pending: sum(streak.documents.values()), elapsed_ms: this.now() - streak.startedAt },
      'op log still unavailable; retrying',
    );
  }

  private end(streak: Streak, message: string): void {
    this.stopTimers(streak);
    this.streak = undefined;
    this.options.log.info({ failures: streak.failures, duration_ms: this.now() - streak.startedAt }, message);
  }

  private stopTimers(streak: Streak): void {
    clearInterval(streak.reportTimer);
    if (streak.probeTimer) clearTimeout(streak.probeTimer);
  }

  /** Probes until the streak ends; wakes the waiting commits when the database starts answering. */
  private startProbing(streak: Streak): void {
    const probe = this.options.probe;
    if (!probe) return;
    const tick = () => {
      probe()
        .catch(() => false)
        .then((answers) => {
          if (this.streak !== streak) return;
          // Only on the transition: a database that answers SELECT 1 but refuses commits
          // must not turn backoff into a busy loop.
          if (answers && !streak.databaseAnswers) this.wakeAll();
          streak.databaseAnswers = answers;
          streak.probeTimer = setTimeout(tick, this.options.probeEveryMs ?? 250);
          streak.probeTimer.unref();
        });
    };
    streak.probeTimer = setTimeout(tick, this.options.probeEveryMs ?? 250);
    streak.probeTimer.unref();
  }

  private wakeAll(): void {
    const wakers = [...this.wakers];
    this.wakers.clear();
    for (const wake of wakers) wake();
  }
}

/**
 * Delay before retry number `attempt` (0, 1, ...): the shared backoff, 100 ms doubling to 2 s
 * with full jitter, so replicas do not retry in step and no retry waits more than 2 s (a
 * database that answers again wakes the waiting documents sooner: `retryAfter`).
 */
export function defaultRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  return backoffDelayMs(attempt, 100, 2000, random);
}

function sum(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}
