/**
 * Issue 9.4 and 12 (engine side): a rejoin from an old revision is answered with the content
 * when that is smaller, decided without reading a long log; snapshots are written packed, in
 * slices, and a cold load reads them back (or the log alone, when a snapshot is damaged).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import type { EngineError } from '../../src/engine/errors.js';
import { docText } from '../../src/ot/index.js';
import { isPacked } from '../../src/ot/packed.js';
import type { Change } from '../../src/ot/types.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000094';

const acking: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

function submit(engine: DocumentEngine, actor: string, seq: number, ops: Change): Promise<Ack> {
  return new Promise((resolve, reject) => {
    engine.submit({ userId: 'u1', actor, seq, baseRev: engine.headRev, ops }, { acked: resolve, rejected: (err: EngineError) => reject(err) });
  });
}

async function typed(store: MemoryOpLog, chars: number, options = testEngineOptions()): Promise<DocumentEngine> {
  const engine = await DocumentEngine.load(DOC, store, acking, options);
  const actor = randomUUID();
  for (let seq = 1; seq <= chars; seq++) await submit(engine, actor, seq, [{ type: 'insert', pos: seq - 1, text: 'x' }]);
  return engine;
}

describe('rejoin: content or changes', () => {
  it('prefers the content when the missed changes outweigh it, without reading the log for old ones', async () => {
    const store = new MemoryOpLog();
    await typed(store, 300);
    // A fresh load: nothing in memory, the whole log behind the snapshot-less head.
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    let reads = 0;
    const read = store.readChanges.bind(store);
    store.readChanges = (...args) => {
      reads++;
      return read(...args);
    };
    expect(engine.prefersContent(0)).toBe(true);
    expect(engine.prefersContent(299)).toBe(false);
    expect(engine.prefersContent(300)).toBe(false);
    expect(engine.prefersContent(301)).toBe(false);
    expect(reads).toBe(0);
  });

  it('measures changes in memory: a few large ones can outweigh a short document', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    const actor = randomUUID();
    await submit(engine, actor, 1, [{ type: 'insert', pos: 0, text: 'y'.repeat(5000) }]);
    await submit(engine, actor, 2, [{ type: 'delete', pos: 0, len: 4000 }]);
    expect(engine.prefersContent(0)).toBe(true);
    expect(engine.prefersContent(1)).toBe(false);
  });
});

describe('snapshots', () => {
  it('are written packed, in slices, and a cold load reads them back with the tail', async () => {
    const store = new MemoryOpLog();
    const engine = await typed(store, 5000, testEngineOptions({ snapshotIntervalOps: 4000 }));
    await engine.whenIdle();
    for (let i = 0; i < 100 && !store.snapshots.get(DOC)?.length; i++) await new Promise((r) => setTimeout(r, 5));
    const saved = store.snapshots.get(DOC)?.at(-1);
    expect(saved?.rev).toBe(4000);
    expect(saved && isPacked(saved.content)).toBe(true);
    const cold = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect(cold.headRev).toBe(5000);
    expect(docText(cold.state)).toBe('x'.repeat(5000));
  });

  it('a damaged snapshot is passed over: the log alone rebuilds the document', async () => {
    const store = new MemoryOpLog();
    await typed(store, 20);
    store.snapshots.set(DOC, [{ rev: 10, content: { text: 'xx', runs: '5', attrs: [] } }]);
    const cold = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect(cold.headRev).toBe(20);
    expect(docText(cold.state)).toBe('x'.repeat(20));
  });
});
