/**
 * A long, richly formatted document written straight into the op log, as if typed: for the
 * cold-join and big-document benchmarks (bench/bigdoc.ts).
 */
import type { CommittedChange } from '../src/engine/ports.js';
import type { Op } from '../src/ot/types.js';
import { Doc, apply } from '../src/ot/index.js';
import { pack } from '../src/ot/packed.js';
import { PostgresOpLog } from '../src/store/oplog.js';
import type { Sql } from '../src/store/db.js';

export interface BigDocShape {
  /** Ops in the log (each one insert of chars/ops characters at the end). */
  readonly ops: number;
  readonly chars: number;
  /** Ops per change. */
  readonly opsPerChange: number;
  /** Ops after the latest snapshot (the tail a cold join replays). */
  readonly tailOps: number;
}

export const BIG: BigDocShape = { ops: 100_000, chars: 1_000_000, opsPerChange: 10, tailOps: 250 };

/**
 * Appends inserts of equal size at the end of the document, alternating bold and plain, so
 * every op is a run of its own: `ops` ops, `chars` characters, `ops` runs. One snapshot sits
 * `tailOps` ops before the head. Returns the head revision.
 */
export async function seedBigDocument(sql: Sql, docId: string, shape: BigDocShape, actor: string, userId: string, packed = true): Promise<number> {
  const store = new PostgresOpLog(sql);
  const per = Math.floor(shape.chars / shape.ops);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let length = 0;
  let rev = 0;
  let seq = 0;
  let doc = Doc.empty;
  let pending: CommittedChange[] = [];
  for (let i = 0; i < shape.ops; i += shape.opsPerChange) {
    const ops: Op[] = [];
    for (let k = i; k < Math.min(shape.ops, i + shape.opsPerChange); k++) {
      const text = (letters[k % 26] as string).repeat(per);
      ops.push(k % 2 === 0 ? { type: 'insert', pos: length, text } : { type: 'insert', pos: length, text, attrs: { bold: true } });
      length += per;
    }
    const change: CommittedChange = { rev, ops, actor, seq: ++seq, userId, committedAt: Date.now() };
    pending.push(change);
    rev += ops.length;
    if (rev <= shape.ops - shape.tailOps) doc = apply(doc, ops);
    if (rev === shape.ops - shape.tailOps) await store.saveSnapshot(docId, { rev, content: packed ? pack(doc) : doc.runs() });
    if (pending.length >= 500) {
      await store.append(docId, pending);
      pending = [];
    }
  }
  if (pending.length > 0) await store.append(docId, pending);
  return rev;
}
