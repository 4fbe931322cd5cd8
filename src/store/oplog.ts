import { isPacked, type PackedContent } from '../ot/packed.js';
import type { DocState, Op } from '../ot/types.js';
import { RevisionConflict, type ActorRecord, type ChangePosition, type CommittedChange, type OpLogStore, type Snapshot, type ChangesSinceSnapshot } from '../engine/ports.js';
import type { Sql } from './db.js';
import { UNIQUE_VIOLATION, rethrowStoreError, sqlStateOf } from './errors.js';

interface OpRow {
  revision: number;
  actor_id: string;
  user_id: string;
  seq: number;
  op_index: number;
  operation_type: 'insert' | 'delete' | 'format';
  position: number;
  content: string | null;
  length: number | null;
  attributes: Record<string, string | number | boolean | null> | null;
  created_at: Date;
}

/** A row of readChangesSinceLatestSnapshot: an op, or (no op after the snapshot) only from_rev. */
type TailRow = { readonly from_rev: number } & (OpRow | { readonly revision: null });

function isOpRow(row: TailRow): row is { readonly from_rev: number } & OpRow {
  return row.revision !== null;
}

interface SnapshotRow {
  revision: number;
  content: DocState | null;
  text: string | null;
  runs: string | null;
  attrs: PackedContent['attrs'] | null;
}

interface ProgressRow {
  document_id: string;
  actor_id: string;
  user_id: string;
  last_seq: number;
  last_rev: number;
  last_count: number;
}

/**
 * The op log in PostgreSQL: one row per op, keyed (document_id, revision), and each actor's
 * progress (`actor_progress`). Semantics and errors: OpLogStore in engine/ports.ts.
 */
export class PostgresOpLog implements OpLogStore {
  constructor(private readonly sql: Sql) {}

