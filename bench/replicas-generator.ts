/**
 * One load generator of the replicas benchmark (bench/replicas.ts forks it): whole documents,
 * each document's clients spread round-robin over the relay replicas, every client typing one
 * character at a random position at a fixed rate (open loop). The clients and the latency
 * bookkeeping are the typing benchmark's (bench/typing-clients.ts, bench/typing-tracker.ts).
 *
 * IPC from the parent: setup → (ready) → type → measure → stop → (result) → close.
 */
import { openRelayClient, type TypingClient } from './typing-clients.js';
import { DocumentTracker, divergedDocuments, type TrackerTotals } from './typing-tracker.js';
import { MeasurementWindow } from './measurement-window.js';
import { serveLoadGenerator } from './generator-process.js';

export interface ReplicasGeneratorSetup {
  /** WebSocket URLs of the replicas. */
  readonly urls: readonly string[];
  /** One token per client, in document-major order. */
  readonly tokens: readonly string[];
  readonly docs: readonly string[];
  readonly clientsPerDoc: number;
  readonly opsPerSecPerClient: number;
  readonly drainTimeoutMs: number;
}

export interface ReplicasGeneratorResult {
  readonly ackMs: number[];
  readonly fanoutMs: number[];
  readonly committedInWindow: number;
  readonly windowSecs: number;
  readonly undelivered: number;
  readonly diverged: string[];
  readonly scheduleLagP99Ms: number;
  readonly errors: string[];
}


const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

interface Document {
  readonly clients: TypingClient[];
  readonly tracker: DocumentTracker;
  typed: number;
}

class Generator {
  private readonly totals: TrackerTotals = { ackMs: [], fanoutMs: [], committedInWindow: 0, typed: 0 };
  private readonly window = new MeasurementWindow();
  private readonly documents: Document[] = [];
  private readonly problems = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly setup: ReplicasGeneratorSetup) {}

  async open(): Promise<void> {
    const { urls, tokens, docs, clientsPerDoc } = this.setup;
    for (let d = 0; d < docs.length; d++) {
      const tracker = new DocumentTracker(clientsPerDoc, this.totals, this.window);
      const clients: TypingClient[] = [];
      for (let c = 0; c < clientsPerDoc; c++) {
        const index = d * clientsPerDoc + c;
        const events = {
          sent: (id: string) => tracker.sent(c, id),
          acked: (id: string) => tracker.acked(id, performance.now()),
          applied: (id: string) => tracker.applied(id, performance.now()),
          problem: (description: string) => this.problems.add(description.slice(0, 200)),
        };
        clients.push(await openRelayClient(urls[index % urls.length] ?? '', tokens[index] ?? '', docs[d] ?? '', events));
      }
      this.documents.push({ clients, tracker, typed: 0 });
    }
  }

  type(): void {
    const interval = 1000 / this.setup.opsPerSecPerClient;
    const start = performance.now();
    const typists = this.documents.flatMap((doc) => doc.clients.map((client, index) => ({ doc, client, index, next: start + Math.random() * interval })));
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const t of typists) {
        while (t.next <= now) {
          this.window.noteLag(now - t.next);
          t.doc.tracker.typed(t.index, performance.now());
          t.client.insert(Math.floor(Math.random() * (t.client.length + 1)), LETTERS[Math.floor(Math.random() * LETTERS.length)] ?? 'x');
          t.doc.typed++;
          t.next += interval;
        }
      }
    }, 1);
  }

  measure(): void {
    this.window.start();
  }

  stop(): void {
    this.window.stop();
    if (this.timer) clearInterval(this.timer);
  }

  async drain(): Promise<ReplicasGeneratorResult> {
    const deadline = performance.now() + this.setup.drainTimeoutMs;
    const outstanding = () => this.documents.reduce((n, d) => n + d.tracker.outstanding + d.clients.filter((c) => !c.settled).length, 0);
    while (outstanding() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const undelivered = outstanding();
    const documents = this.documents.map((doc, d) => ({ id: this.setup.docs[d] ?? String(d), texts: doc.clients.map((c) => c.text), typed: doc.typed }));
    return {
      ackMs: this.totals.ackMs,
      fanoutMs: this.totals.fanoutMs,
      committedInWindow: this.totals.committedInWindow,
      windowSecs: this.window.seconds,
      undelivered,
      diverged: divergedDocuments(documents, undelivered === 0),
      scheduleLagP99Ms: this.window.lagP99Ms,
      errors: [...this.problems],
    };
  }

  close(): void {
    for (const doc of this.documents) for (const c of doc.clients) c.close();
  }
}

serveLoadGenerator((setup: ReplicasGeneratorSetup) => new Generator(setup));
