import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { docText } from '../../src/ot/index.js';
import type { Change } from '../../src/ot/types.js';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import type { EngineError } from '../../src/engine/errors.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000092';

const acking: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

function submit(engine: DocumentEngine, sub: { actor?: string; seq?: number; baseRev: number; ops: Change }): Promise<Ack> {
  return new Promise((resolve, reject) => {
    engine.submit({ userId: 'u1', actor: randomUUID(), seq: 1, ...sub }, { acked: resolve, rejected: (err: EngineError) => reject(err) });
  });
}

/** Issue 9.2: documented, configurable caps on document size and bytes per change; nothing applied past them. */
describe('document and change size caps', () => {
  it('refuses a change that would grow the document past MAX_DOCUMENT_CHARS, applies nothing of it, and still allows deletes', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions({ maxDocumentChars: 10 }));
    await submit(engine, { baseRev: 0, ops: [{ type: 'insert', pos: 0, text: '12345678' }] });
    await expect(submit(engine, { baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }, { type: 'insert', pos: 0, text: 'abcd' }] })).rejects.toMatchObject({ code: 'document_too_large' });
    expect(docText(engine.state)).toBe('12345678');
    expect(store.head(DOC)).toBe(1);
    await submit(engine, { baseRev: 1, ops: [{ type: 'insert', pos: 8, text: '90' }] });
    await expect(submit(engine, { baseRev: 2, ops: [{ type: 'insert', pos: 0, text: 'x' }] })).rejects.toMatchObject({ code: 'document_too_large' });
    await submit(engine, { baseRev: 2, ops: [{ type: 'delete', pos: 0, len: 5 }] });
    expect(docText(engine.state)).toBe('67890');
  });

  it('refuses a change past MAX_CHANGE_BYTES (UTF-8 bytes of its ops) before it is queued', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions({ maxChangeBytes: 100 }));
    const envelope = JSON.stringify([{ type: 'insert', pos: 0, text: '' }]).length;
    // 'é' is 2 bytes: fits by characters, not by bytes.
    await expect(submit(engine, { baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'é'.repeat(100 - envelope) }] })).rejects.toMatchObject({ code: 'change_too_large' });
    expect(store.appendCalls).toBe(0);
    await submit(engine, { baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'e'.repeat(100 - envelope) }] });
    expect(store.head(DOC)).toBe(1);
  });

  it('backs off after a failed snapshot instead of retrying on every commit', async () => {
    const store = new MemoryOpLog();
    store.refuseSnapshots = true;
    let now = 1_000_000;
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions({ snapshotIntervalOps: 2, now: () => now }));
    let attempts = 0;
    const save = store.saveSnapshot.bind(store);
    store.saveSnapshot = async (doc, snapshot) => {
      attempts++;
      return save(doc, snapshot);
    };
    const actor = randomUUID();
    for (let seq = 1; seq <= 20; seq++) {
      await submit(engine, { actor, seq, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(attempts).toBe(1);
    now += 31_000;
    store.refuseSnapshots = false;
    await submit(engine, { actor, seq: 21, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    await new Promise((r) => setTimeout(r, 5));
    expect(attempts).toBe(2);
    expect((await store.latestSnapshot(DOC))?.rev).toBe(21);
  });
});
