import type { DocState, Op } from '../ot/types.js';
import { RevisionConflict, type ActorRecord, type ChangePosition, type CommittedChange, type OpLogStore, type Snapshot } from '../engine/ports.js';
import type postgres from 'postgres';
import type { Sql } from './db.js';

/** What statements run on: a transaction of postgres.js, or a connection reserved for one. */
export type Statements = postgres.ISql;
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

export interface ProgressRow {
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
    const [row] = await this.sql<{ revision: number; content: DocState }[]>`
      SELECT revision, content FROM document_snapshots WHERE document_id = ${docId} ORDER BY revision DESC LIMIT 1`;
    return row ? { rev: row.revision, content: row.content } : undefined;
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
      await this.sql.begin((tx) => writeAppend(tx, docId, changes));
    } catch (err) {
      rethrowAppendError(err, docId);
    }
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
    await this.query(
      () => this.sql`
        INSERT INTO document_snapshots (document_id, revision, content)
        VALUES (${docId}, ${snapshot.rev}, ${this.sql.json(snapshot.content as never)})
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

/**
 * The statements of one document's append, inside a transaction the caller opened and
 * commits (PostgresOpLog.append, or a cross-document group commit). Throws RevisionConflict
 * when an actor's progress was already past one of these seqs; a failed statement rejects
 * with PostgreSQL's error (see rethrowAppendError).
 */
export async function writeAppend(tx: Statements, docId: string, changes: readonly CommittedChange[]): Promise<void> {
  const rows = changes.flatMap((c) => opRows(docId, c));
  const progress = progressRows(docId, changes);
  // Pipelined on the transaction's connection: one round trip for the three statements.
  // execute() sends each now, in this order (a caller may have statements of its own around).
  const [, , advanced] = await Promise.all([
    tx`INSERT INTO documents (id) VALUES (${docId}) ON CONFLICT (id) DO NOTHING`.execute(),
    rows.length > 0 ? tx`INSERT INTO operations ${tx(rows as never)}`.execute() : Promise.resolve([]),
    tx<{ actor_id: string }[]>`
      INSERT INTO actor_progress ${tx(progress as never)}
      ON CONFLICT (document_id, actor_id) DO UPDATE
        SET user_id = EXCLUDED.user_id, last_seq = EXCLUDED.last_seq, last_rev = EXCLUDED.last_rev,
            last_count = EXCLUDED.last_count, updated_at = now()
        WHERE actor_progress.last_seq < EXCLUDED.last_seq
      RETURNING actor_id::text`.execute(),
  ]);
  if (advanced.length < progress.length) {
    // Another writer already committed one of these seqs (a change with no ops takes no
    // revision, so only this tells): roll back, like a taken revision.
    const moved = new Set(advanced.map((r) => r.actor_id.toLowerCase()));
    const behind = progress.filter((p) => !moved.has(p.actor_id.toLowerCase())).map((p) => p.actor_id);
    throw new RevisionConflict(`an actor's change was already committed on ${docId}`, behind);
  }
}

/** An append's failure as the port names it: RevisionConflict, StoreRejected, or an outage as is. */
export function rethrowAppendError(err: unknown, docId: string): never {
  if (err instanceof RevisionConflict) throw err;
  if (sqlStateOf(err) === UNIQUE_VIOLATION) throw new RevisionConflict(`revision already committed on ${docId}`);
  rethrowStoreError(err);
}

export function opRows(docId: string, c: CommittedChange) {
  return c.ops.map((op, i) => ({
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
    vector_clock: { actor: c.actor, seq: c.seq, rev: c.rev },
    created_at: new Date(c.committedAt),
  }));
}

/** Each actor's last change in the batch (an actor has one change in flight, but be exact). */
export function progressRows(docId: string, changes: readonly CommittedChange[]): ProgressRow[] {
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