  async latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    return this.query(() => this.readSnapshot(docId));
  }

  private async readSnapshot(docId: string): Promise<Snapshot | undefined> {
    // The newest of either table: a relay older than the packed form writes run lists.
    const [row] = await this.sql<SnapshotRow[]>`
      (SELECT revision, NULL::jsonb AS content, text, runs, attrs FROM document_packed_snapshots WHERE document_id = ${docId} ORDER BY revision DESC LIMIT 1)
      UNION ALL
      (SELECT revision, content, NULL, NULL, NULL FROM document_snapshots WHERE document_id = ${docId} ORDER BY revision DESC LIMIT 1)
      ORDER BY revision DESC LIMIT 1`;
    if (!row) return undefined;
    if (row.text !== null && row.runs !== null) return { rev: row.revision, content: { text: row.text, runs: row.runs, attrs: row.attrs ?? [] } };
    return { rev: row.revision, content: row.content ?? [] };
  }

  async readChangesSinceLatestSnapshot(docId: string): Promise<ChangesSinceSnapshot> {
    return this.query(async () => {
      // The latest snapshot of either table (as readSnapshot), and the ops after it; a row with
      // no op (revision NULL) carries from_rev when there are none.
      const rows = await this.sql<TailRow[]>`
        WITH base AS (
          SELECT coalesce(max(revision), 0) AS rev FROM (
            SELECT revision FROM document_packed_snapshots WHERE document_id = ${docId}
            UNION ALL
            SELECT revision FROM document_snapshots WHERE document_id = ${docId}) s)
        SELECT base.rev AS from_rev, o.revision, o.actor_id, o.user_id, o.seq, o.op_index, o.operation_type, o.position, o.content, o.length, o.attributes, o.created_at
        FROM base LEFT JOIN operations o ON o.document_id = ${docId} AND o.revision > base.rev
        ORDER BY o.revision`;
      return { fromRev: rows[0]?.from_rev ?? 0, changes: groupRows(rows.filter(isOpRow)) };
    });
  }

  async readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    return this.query(() => this.readRows(docId, fromRev, toRev));
  }

  private async readRows(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    // Rows are ops; revision r is op number r, so base revision b covers rows b+1 .. .
    const rows = await this.sql<OpRow[]>`
      SELECT revision, actor_id, user_id, seq, op_index, operation_type, position, content, length, attributes, created_at
      FROM operations
      WHERE document_id = ${docId} AND revision > ${fromRev} ${toRev === undefined ? this.sql`` : this.sql`AND revision <= ${toRev}`}
      ORDER BY revision`;
    return groupRows(rows);
  }

  async append(docId: string, changes: readonly CommittedChange[]): Promise<void> {
    if (changes.length === 0) return;
    try {
      await this.appendMany([{ docId, changes }]);
    } catch (err) {
      rethrowAppendError(err, { docId, changes });
    }
  }

  /**
   * The appends of several documents (one each) in one statement, all or nothing: what a
   * cross-document group commit sends (src/store/group-commit.ts). Rejects with PostgreSQL's
   * error as is: which document was at fault is for the caller to find out (append() one by one).
   */
  async appendMany(appends: readonly DocumentAppend[]): Promise<void> {
    const docs: { id: string }[] = [];
    const rows: OpRowInput[] = [];
    const progress: ProgressRow[] = [];
    for (const { docId, changes } of appends) {
      if (changes.length === 0) continue;
      docs.push({ id: docId });
      for (const c of changes) pushOpRows(rows, docId, c);
      progress.push(...progressRows(docId, changes));
    }
    if (docs.length === 0) return;
    // One statement, so all or nothing without a transaction block: postgres.js writes its own
    // ROLLBACK on a connection that died mid-transaction, onto a null socket, from a
    // setImmediate, which kills the process (porsager/postgres#1154, #1208).
    // Rows travel as one jsonb parameter each (one JSON.stringify, and one statement text
    // whatever the number of documents or ops, so PostgreSQL prepares it once); postgres.js's
    // insert helper guesses the statement kind from the text before it, which a WITH clause confuses.
    await this.sql`
      WITH doc AS (
        INSERT INTO documents (id) SELECT id FROM jsonb_to_recordset(${this.sql.json(docs as never)}) AS r(id uuid)
        ON CONFLICT (id) DO NOTHING),
      ops AS (
        INSERT INTO operations (${this.sql.unsafe(OP_COLUMNS)})
        SELECT ${this.sql.unsafe(OP_COLUMNS)} FROM jsonb_populate_recordset(NULL::operations, ${this.sql.json(rows as never)})),
      progress AS (
        INSERT INTO actor_progress (${this.sql.unsafe(PROGRESS_COLUMNS)})
        SELECT ${this.sql.unsafe(PROGRESS_COLUMNS)} FROM jsonb_populate_recordset(NULL::actor_progress, ${this.sql.json(progress as never)})
        ON CONFLICT (document_id, actor_id) DO UPDATE
          -- An actor whose progress already reached this seq was committed by another writer:
          -- NULL violates NOT NULL and aborts the whole statement (see ACTOR_TAKEN below).
          SET last_seq = CASE WHEN actor_progress.last_seq < EXCLUDED.last_seq THEN EXCLUDED.last_seq END,
              user_id = EXCLUDED.user_id, last_rev = EXCLUDED.last_rev, last_count = EXCLUDED.last_count, updated_at = now())
      SELECT 1`;
  }

  async actor(docId: string, actor: string): Promise<ActorRecord | undefined> {
    const [row] = await this.query(
      () => this.sql<ProgressRow[]>`
        SELECT user_id, last_seq, last_rev, last_count FROM actor_progress WHERE document_id = ${docId} AND actor_id = ${actor}`,
    );
    return row ? { userId: row.user_id, lastSeq: row.last_seq, lastRev: row.last_rev, lastCount: row.last_count } : undefined;
  }

  async findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined> {
    const [row] = await this.query(
      () => this.sql<{ first: number | null; count: number }[]>`
        SELECT min(revision) AS first, count(*)::int AS count FROM operations WHERE document_id = ${docId} AND actor_id = ${actor} AND seq = ${seq}`,
    );
    return row && row.first !== null ? { rev: row.first - 1, count: row.count } : undefined;
  }

  async saveSnapshot(docId: string, snapshot: Snapshot): Promise<void> {
    const content = snapshot.content;
    if (isPacked(content)) {
      // Text columns: the document's text travels and is stored as is, with no JSON escaping.
      await this.query(
        () => this.sql`
          INSERT INTO document_packed_snapshots (document_id, revision, text, runs, attrs)
          VALUES (${docId}, ${snapshot.rev}, ${content.text}, ${content.runs}, ${this.sql.json(content.attrs as never)})
          ON CONFLICT DO NOTHING`,
      );
      return;
    }
    await this.query(
      () => this.sql`
        INSERT INTO document_snapshots (document_id, revision, content)
        VALUES (${docId}, ${snapshot.rev}, ${this.sql.json(content as never)})
        ON CONFLICT DO NOTHING`,
    );
  }

  /** Runs a statement; a value PostgreSQL will never accept becomes StoreRejected. */
  private async query<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      rethrowStoreError(err);
    }
  }
}

/** One document's changes in a multi-document append. */
export interface DocumentAppend {
  readonly docId: string;
  readonly changes: readonly CommittedChange[];
}

/**
 * An append's failure as the port names it: RevisionConflict when another writer took a
 * revision or an actor's seq first, StoreRejected for a value PostgreSQL never accepts, an
 * outage as is.
 */
