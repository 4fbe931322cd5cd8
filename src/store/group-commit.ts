import type { CommittedChange, OpLogStore, Snapshot } from '../engine/ports.js';
import type { Sql } from './db.js';
import { opRows, progressRows, rethrowAppendError, writeAppend, type Statements } from './oplog.js';

/** Bounds one statement's size; on the savepoint path, PostgreSQL's per-backend cache holds 64 subtransactions. */
const MAX_DOCUMENTS_PER_COMMIT = 48;

interface Pending {
  readonly docId: string;
  readonly changes: readonly CommittedChange[];
  resolve(): void;
  reject(err: unknown): void;
}

export interface GroupCommitStats {
  /** Transactions committed (each holding one or more documents' appends). */
  readonly commits: number;
  /** Document appends committed. */
  readonly appends: number;
  /** Groups that went again document by document, behind savepoints, after the one statement failed. */
  readonly retries: number;
}

/**
 * A replica-wide group commit over the PostgreSQL op log: the appends of every document that
 * arrive while a commit is in flight go into the next single transaction, so the number of
 * commits per second stays bounded however many documents are busy. Each document's append
 * sits behind its own SAVEPOINT: one that fails (another replica took the revision, a value
 * PostgreSQL refuses) is rolled back alone, the others commit. An append resolves only after
 * the COMMIT (synchronous_commit stays on: resolved means durable); the engine then acks and
 * fans out in its own revision order. Everything but append goes straight to the op log.
 *
 * The usual group is one statement and one round trip: a single INSERT of every document's
 * rows (passed as JSON, so encoding costs one JSON.stringify), committed on its own. Only when
 * that statement fails (a taken revision, a seq already used, a refused value, an outage) does
 * the group go again, in one transaction with each document behind its savepoint, so that
 * only the document at fault fails.
 */
export class GroupCommitOpLog implements OpLogStore {
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  private commitCount = 0;
  private appendCount = 0;
  private retryCount = 0;

  constructor(
    private readonly log: OpLogStore,
    private readonly sql: Sql,
  ) {}

  get stats(): GroupCommitStats {
    return { commits: this.commitCount, appends: this.appendCount, retries: this.retryCount };
  }

  latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    return this.log.latestSnapshot(docId);
  }

  readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    return this.log.readChanges(docId, fromRev, toRev);
  }

  actor(docId: string, actor: string) {
    return this.log.actor(docId, actor);
  }

  findChange(docId: string, actor: string, seq: number) {
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

  /**
   * While idle, the first append waits for the end of the current I/O phase only, so the
   * changes that arrived in the same burst share its commit; while a commit is in flight,
   * everything waits for it.
   */
  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) await this.commitGroup(this.takeGroup());
    } finally {
      this.flushing = false;
    }
  }

  /** One append per document (a second one of a document waits for the next group), oldest first. */
  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    const docs = new Set<string>();
    const rest: Pending[] = [];
    for (const p of this.queue) {
      if (group.length < MAX_DOCUMENTS_PER_COMMIT && !docs.has(p.docId)) {
        group.push(p);
        docs.add(p.docId);
      } else {
        rest.push(p);
      }
    }
    this.queue = rest;
    return group;
  }

  private async commitGroup(group: Pending[]): Promise<void> {
    const failed = new Map<Pending, unknown>();
    if (!(await this.commitAtOnce(group))) {
      this.retryCount++;
      await this.commitBySavepoints(group, failed);
    }
    this.settle(group, failed);
  }

  /**
   * The fast path: the whole group as one statement, which PostgreSQL commits on its own
   * (one round trip). True when it committed; false when nothing did.
   */
  private async commitAtOnce(group: readonly Pending[]): Promise<boolean> {
    try {
      await insertGroup(this.sql, group);
      return true;
    } catch {
      // Whatever it was (a taken revision, a seq already used, a refused value, an outage),
      // the savepoint path finds out per document and reports it to that document alone.
      return false;
    }
  }

  /**
   * The slow path, after the one statement failed: one transaction, each document behind its
   * own savepoint, one after the other, so a document that fails is rolled back alone.
   */
  private async commitBySavepoints(group: readonly Pending[], failed: Map<Pending, unknown>): Promise<void> {
    try {
      await this.sql.begin(async (tx) => {
        for (const p of group) {
          try {
            await tx.savepoint((sp) => writeAppend(sp, p.docId, p.changes));
          } catch (err) {
            failed.set(p, err);
          }
        }
      });
    } catch (err) {
      // The database is unreachable or the transaction failed as a whole: nothing was
      // written; each engine retries its batch.
      for (const p of group) if (!failed.has(p)) failed.set(p, err);
    }
  }

  private settle(group: readonly Pending[], failed: ReadonlyMap<Pending, unknown>): void {
    let committed = 0;
    for (const p of group) {
      if (!failed.has(p)) {
        committed++;
        p.resolve();
        continue;
      }
      try {
        rethrowAppendError(failed.get(p), p.docId);
      } catch (mapped) {
        p.reject(mapped);
      }
    }
    if (committed > 0) this.commitCount++;
    this.appendCount += committed;
  }
}

/**
 * Every document's rows in one statement: documents first created, ops, and actors' progress
 * (advanced only forward). The rows travel as three JSON parameters: one JSON.stringify each,
 * and one statement text PostgreSQL prepares once. When an actor's progress did not advance
 * (another replica committed that seq), the last line divides by zero: the statement fails as
 * a whole and nothing of the group is committed.
 */
async function insertGroup(sql: Statements, group: readonly Pending[]): Promise<void> {
  const docs = group.map((p) => ({ id: p.docId }));
  const ops = group.flatMap((p) => p.changes.flatMap((c) => opRows(p.docId, c)));
  const progress = group.flatMap((p) => progressRows(p.docId, p.changes));
  await sql`
    WITH new_documents AS (
      INSERT INTO documents (id)
      SELECT id FROM jsonb_to_recordset(${sql.json(docs as never)}) AS r(id uuid)
      ON CONFLICT (id) DO NOTHING
    ), new_operations AS (
      INSERT INTO operations (document_id, revision, actor_id, user_id, seq, op_index, operation_type, position, content, length, attributes, vector_clock, created_at)
      SELECT document_id, revision, actor_id, user_id, seq, op_index, operation_type, position, content, length, attributes, vector_clock, created_at
      FROM jsonb_to_recordset(${sql.json(ops as never)}) AS r(
        document_id uuid, revision bigint, actor_id uuid, user_id text, seq bigint, op_index smallint, operation_type varchar(20),
        position integer, content text, length integer, attributes jsonb, vector_clock jsonb, created_at timestamptz)
    ), advanced AS (
      INSERT INTO actor_progress (document_id, actor_id, user_id, last_seq, last_rev, last_count)
      SELECT document_id, actor_id, user_id, last_seq, last_rev, last_count
      FROM jsonb_to_recordset(${sql.json(progress as never)}) AS r(
        document_id uuid, actor_id uuid, user_id text, last_seq bigint, last_rev bigint, last_count integer)
      ON CONFLICT (document_id, actor_id) DO UPDATE
        SET user_id = EXCLUDED.user_id, last_seq = EXCLUDED.last_seq, last_rev = EXCLUDED.last_rev,
            last_count = EXCLUDED.last_count, updated_at = now()
        WHERE actor_progress.last_seq < EXCLUDED.last_seq
      RETURNING 1
    )
    SELECT 1 / (CASE WHEN (SELECT count(*) FROM advanced) = ${progress.length} THEN 1 ELSE 0 END) AS all_advanced`;
}
