/**
 * One load generator of the typing benchmark, run as its own process (bench/typing.ts forks
 * it). It holds whole documents, so every latency it reports is read off one clock. Open
 * loop: each client types at its own fixed rate (random phase) whatever the server does.
 *
 * IPC from the parent: setup → (ready) → type → measure → stop → (result) → close.
 */
import { openRelayClient, openShareDBClient, type TypingClient } from './typing-clients.js';
import { DocumentTracker, divergedDocuments, type TrackerTotals } from './typing-tracker.js';
import { MeasurementWindow } from './measurement-window.js';
import { serveLoadGenerator } from './generator-process.js';

export interface GeneratorSetup {
  readonly system: 'relay' | 'sharedb';
  readonly url: string;
  /** Relay: one token per client, in document-major order. */
  readonly tokens: readonly string[];
  readonly docs: readonly string[];
  readonly clientsPerDoc: number;
  readonly opsPerSecPerClient: number;
  readonly drainTimeoutMs: number;
}

export interface GeneratorResult {
  readonly ackMs: number[];
  readonly fanoutMs: number[];
  readonly committedInWindow: number;
  readonly windowSecs: number;
  readonly typed: number;
  /** Keystrokes or changes still not acked or not applied by everyone after the drain, plus clients with edits pending. */
  readonly undelivered: number;
  /** Documents whose clients ended with different texts, or with fewer characters than typed (why, per document); judged only when the run drained. */
  readonly diverged: string[];
  /** How late the open-loop schedule ran, p99 ms: the generator's own CPU starvation. */
  readonly scheduleLagP99Ms: number;
  /** What the clients were told went wrong (error codes and messages, once each). */
  readonly errors: string[];
}


const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

interface Typist {
  readonly client: TypingClient;
  readonly tracker: DocumentTracker;
  readonly index: number;
  next: number;
  typed: number;
}

async function openDocument(setup: GeneratorSetup, d: number, tracker: DocumentTracker, problems: Set<string>): Promise<TypingClient[]> {
  const docId = setup.docs[d] ?? '';
  const clients: TypingClient[] = [];
  for (let c = 0; c < setup.clientsPerDoc; c++) {
    const events = {
      sent: (id: string) => tracker.sent(c, id),
      acked: (id: string) => tracker.acked(id, performance.now()),
      applied: (id: string) => tracker.applied(id, performance.now()),
      problem: (description: string) => problems.add(description.slice(0, 200)),
    };
    clients.push(
      setup.system === 'relay'
        ? await openRelayClient(setup.url, setup.tokens[d * setup.clientsPerDoc + c] ?? '', docId, events)
        : await openShareDBClient(setup.url, docId, c === 0, events),
    );
  }
  return clients;
}

class Generator {
  private readonly totals: TrackerTotals = { ackMs: [], fanoutMs: [], committedInWindow: 0, typed: 0 };
  private readonly window = new MeasurementWindow();
  private readonly documents: { clients: TypingClient[]; tracker: DocumentTracker; typed: number }[] = [];
  private typists: Typist[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly problems = new Set<string>();

  constructor(private readonly setup: GeneratorSetup) {}

  async open(): Promise<void> {
    for (let d = 0; d < this.setup.docs.length; d++) {
      const tracker = new DocumentTracker(this.setup.clientsPerDoc, this.totals, this.window);
      this.documents.push({ clients: await openDocument(this.setup, d, tracker, this.problems), tracker, typed: 0 });
    }
  }

  type(): void {
    const interval = 1000 / this.setup.opsPerSecPerClient;
    const now = performance.now();
    this.typists = this.documents.flatMap((doc) => doc.clients.map((client, index) => ({ client, tracker: doc.tracker, index, next: now + Math.random() * interval, typed: 0 })));
    // A 1 ms tick types every keystroke that is due: the schedule does not wait for the server.
    this.timer = setInterval(() => this.tick(interval), 1);
  }

  measure(): void {
    this.window.start();
  }

  stop(): void {
    this.window.stop();
    if (this.timer) clearInterval(this.timer);
  }

  async drain(): Promise<GeneratorResult> {
    const deadline = performance.now() + this.setup.drainTimeoutMs;
    const outstanding = () => this.documents.reduce((n, d) => n + d.tracker.outstanding, 0);
    const unsettled = () => this.documents.reduce((n, d) => n + d.clients.filter((c) => !c.settled).length, 0);
    while ((outstanding() > 0 || unsettled() > 0) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const undelivered = outstanding() + unsettled();
    const documents = this.documents.map((doc, d) => ({
      id: this.setup.docs[d] ?? String(d),
      texts: doc.clients.map((c) => c.text),
      typed: this.typists.filter((t) => t.tracker === doc.tracker).reduce((n, t) => n + t.typed, 0),
    }));
    const diverged = divergedDocuments(documents, undelivered === 0);
    return {
      ackMs: this.totals.ackMs,
      fanoutMs: this.totals.fanoutMs,
      committedInWindow: this.totals.committedInWindow,
      windowSecs: this.window.seconds,
      typed: this.totals.typed,
      undelivered,
      diverged,
      scheduleLagP99Ms: this.window.lagP99Ms,
      errors: [...this.problems],
    };
  }

  close(): void {
    for (const doc of this.documents) for (const c of doc.clients) c.close();
  }

  private tick(interval: number): void {
    const now = performance.now();
    for (const t of this.typists) {
      while (t.next <= now) {
        this.window.noteLag(now - t.next);
        const pos = Math.floor(Math.random() * (t.client.length + 1));
        t.tracker.typed(t.index, performance.now());
        t.client.insert(pos, LETTERS[Math.floor(Math.random() * LETTERS.length)] ?? 'x');
        t.typed++;
        t.next += interval;
      }
    }
  }
}

serveLoadGenerator((setup: GeneratorSetup) => new Generator(setup));