export function rethrowAppendError(err: unknown, { docId, changes }: DocumentAppend): never {
  if (err instanceof RevisionConflict) throw err;
  if (sqlStateOf(err) === UNIQUE_VIOLATION) throw new RevisionConflict(`revision already committed on ${docId}`);
  if (isActorTaken(err)) throw new RevisionConflict(`an actor's change was already committed on ${docId}`, takenActors(err, changes));
  rethrowStoreError(err);
}

const NOT_NULL_VIOLATION = '23502';
const OP_COLUMNS = 'document_id, revision, actor_id, user_id, seq, op_index, operation_type, position, content, length, attributes, created_at';
const PROGRESS_COLUMNS = 'document_id, actor_id, user_id, last_seq, last_rev, last_count';

/** The NOT NULL violation the progress upsert raises on purpose when an actor's seq was taken. */
function isActorTaken(err: unknown): boolean {
  if (sqlStateOf(err) !== NOT_NULL_VIOLATION || typeof err !== 'object' || err === null) return false;
  const e = err as { table_name?: unknown; column_name?: unknown };
  return e.table_name === 'actor_progress' && e.column_name === 'last_seq';
}

/** The actor named in the violation's failing row; every actor of the append if it cannot be told. */
function takenActors(err: unknown, changes: readonly CommittedChange[]): string[] {
  const detail = typeof err === 'object' && err !== null && 'detail' in err ? String((err as { detail: unknown }).detail) : '';
  const actors = [...new Set(changes.map((c) => c.actor))];
  const named = actors.filter((actor) => detail.includes(actor.toLowerCase()));
  return named.length > 0 ? named : actors;
}

/** An operations row as the statement's jsonb parameter carries it. */
interface OpRowInput {
  readonly document_id: string;
  readonly revision: number;
  readonly actor_id: string;
  readonly user_id: string;
  readonly seq: number;
  readonly op_index: number;
  readonly operation_type: Op['type'];
  readonly position: number;
  readonly content: string | null;
  readonly length: number | null;
  readonly attributes: Readonly<Record<string, string | number | boolean | null>> | null;
  readonly created_at: string;
}

/** Appends the rows of a change's ops; what they share (the time) is built once per change. */
function pushOpRows(rows: OpRowInput[], docId: string, c: CommittedChange): void {
  const createdAt = new Date(c.committedAt).toISOString();
  c.ops.forEach((op, i) => {
    rows.push({
      document_id: docId,
      revision: c.rev + i + 1,
      actor_id: c.actor,
      user_id: c.userId,
      seq: c.seq,
      op_index: i,
      operation_type: op.type,
      position: op.pos,
      content: op.type === 'insert' ? op.text : null,
      length: op.type === 'insert' ? null : op.len,
      attributes: op.type === 'delete' ? null : (op.attrs ?? null),
      created_at: createdAt,
    });
  });
}

/** Each actor's last change in the batch (an actor has one change in flight, but be exact). */
function progressRows(docId: string, changes: readonly CommittedChange[]): ProgressRow[] {
  const last = new Map<string, CommittedChange>();
  for (const c of changes) {
    const seen = last.get(c.actor);
    if (!seen || seen.seq < c.seq) last.set(c.actor, c);
  }
  return [...last.values()].map((c) => ({
    document_id: docId,
    actor_id: c.actor,
    user_id: c.userId,
    last_seq: c.seq,
    last_rev: c.rev,
    last_count: c.ops.length,
  }));
}

function rowToOp(row: OpRow): Op {
  const attrs = row.attributes ?? undefined;
  switch (row.operation_type) {
    case 'insert':
      return attrs ? { type: 'insert', pos: row.position, text: row.content ?? '', attrs } : { type: 'insert', pos: row.position, text: row.content ?? '' };
    case 'delete':
      return { type: 'delete', pos: row.position, len: row.length ?? 0 };
    case 'format':
      return { type: 'format', pos: row.position, len: row.length ?? 0, attrs: attrs ?? {} };
  }
}

/**
 * Consecutive rows of one (actor, seq) form one change. A range that starts inside a change
 * (only a forged client revision does that) yields that change's tail, which is still a valid
 * sequence of ops at its base revision.
 */
function groupRows(rows: readonly OpRow[]): CommittedChange[] {
  const changes: CommittedChange[] = [];
  let current: { rev: number; ops: Op[]; actor: string; seq: number; userId: string; committedAt: number } | undefined;
  for (const row of rows) {
    if (!current || current.actor !== row.actor_id || current.seq !== row.seq) {
      if (current) changes.push(current);
      current = { rev: row.revision - 1, ops: [], actor: row.actor_id, seq: row.seq, userId: row.user_id, committedAt: row.created_at.getTime() };
    }
    current.ops.push(rowToOp(row));
  }
  if (current) changes.push(current);
  return changes;
}
