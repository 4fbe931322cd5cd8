/**
 * Follows every keystroke of one document from its client's submit to its ack and to the
 * moment every other client of the document has applied it. A client composes keystrokes
 * typed while a change is in flight into its next change, so a keystroke's latency includes
 * that wait: it is what the person at the next screen sees.
 */
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
  private readonly unsent: { times: number[]; measured: boolean[] }[];
  private readonly changes = new Map<string, InFlight>();

  constructor(
    private readonly clients: number,
    private readonly totals: TrackerTotals,
    private readonly window: { measuring: boolean },
  ) {
    this.unsent = Array.from({ length: clients }, () => ({ times: [], measured: [] }));
  }

  typed(client: number, at: number): void {
    const u = this.unsent[client];
    if (!u) return;
    u.times.push(at);
    u.measured.push(this.window.measuring);
    this.totals.typed++;
  }

  /** The client sent a change: it carries every keystroke typed since its previous one. */
  sent(client: number, id: string): void {
    const u = this.unsent[client];
    // A resend (after a reconnect) carries nothing new.
    if (!u || u.times.length === 0 || this.changes.has(id)) return;
    this.changes.set(id, { times: u.times, measured: u.measured, acked: false, receivers: 0 });
    this.unsent[client] = { times: [], measured: [] };
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
    return this.changes.size + this.unsent.reduce((n, u) => n + u.times.length, 0);
  }

  private settle(id: string, change: InFlight): void {
    if (change.acked && change.receivers >= this.clients - 1) this.changes.delete(id);
  }
}
