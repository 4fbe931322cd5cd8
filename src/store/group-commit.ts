import type { ActorRecord, ChangePosition, CommittedChange, OpLogStore, Snapshot, ChangesSinceSnapshot } from '../engine/ports.js';
import { sqlStateOf } from './errors.js';
import { rethrowAppendError, type DocumentAppend } from './oplog.js';

/** What a group commit needs of the op log: per-document calls, and several documents' appends in one statement. */
export interface MultiDocumentOpLog extends OpLogStore {
  /** All or nothing, one statement (autocommitted: resolved means committed). */
  appendMany(appends: readonly DocumentAppend[]): Promise<void>;
}

export interface GroupCommitOptions {
  /** Most documents in one statement (bounds its size and the work redone when it fails). */
  readonly maxDocuments: number;
  /**
   * Group statements in flight at once (default 2). With one, a change that arrives just
   * after a group left waits for that commit and then its own; a second lets it leave at
   * once while commits per second stay bounded. A document is in one group at a time.
   */
  readonly maxInFlight?: number;
}

export interface GroupCommitStats {
  /** Statements that committed a group (one or more documents' appends). */
  readonly commits: number;
  /** Document appends committed, in groups or alone. */
  readonly appends: number;
  /** Groups whose statement failed on a value or a conflict, then sent document by document. */
  readonly retries: number;
}

interface Pending extends DocumentAppend {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * A replica-wide group commit: the appends of every document that arrive while commits are in
 * flight (at most maxInFlight statements) go into the next single statement, so commits per
 * second stay bounded however many documents are busy. Each engine still has one batch in flight and acks and fans out after
 * its append resolves, in its own revision order; an append resolves only once its statement
 * committed (synchronous_commit stays on: resolved means durable).
 *
 * No transaction block and no savepoint: the usual group is one autocommitted statement. When
 * it fails on a value or a conflict (another replica took a revision, an actor's seq was
 * already used, a value PostgreSQL refuses), nothing of it committed, and each document's
 * append is sent again on its own (also one statement each), so that only the document at
 * fault fails. When it fails on the connection (an outage), every document gets that error
 * and its engine retries as it would without grouping. postgres.js's transactions are avoided
 * on purpose: a connection that dies inside sql.begin() kills the process (see oplog.ts).
 */
export class GroupCommitOpLog implements OpLogStore {
  private queue: Pending[] = [];
  /** Documents with an append in a group in flight: their next append waits for it. */
  private readonly inFlightDocs = new Set<string>();
  private inFlight = 0;
  private scheduled = false;
  private commitCount = 0;
  private appendCount = 0;
  private retryCount = 0;

  constructor(
    private readonly log: MultiDocumentOpLog,
    private readonly options: GroupCommitOptions,
  ) {}

  get stats(): GroupCommitStats {
    return { commits: this.commitCount, appends: this.appendCount, retries: this.retryCount };
  }

  latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    return this.log.latestSnapshot(docId);
  }

  readChangesSinceLatestSnapshot(docId: string): Promise<ChangesSinceSnapshot> {
    return this.log.readChangesSinceLatestSnapshot(docId);
  }

  readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    return this.log.readChanges(docId, fromRev, toRev);
  }

  actor(docId: string, actor: string): Promise<ActorRecord | undefined> {
    return this.log.actor(docId, actor);
  }

  findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined> {
    return this.log.findChange(docId, actor, seq);
  }

  saveSnapshot(docId: string, snapshot: Snapshot): Promise<void> {
    return this.log.saveSnapshot(docId, snapshot);
  }

  append(docId: string, changes: readonly CommittedChange[]): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ docId, changes, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    // Waits only until the current callback's promise chains have run: the engines a
    // commit's reply (or a message) set going append from those, and share the group.
    // Not setImmediate: postgres.js defers a small write to setImmediate itself, and one
    // scheduled from inside an immediate waits a whole loop iteration more.
    process.nextTick(() => {
      this.scheduled = false;
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.inFlight < this.maxInFlight) {
      const group = this.takeGroup();
      if (group.length === 0) return;
      this.inFlight++;
      for (const p of group) this.inFlightDocs.add(p.docId);
      void this.commitGroup(group).finally(() => {
        this.inFlight--;
        for (const p of group) this.inFlightDocs.delete(p.docId);
        if (this.queue.length > 0) this.schedule();
      });
    }
  }

  private get maxInFlight(): number {
    return this.options.maxInFlight ?? 2;
  }

  /** Oldest first, at most one append per document, none of a document already in flight. */
  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    const rest: Pending[] = [];
    const docs = new Set<string>();
    for (const p of this.queue) {
      if (group.length < this.options.maxDocuments && !docs.has(p.docId) && !this.inFlightDocs.has(p.docId)) {
        group.push(p);
        docs.add(p.docId);
      } else {
        rest.push(p);
      }
    }
    this.queue = rest;
    return group;
  }

  /** Never rejects: every append of the group is settled. */
  private async commitGroup(group: readonly Pending[]): Promise<void> {
    try {
      await this.log.appendMany(group);
    } catch (err) {
      if (group.length > 1 && sqlStateOf(err) !== undefined) {
        // PostgreSQL refused the statement (so nothing of it committed): find the document at fault.
        this.retryCount++;
        await Promise.all(group.map((p) => this.commitAlone(p)));
        return;
      }
      for (const p of group) settleFailed(p, err);
      return;
    }
    this.commitCount++;
    this.appendCount += group.length;
    for (const p of group) p.resolve();
  }

  private async commitAlone(p: Pending): Promise<void> {
    try {
      await this.log.appendMany([p]);
    } catch (err) {
      settleFailed(p, err);
      return;
    }
    this.commitCount++;
    this.appendCount++;
    p.resolve();
  }
}

function settleFailed(p: Pending, err: unknown): void {
  try {
    rethrowAppendError(err, p);
  } catch (mapped) {
    p.reject(mapped);
  }
}
