import { DocumentEngine, type CommitListener, type EngineOptions } from './document.js';
import { StoreRejected, type OpLogStore } from './ports.js';

/**
 * How long a load keeps retrying a store that fails before the join waiting for it is refused
 * (`unavailable`; the client asks again later). A database that restarted leaves pooled
 * connections that fail once, and a failover takes a second or two: a join during either waits
 * instead of failing. During a longer outage joins are refused after this long.
 */
export const LOAD_RETRY_WINDOW_MS = 3_000;

interface Slot {
  engine: DocumentEngine | undefined;
  loading: Promise<DocumentEngine> | undefined;
  members: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export interface RegistryOptions extends EngineOptions {
  /** A document nobody has open is unloaded after this long. */
  readonly idleUnloadMs: number;
  readonly onUnload?: (docId: string) => void;
  readonly onLoad?: (docId: string) => void;
}

/**
 * The documents loaded on this replica. A document is loaded once however many clients join
 * at the same moment, and unloaded when nobody has had it open for a while (and nothing of it
 * is waiting to be committed).
 */
export class DocumentRegistry {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly store: OpLogStore,
    private readonly listener: CommitListener,
    private readonly options: RegistryOptions,
  ) {}

  get size(): number {
    let n = 0;
    for (const slot of this.slots.values()) if (slot.engine) n++;
    return n;
  }

  /** The loaded engine, if any (does not load). */
  peek(docId: string): DocumentEngine | undefined {
    return this.slots.get(docId)?.engine;
  }

  /** Loads the document if needed and counts one more member; pair with release(). */
  async acquire(docId: string): Promise<DocumentEngine> {
    let slot = this.slots.get(docId);
    if (!slot) {
      slot = { engine: undefined, loading: undefined, members: 0, idleTimer: undefined };
      this.slots.set(docId, slot);
    }
    slot.members++;
    if (slot.idleTimer) {
      clearTimeout(slot.idleTimer);
      slot.idleTimer = undefined;
    }
    if (slot.engine) return slot.engine;
    let loading = slot.loading;
    if (!loading) {
      const current = slot;
      loading = current.loading = this.load(docId).then(
        (engine) => {
          current.engine = engine;
          current.loading = undefined;
          this.options.onLoad?.(docId);
          return engine;
        },
        (err: unknown) => {
          current.loading = undefined;
          throw err;
        },
      );
    }
    try {
      return await loading;
    } catch (err) {
      this.release(docId);
      throw err;
    }
  }

  /** Loads the document, retrying store failures for up to LOAD_RETRY_WINDOW_MS (not values the store refuses for good). */
  private async load(docId: string): Promise<DocumentEngine> {
    const deadline = this.options.now() + LOAD_RETRY_WINDOW_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await DocumentEngine.load(docId, this.store, this.listener, this.options);
      } catch (err) {
        const delay = this.options.retryDelayMs(attempt);
        if (err instanceof StoreRejected || this.options.now() + delay > deadline) throw err;
        this.options.onStoreError(docId, err, attempt);
        await (this.options.health?.retryAfter(delay) ?? new Promise((r) => setTimeout(r, delay)));
      }
    }
  }

  release(docId: string): void {
    const slot = this.slots.get(docId);
    if (!slot) return;
    slot.members = Math.max(0, slot.members - 1);
    if (slot.members > 0 || slot.idleTimer) return;
    if (!slot.engine && !slot.loading) {
      this.slots.delete(docId);
      return;
    }
    slot.idleTimer = setTimeout(() => this.unloadIfIdle(docId), this.options.idleUnloadMs);
    slot.idleTimer.unref();
  }

  private unloadIfIdle(docId: string): void {
    const slot = this.slots.get(docId);
    if (!slot) return;
    slot.idleTimer = undefined;
    if (slot.members > 0) return;
    const engine = slot.engine;
    if (engine?.busy) {
      // Changes still committing (e.g. the database is down): try again later.
      slot.idleTimer = setTimeout(() => this.unloadIfIdle(docId), this.options.idleUnloadMs);
      slot.idleTimer.unref();
      return;
    }
    this.slots.delete(docId);
    // Nothing is queued (not busy); closing tells the commit-path health it is gone.
    engine?.close();
    this.options.onUnload?.(docId);
  }

  engines(): DocumentEngine[] {
    return [...this.slots.values()].flatMap((s) => (s.engine ? [s.engine] : []));
  }

  /** Waits until every loaded document has committed what it has queued, up to `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    const all = Promise.all(this.engines().map((e) => e.whenIdle())).then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([all, timeout]);
  }

  close(): void {
    for (const slot of this.slots.values()) {
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      slot.engine?.close();
    }
    this.slots.clear();
  }
}
