import type { DocState, Op } from '../ot/types.js';
import { RevisionConflict, type ActorRecord, type ChangePosition, type CommittedChange, type OpLogStore, type Snapshot } from '../engine/ports.js';
import type { Sql } from './db.js';

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

const UNIQUE_VIOLATION = '23505';

/** The op log in PostgreSQL: one row per op, keyed (document_id, revision). */
export class PostgresOpLog implements OpLogStore {
  constructor(private readonly sql: Sql) {}

  async ensureDocument(docId: string): Promise<void> {
    await this.sql`INSERT INTO documents (id) VALUES (${docId}) ON CONFLICT (id) DO NOTHING`;
  }

  async latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    const [row] = await this.sql<{ revision: number; content: DocState }[]>`
      SELECT revision, content FROM document_snapshots WHERE document_id = ${docId} ORDER BY revision DESC LIMIT 1`;
    return row ? { rev: row.revision, content: row.content } : undefined;
  }

  async readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    // Rows are ops; revision r is op number r, so base revision b covers rows b+1 .. .
    const rows = await this.sql<OpRow[]>`
      SELECT revision, actor_id, user_id, seq, op_index, operation_type, position, content, length, attributes, created_at
      FROM operations
      WHERE document_id = ${docId} AND revision > ${fromRev} ${toRev === undefined ? this.sql`` : this.sql`AND revision <= ${toRev}`}
      ORDER BY revision`;
    return groupRows(rows);
  }

  async append(docId: string, changes: readonly CommittedChange[]): Promise<void> {
    const rows = changes.flatMap((c) =>
      c.ops.map((op, i) => ({
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
      })),
    );
    try {
      await this.sql`INSERT INTO operations ${this.sql(rows as never)}`;
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw new RevisionConflict(`revision already committed on ${docId}`);
      throw err;
    }
  }

  async actor(docId: string, actor: string): Promise<ActorRecord | undefined> {
    const [row] = await this.sql<{ user_id: string; seq: number; first: number; count: number }[]>`
      SELECT user_id, seq, min(revision) AS first, count(*)::int AS count FROM operations
      WHERE document_id = ${docId} AND actor_id = ${actor}
        AND seq = (SELECT max(seq) FROM operations WHERE document_id = ${docId} AND actor_id = ${actor})
      GROUP BY user_id, seq`;
    return row ? { userId: row.user_id, lastSeq: row.seq, lastRev: row.first - 1, lastCount: row.count } : undefined;
  }

  async findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined> {
    const [row] = await this.sql<{ first: number | null; count: number }[]>`
      SELECT min(revision) AS first, count(*)::int AS count FROM operations WHERE document_id = ${docId} AND actor_id = ${actor} AND seq = ${seq}`;
    return row && row.first !== null ? { rev: row.first - 1, count: row.count } : undefined;
  }

  async saveSnapshot(docId: string, snapshot: Snapshot): Promise<void> {
    await this.sql`
      INSERT INTO document_snapshots (document_id, revision, content)
      VALUES (${docId}, ${snapshot.rev}, ${this.sql.json(snapshot.content as never)})
      ON CONFLICT DO NOTHING`;
  }
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
