import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apply, docText, emptyDoc } from '../../src/ot/index.js';
import type { Change, DocState } from '../../src/ot/types.js';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import { testEngineOptions } from '../support/engine-options.js';
import type { EngineError } from '../../src/engine/errors.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000001';

const options = testEngineOptions;

function listener(): CommitListener & { log: Array<{ change: CommittedChange; local: boolean }> } {
  const log: Array<{ change: CommittedChange; local: boolean }> = [];
  return {
    log,
    applied(_docId, change, origins, local) {
      log.push({ change, local });
      for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
    },
  };
}

function submitAndWait(engine: DocumentEngine, sub: { actor: string; seq: number; baseRev: number; ops: Change; userId?: string }): Promise<{ change: Ack; duplicate: boolean }> {
  return new Promise((resolve, reject) => {
    engine.submit({ userId: 'u1', ...sub }, {
      acked: (change, duplicate) => resolve({ change, duplicate }),
      rejected: (err: EngineError) => reject(err),
    });
  });
}

function replay(changes: readonly CommittedChange[]): DocState {
  return changes.reduce<DocState>((doc, c) => apply(doc, c.ops), emptyDoc);
}

describe('document engine', () => {
  it('commits, acks after the append, and transforms a change made on an older revision', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, listener(), options());
    const a = randomUUID();
    const b = randomUUID();
    await submitAndWait(engine, { actor: a, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'hello' }] });
    // Revisions count ops: one insert is one revision.
    expect(store.head(DOC)).toBe(1);
    // b made its change on revision 0 too: it must land after "hello".
    const { change } = await submitAndWait(engine, { actor: b, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: '>> ' }] });
    expect(change).toEqual({ seq: 1, rev: 1, count: 1 });
    expect(store.changes.get(DOC)?.[1]?.ops).toEqual([{ type: 'insert', pos: 5, text: '>> ' }]);
    expect(docText(engine.state)).toBe('hello>> ');
    expect(docText(replay(store.changes.get(DOC) ?? []))).toBe(docText(engine.state));
  });

  it('answers a resend of a committed change with its original ack and applies nothing', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, listener(), options());
    const actor = randomUUID();
    const first = await submitAndWait(engine, { actor, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    const again = await submitAndWait(engine, { actor, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    expect(again).toMatchObject({ duplicate: true, change: { rev: first.change.rev } });
    expect(docText(engine.state)).toBe('x');

    // A fresh engine (a restarted relay) knows the actor from the log.
    const reloaded = await DocumentEngine.load(DOC, store, listener(), options());
    const third = await submitAndWait(reloaded, { actor, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    expect(third.duplicate).toBe(true);
    expect(docText(reloaded.state)).toBe('x');
  });

  it.each([
    ['a revision from the future', { seq: 1, baseRev: 7 }, /clock claims revision 7/],
    ['a skipped sequence number', { seq: 3, baseRev: 0 }, /expected change 1/],
  ])('rejects %s', async (_name, clock, message) => {
    const engine = await DocumentEngine.load(DOC, new MemoryOpLog(), listener(), options());
    await expect(submitAndWait(engine, { actor: randomUUID(), ...clock, ops: [{ type: 'insert', pos: 0, text: 'x' }] })).rejects.toMatchObject({ code: 'bad_clock', message: expect.stringMatching(message) });
  });

  it("rejects another user's actor id", async () => {
    const engine = await DocumentEngine.load(DOC, new MemoryOpLog(), listener(), options());
    const actor = randomUUID();
    await submitAndWait(engine, { actor, seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'x' }], userId: 'alice' });
    await expect(submitAndWait(engine, { actor, seq: 2, baseRev: 1, ops: [{ type: 'insert', pos: 0, text: 'y' }], userId: 'mallory' })).rejects.toMatchObject({ code: 'bad_clock' });
    expect(docText(engine.state)).toBe('x');
  });

  it('rejects out-of-range ops at their base revision even when a later revision would fit them', async () => {
    const engine = await DocumentEngine.load(DOC, new MemoryOpLog(), listener(), options());
    await submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'abc' }] });
    await submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: 1, ops: [{ type: 'insert', pos: 0, text: '0123456789' }] });
    await expect(submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: 1, ops: [{ type: 'delete', pos: 2, len: 5 }] })).rejects.toMatchObject({ code: 'invalid_op' });
    expect(docText(engine.state)).toBe('0123456789abc');
  });

  it('groups changes that arrive during a commit into one append', async () => {
    const store = new MemoryOpLog();
    store.delayMs = 20;
    const engine = await DocumentEngine.load(DOC, store, listener(), options());
    const before = store.appendCalls;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'a' }] })),
    );
    expect(results).toHaveLength(20);
    expect(docText(engine.state)).toBe('a'.repeat(20));
    expect(store.appendCalls - before).toBeLessThanOrEqual(3);
  });

  it('keeps changes pending while the database is down and commits them when it returns', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, listener(), options());
    store.failing = true;
    let acked = false;
    const pending = submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'kept' }] }).then((r) => {
      acked = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(acked).toBe(false);
    store.failing = false;
    await pending;
    expect(docText(replay(store.changes.get(DOC) ?? []))).toBe('kept');
  });

  it('two engines on one log (two replicas) never reuse a revision and converge after catching up', async () => {
    const store = new MemoryOpLog();
    store.delayMs = 1;
    const one = await DocumentEngine.load(DOC, store, listener(), options());
    const two = await DocumentEngine.load(DOC, store, listener(), options());
    const submissions: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      const engine = i % 2 === 0 ? one : two;
      submissions.push(submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: String(i % 10) }] }));
    }
    await Promise.all(submissions);
    one.requestCatchUp();
    two.requestCatchUp();
    await Promise.all([one.whenIdle(), two.whenIdle()]);
    const log = store.changes.get(DOC) ?? [];
    const revisions = log.map((c) => c.rev);
    expect(new Set(revisions).size).toBe(revisions.length);
    expect(log).toHaveLength(30);
    expect(docText(one.state)).toBe(docText(two.state));
    expect(docText(one.state)).toBe(docText(replay(log)));
    expect(docText(one.state)).toHaveLength(30);
  });

  it('bounds the window by count as well as by age', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, listener(), options({ historyMaxChanges: 8 }));
    const actor = randomUUID();
    for (let seq = 1; seq <= 30; seq++) {
      await submitAndWait(engine, { actor, seq, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    }
    expect(engine.committedSince(0)).toBeUndefined();
    expect(engine.committedSince(25)?.length).toBe(5);
    // Older ones still come from the log.
    expect((await engine.changesSince(0))?.length).toBe(30);
  });

  it('serves changes older than the in-memory window from the log', async () => {
    const store = new MemoryOpLog();
    let now = 1_000_000;
    const engine = await DocumentEngine.load(DOC, store, listener(), options({ historyTtlMs: 1000, now: () => now }));
    for (let i = 0; i < 5; i++) {
      await submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
      now += 5000;
    }
    // The next commit trims the window; a client still at revision 1 is served from the log.
    await submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'y' }] });
    expect(engine.committedSince(1)).toBeUndefined();
    const since = await engine.changesSince(1);
    expect(since?.map((c) => c.rev)).toEqual([1, 2, 3, 4, 5]);
    const late = await submitAndWait(engine, { actor: randomUUID(), seq: 1, baseRev: 1, ops: [{ type: 'insert', pos: 1, text: '!' }] });
    expect(late.change.rev).toBe(6);
    expect(docText(engine.state)).toBe(docText(replay(store.changes.get(DOC) ?? [])));
  });
});
