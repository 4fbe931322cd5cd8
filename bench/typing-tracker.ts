/**
 * Follows every keystroke of one document from its client's submit to its ack and to the
 * moment every other client of the document has applied it. A client composes keystrokes
 * typed while a change is in flight into its next change, so a keystroke's latency includes
 * that wait: it is what the person at the next screen sees.
 */
import { UnsentKeystrokes } from './unsent-keystrokes.js';

export interface TrackerTotals {
  readonly ackMs: number[];
  readonly fanoutMs: number[];
  /** Keystrokes whose ack arrived inside the measurement window. */
  committedInWindow: number;
  /** Keystrokes typed in all, warm-up included. */
  typed: number;
}

interface InFlight {
  readonly times: number[];
  readonly measured: boolean[];
  acked: boolean;
  receivers: number;
}

export class DocumentTracker {
  /** Keystrokes of each client not yet sent (typed while a change was in flight). */
  private readonly unsent: UnsentKeystrokes;
  private readonly changes = new Map<string, InFlight>();

  constructor(
    private readonly clients: number,
    private readonly totals: TrackerTotals,
    private readonly window: { readonly measuring: boolean },
  ) {
    this.unsent = new UnsentKeystrokes(clients, window);
  }

  typed(client: number, at: number): void {
    if (this.unsent.typed(client, at)) this.totals.typed++;
  }

  /** The client sent a change: it carries every keystroke typed since its previous one. */
  sent(client: number, id: string): void {
    // A resend (after a reconnect) carries nothing new.
    if (this.changes.has(id)) return;
    const keys = this.unsent.take(client);
    if (keys) this.changes.set(id, { times: keys.times, measured: keys.measured, acked: false, receivers: 0 });
  }

  acked(id: string, at: number): void {
    const change = this.changes.get(id);
    if (!change || change.acked) return;
    change.acked = true;
    change.times.forEach((t, i) => {
      if (change.measured[i]) this.totals.ackMs.push(at - t);
    });
    if (this.window.measuring) this.totals.committedInWindow += change.times.length;
    this.settle(id, change);
  }

  /** Another client applied the change. */
  applied(id: string, at: number): void {
    const change = this.changes.get(id);
    if (!change) return;
    change.receivers++;
    if (change.receivers === this.clients - 1) {
      change.times.forEach((t, i) => {
        if (change.measured[i]) this.totals.fanoutMs.push(at - t);
      });
    }
    this.settle(id, change);
  }

  /** Changes not yet acked or not yet applied by everyone, and keystrokes not yet sent. */
  get outstanding(): number {
    return this.changes.size + this.unsent.count;
  }

  private settle(id: string, change: InFlight): void {
    if (change.acked && change.receivers >= this.clients - 1) this.changes.delete(id);
  }
}

/**
 * Which documents ended wrong: clients holding different texts, or fewer characters than
 * were typed. Only a drained run can be judged: until every change is acked and applied
 * everywhere, clients legitimately hold different texts, and calling that a divergence hid
 * what really happened (the run did not drain in time) behind a false correctness failure.
 */
export function divergedDocuments(documents: readonly { id: string; texts: readonly string[]; typed: number }[], drained: boolean): string[] {
  if (!drained) return [];
  const diverged: string[] = [];
  for (const { id, texts, typed } of documents) {
    if (texts.some((t) => t !== texts[0])) diverged.push(`${id}: clients hold different texts`);
    else if (texts[0]?.length !== typed) diverged.push(`${id}: ${texts[0]?.length ?? 0} characters for ${typed} keystrokes`);
  }
  return diverged;
}
