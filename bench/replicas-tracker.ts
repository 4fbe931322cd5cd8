/**
 * Keystroke bookkeeping of the replicas benchmark when one document's clients live in several
 * generator processes: no process sees every receipt of a change, so each records its half
 * (the keystrokes its clients sent, with their times; how many of its clients applied each
 * change and when the last did) and the parent joins them (`joinFanout`). Times are read off
 * the shared wall clock at high resolution (`performance.timeOrigin + performance.now()`),
 * so a submit in one process and a receipt in another subtract.
 *
 * As in bench/typing-tracker.ts, keystrokes typed while a change is in flight ride in the
 * client's next change, and their latency includes that wait.
 */
import { UnsentKeystrokes } from './unsent-keystrokes.js';

/** The shared clock, in ms. */
export const sharedNow = (): number => performance.timeOrigin + performance.now();

/** A change one client sent: the measured keystrokes it carries, by when they were typed. */
export type SentChange = readonly [id: string, measuredTypedAt: readonly number[]];
/** How many of one process's clients applied a change, and when the last of them did. */
export type Receipt = readonly [id: string, count: number, lastAt: number];

interface Outgoing {
  readonly times: number[];
  readonly measured: boolean[];
  acked: boolean;
}

export class SharedDocumentTracker {
  private readonly unsent: UnsentKeystrokes;
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly receipts = new Map<string, { count: number; lastAt: number }>();
  private readonly sentMeasured: SentChange[] = [];
  readonly ackMs: number[] = [];
  committedInWindow = 0;
  typedCount = 0;

  constructor(
    clients: number,
    private readonly window: { readonly measuring: boolean },
  ) {
    this.unsent = new UnsentKeystrokes(clients, window);
  }

  typed(client: number, at: number): void {
    if (this.unsent.typed(client, at)) this.typedCount++;
  }

  sent(client: number, id: string): void {
    // A resend (after a reconnect) carries nothing new.
    if (this.outgoing.has(id)) return;
    const keys = this.unsent.take(client);
    if (!keys) return;
    this.outgoing.set(id, { times: keys.times, measured: keys.measured, acked: false });
    const measured = keys.times.filter((_, i) => keys.measured[i]);
    if (measured.length > 0) this.sentMeasured.push([id, measured]);
  }

  acked(id: string, at: number): void {
    const change = this.outgoing.get(id);
    if (!change || change.acked) return;
    change.acked = true;
    change.times.forEach((t, i) => {
      if (change.measured[i]) this.ackMs.push(at - t);
    });
    if (this.window.measuring) this.committedInWindow += change.times.length;
    this.outgoing.delete(id);
  }

  applied(id: string, at: number): void {
    const r = this.receipts.get(id);
    if (r) {
      r.count++;
      r.lastAt = at;
    } else this.receipts.set(id, { count: 1, lastAt: at });
  }

  /** Changes of this process's clients not yet acked, and keystrokes not yet sent. */
  get outstanding(): number {
    return this.outgoing.size + this.unsent.count;
  }

  get sentChanges(): SentChange[] {
    return this.sentMeasured;
  }

  get receiptList(): Receipt[] {
    return [...this.receipts].map(([id, r]) => [id, r.count, r.lastAt] as const);
  }
}

/**
 * Fan-out latency of every measured keystroke, from all processes' halves: typed → the last
 * of the document's other clients applied its change. Changes some client never applied are
 * counted as missing.
 */
export function joinFanout(sent: readonly SentChange[], receipts: readonly Receipt[], receiversPerChange: number): { fanoutMs: number[]; missing: number } {
  const seen = new Map<string, { count: number; lastAt: number }>();
  for (const [id, count, lastAt] of receipts) {
    const r = seen.get(id);
    if (r) {
      r.count += count;
      r.lastAt = Math.max(r.lastAt, lastAt);
    } else seen.set(id, { count, lastAt });
  }
  const fanoutMs: number[] = [];
  let missing = 0;
  for (const [id, times] of sent) {
    const r = seen.get(id);
    if (!r || r.count < receiversPerChange) {
      missing++;
      continue;
    }
    for (const t of times) fanoutMs.push(r.lastAt - t);
  }
  return { fanoutMs: fanoutMs.sort((a, b) => a - b), missing };
}
