import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CommittedChange } from '../../src/engine/ports.js';
import { GroupCommitOpLog, type MultiDocumentOpLog } from '../../src/store/group-commit.js';
import type { DocumentAppend } from '../../src/store/oplog.js';
import { MemoryOpLog } from '../support/memory-store.js';

const insert = (rev: number, seq: number): CommittedChange => ({ rev, ops: [{ type: 'insert', pos: 0, text: 'x' }], actor: 'a', seq, userId: 'u', committedAt: 0 });

/** The in-memory op log with a statement that takes a while, watching what runs at once. */
class SlowMultiLog extends MemoryOpLog implements MultiDocumentOpLog {
  statements: string[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly docsInFlight = new Set<string>();
  docTwiceInFlight = false;

  async appendMany(appends: readonly DocumentAppend[]): Promise<void> {
    const docs = appends.map((a) => a.docId);
    this.statements.push(docs);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    for (const d of docs) {
      if (this.docsInFlight.has(d)) this.docTwiceInFlight = true;
      this.docsInFlight.add(d);
    }
    await new Promise((r) => setTimeout(r, 5));
    for (const a of appends) await this.append(a.docId, a.changes);
    for (const d of docs) this.docsInFlight.delete(d);
    this.inFlight--;
  }
}

describe('group commit scheduling', () => {
  it('groups what arrives together, keeps at most maxInFlight statements going, and a document in one at a time', async () => {
    const log = new SlowMultiLog();
    const store = new GroupCommitOpLog(log, { maxDocuments: 64, maxInFlight: 2 });
    const docs = Array.from({ length: 6 }, () => randomUUID());
    // Each document appends three batches one after the other, as an engine does; a second
    // burst of documents arrives while the first group is in flight.
    const engine = async (doc: string) => {
      for (let seq = 1; seq <= 3; seq++) await store.append(doc, [insert(seq - 1, seq)]);
    };
    const first = docs.slice(0, 3).map(engine);
    await new Promise((r) => setTimeout(r, 1));
    const second = docs.slice(3).map(engine);
    await Promise.all([...first, ...second]);
    expect(log.docTwiceInFlight).toBe(false);
    expect(log.maxInFlight).toBe(2);
    expect(log.statements[0]).toEqual(docs.slice(0, 3));
    expect(log.statements.length).toBeLessThan(18);
    for (const doc of docs) expect((await log.readChanges(doc, 0)).map((c) => c.seq)).toEqual([1, 2, 3]);
  });

  it('two appends of one document queued together go in two statements, in order', async () => {
    const log = new SlowMultiLog();
    const store = new GroupCommitOpLog(log, { maxDocuments: 64, maxInFlight: 4 });
    const doc = randomUUID();
    await Promise.all([store.append(doc, [insert(0, 1)]), store.append(doc, [insert(1, 2)])]);
    expect(log.docTwiceInFlight).toBe(false);
    expect(log.statements).toEqual([[doc], [doc]]);
  });
});
