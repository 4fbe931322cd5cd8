import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { docText } from '../../src/ot/index.js';
import type { Change } from '../../src/ot/types.js';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import type { EngineError } from '../../src/engine/errors.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000008';

const acking: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

function submit(engine: DocumentEngine, sub: { actor: string; seq: number; baseRev: number; ops: Change; userId?: string }): Promise<{ ack: Ack; duplicate: boolean }> {
  return new Promise((resolve, reject) => {
    engine.submit({ userId: 'u1', ...sub }, { acked: (ack, duplicate) => resolve({ ack, duplicate }), rejected: (err: EngineError) => reject(err) });
  });
}

/** Issue 8.1: A commits "xy"; B deletes position 0; A, not having seen that, deletes position 0 too. */
async function emptyChangeScenario(store: MemoryOpLog, engine: DocumentEngine) {
  const [a, b] = [randomUUID(), randomUUID()];
  await submit(engine, { actor: a, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'xy' }] });
  await submit(engine, { actor: b, seq: 1, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }] });
  const empty = await submit(engine, { actor: a, seq: 2, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }] });
  expect(empty.ack).toEqual({ seq: 2, rev: 2, count: 0 });
  expect(store.head(DOC)).toBe(2);
  return { a, b, empty: empty.ack };
}

describe('an empty change keeps its actor progress durable', () => {
  it('after a reload (restart, unload), the resend gets its original ack and the next seq is accepted', async () => {
    const store = new MemoryOpLog();
    const { a, empty } = await emptyChangeScenario(store, await DocumentEngine.load(DOC, store, acking, testEngineOptions()));

    const restarted = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    const resent = await submit(restarted, { actor: a, seq: 2, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }] });
    expect(resent).toEqual({ ack: empty, duplicate: true });
    const next = await submit(restarted, { actor: a, seq: 3, baseRev: 2, ops: [{ type: 'insert', pos: 1, text: '!' }] });
    expect(next.ack).toEqual({ seq: 3, rev: 2, count: 1 });
    expect(docText(restarted.state)).toBe('y!');
  });

  it('on another replica that knew the actor from before, the next seq is accepted', async () => {
    const store = new MemoryOpLog();
    const one = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    // The other replica has the document open and learnt of A's first change (with ops).
    const two = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    const { a } = await emptyChangeScenario(store, one);
    two.requestCatchUp();
    await two.whenIdle();
    // A moves to replica two: its empty change was never broadcast there.
    const next = await submit(two, { actor: a, seq: 3, baseRev: 2, ops: [{ type: 'insert', pos: 0, text: '<' }] });
    expect(next.ack).toEqual({ seq: 3, rev: 2, count: 1 });
  });

  it('two replicas committing the same empty change: one commits, the other answers with its ack', async () => {
    const store = new MemoryOpLog();
    store.delayMs = 2;
    const one = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    const two = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    const [a, b] = [randomUUID(), randomUUID()];
    await submit(one, { actor: a, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'xy' }] });
    await submit(one, { actor: b, seq: 1, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }] });
    two.requestCatchUp();
    await two.whenIdle();
    const change = { actor: a, seq: 2, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }] as Change };
    const [x, y] = await Promise.all([submit(one, change), submit(two, change)]);
    expect(x.ack).toEqual(y.ack);
    expect([x.duplicate, y.duplicate].sort()).toEqual([false, true]);
    expect((await store.actor(DOC, a))?.lastSeq).toBe(2);
  });
});
