/**
 * One load generator of the replicas benchmark (bench/replicas.ts forks several): its share of
 * each document's clients (a hot document's 50 clients are split over the processes, so no
 * one event loop receives every copy of every change), each client on the relay replica the
 * parent chose, typing one character at a random position at a fixed rate (open loop). The
 * clients are the typing benchmark's (bench/typing-clients.ts); the bookkeeping is split
 * between processes (bench/replicas-tracker.ts) and joined by the parent.
 *
 * IPC from the parent: setup → (ready) → type → measure → stop → (stopped: typed per
 * document) → drain (typed per document by all) → (result) → close.
 */
import { openRelayClient, type TypingClient } from './typing-clients.js';
import { SharedDocumentTracker, sharedNow, type Receipt, type SentChange } from './replicas-tracker.js';
import { MeasurementWindow } from './measurement-window.js';
import { serveSharedLoadGenerator, type TypedCounts } from './generator-process.js';

export interface ReplicasGeneratorSetup {
  /** This process's share of each document's clients: a token and a replica URL each. */
  readonly docs: readonly { readonly id: string; readonly clients: readonly { readonly token: string; readonly url: string }[] }[];
  readonly opsPerSecPerClient: number;
  readonly drainTimeoutMs: number;
}

export interface ReplicasGeneratorResult {
  readonly ackMs: number[];
  readonly sent: SentChange[];
  readonly receipts: Receipt[];
  readonly committedInWindow: number;
  readonly windowSecs: number;
  /** Own changes not acked, and clients short of the document's keystrokes, at the drain deadline. */
  readonly undelivered: number;
  readonly texts: { readonly doc: string; readonly texts: string[] }[];
  readonly scheduleLagP99Ms: number;
  readonly errors: string[];
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

interface Document {
  readonly id: string;
  readonly clients: TypingClient[];
  readonly tracker: SharedDocumentTracker;
}

class Generator {
  private readonly window = new MeasurementWindow();
  private readonly documents: Document[] = [];
  private readonly problems = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private typing = false;

  constructor(private readonly setup: ReplicasGeneratorSetup) {}

  async open(): Promise<void> {
    for (const doc of this.setup.docs) {
      const tracker = new SharedDocumentTracker(doc.clients.length, this.window);
      const clients: TypingClient[] = [];
      for (const [c, { token, url }] of doc.clients.entries()) {
        const events = {
          sent: (id: string) => tracker.sent(c, id),
          acked: (id: string) => tracker.acked(id, sharedNow()),
          applied: (id: string) => tracker.applied(id, sharedNow()),
          problem: (description: string) => this.problems.add(description.slice(0, 200)),
        };
        clients.push(await openRelayClient(url, token, doc.id, events));
      }
      this.documents.push({ id: doc.id, clients, tracker });
    }
  }

  /**
   * Types on each client's schedule. It sleeps until the next keystroke is due rather than
   * polling every millisecond: several generators share the cores with the relays, and a
   * thousand wake-ups a second each would be load of their own.
   */
  type(): void {
    const interval = 1000 / this.setup.opsPerSecPerClient;
    const start = performance.now();
    const typists = this.documents.flatMap((doc) => doc.clients.map((client, index) => ({ doc, client, index, next: start + Math.random() * interval })));
    const tick = () => {
      const now = performance.now();
      let due = Infinity;
      for (const t of typists) {
        while (t.next <= now) {
          this.window.noteLag(now - t.next);
          t.doc.tracker.typed(t.index, sharedNow());
          t.client.insert(Math.floor(Math.random() * (t.client.length + 1)), LETTERS[Math.floor(Math.random() * LETTERS.length)] ?? 'x');
          t.next += interval;
        }
        due = Math.min(due, t.next);
      }
      if (this.typing) this.timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    this.typing = true;
    tick();
  }

  measure(): void {
    this.window.start();
  }

  stop(): void {
    this.window.stop();
    this.typing = false;
    if (this.timer) clearTimeout(this.timer);
  }

  typed(): TypedCounts {
    return Object.fromEntries(this.documents.map((d) => [d.id, d.tracker.typedCount]));
  }

  /** Waits until its changes are acked and its clients hold every keystroke typed anywhere. */
  async drain(expected: TypedCounts): Promise<ReplicasGeneratorResult> {
    const deadline = performance.now() + this.setup.drainTimeoutMs;
    const outstanding = () =>
      this.documents.reduce(
        (n, d) => n + d.tracker.outstanding + d.clients.filter((c) => !c.settled || c.length < (expected[d.id] ?? 0)).length,
        0,
      );
    while (outstanding() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const trackers = this.documents.map((d) => d.tracker);
    return {
      ackMs: trackers.flatMap((t) => t.ackMs),
      sent: trackers.flatMap((t) => t.sentChanges),
      receipts: trackers.flatMap((t) => t.receiptList),
      committedInWindow: trackers.reduce((n, t) => n + t.committedInWindow, 0),
      windowSecs: this.window.seconds,
      undelivered: outstanding(),
      texts: this.documents.map((d) => ({ doc: d.id, texts: d.clients.map((c) => c.text) })),
      scheduleLagP99Ms: this.window.lagP99Ms,
      errors: [...this.problems],
    };
  }

  close(): void {
    for (const doc of this.documents) for (const c of doc.clients) c.close();
  }
}

serveSharedLoadGenerator((setup: ReplicasGeneratorSetup) => new Generator(setup));
