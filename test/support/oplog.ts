import postgres from 'postgres';
import { apply, emptyDoc } from '../../src/ot/index.js';
import type { DocState, Op } from '../../src/ot/types.js';

interface Row {
  revision: number;
  actor_id: string;
  seq: number;
  operation_type: 'insert' | 'delete' | 'format';
  position: number;
  content: string | null;
  length: number | null;
  attributes: Record<string, string | number | boolean | null> | null;
}

export interface LogSummary {
  readonly content: DocState;
  readonly revisions: number[];
  /** `${actor}/${seq}` of every committed change (one entry per op row). */
  readonly changeKeys: string[];
}

/** Rebuilds a document from the rows of the op log in PostgreSQL, independently of the relay. */
export async function readOpLog(databaseUrl: string, docId: string): Promise<LogSummary> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql<Row[]>`
      SELECT revision::int, actor_id::text, seq::int, operation_type, position, content, length, attributes
      FROM operations WHERE document_id = ${docId} ORDER BY revision`;
    let content: DocState = emptyDoc;
    for (const r of rows) {
      const attrs = r.attributes ?? undefined;
      const op: Op =
        r.operation_type === 'insert'
          ? attrs
            ? { type: 'insert', pos: r.position, text: r.content ?? '', attrs }
            : { type: 'insert', pos: r.position, text: r.content ?? '' }
          : r.operation_type === 'delete'
            ? { type: 'delete', pos: r.position, len: r.length ?? 0 }
            : { type: 'format', pos: r.position, len: r.length ?? 0, attrs: attrs ?? {} };
      content = apply(content, [op]);
    }
    return { content, revisions: rows.map((r) => r.revision), changeKeys: rows.map((r) => `${r.actor_id}/${r.seq}`) };
  } finally {
    await sql.end();
  }
}
