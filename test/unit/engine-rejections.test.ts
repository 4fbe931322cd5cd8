import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OtError, docText, validateChangeShape } from '../../src/ot/index.js';
import type { Change } from '../../src/ot/types.js';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import type { EngineError } from '../../src/engine/errors.js';
import type { StoreRejected } from '../../src/engine/ports.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000009';

const acking: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

function submit(engine: DocumentEngine, sub: { actor: string; seq: number; baseRev: number; ops: Change; userId?: string }): Promise<Ack> {
  return new Promise((resolve, reject) => {
    engine.submit({ userId: 'u1', ...sub }, { acked: (ack) => resolve(ack), rejected: (err: EngineError) => reject(err) });
  });
}

describe('a NUL character (issue 9.1)', () => {
  it.each([
    ['insert text', [{ type: 'insert', pos: 0, text: 'a\u0000' }]],
    ['an attribute value', [{ type: 'insert', pos: 0, text: 'a', attrs: { font: '\u0000' } }]],
    ['an attribute key', [{ type: 'format', pos: 0, len: 1, attrs: { 'b\u0000': true } }]],
  ])('in %s is refused at validation as invalid_op', (_what, ops) => {
    expect(() => validateChangeShape(ops, 10, 1)).toThrow(OtError);
    expect(() => validateChangeShape(ops, 10, 1)).toThrow(/U\+0000/);
  });

  it('is refused to its sender; the document carries on', async () => {
    const engine = await DocumentEngine.load(DOC, new MemoryOpLog(), acking, testEngineOptions());
    await expect(submit(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'x\u0000' }] })).rejects.toMatchObject({ code: 'invalid_op' });
    await submit(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'ok' }] });
    expect(docText(engine.state)).toBe('ok');
  });
});

describe('a change the op log refuses for good', () => {
  it('is refused alone; the rest of its batch commits, and the document is not frozen', async () => {
    const store = new MemoryOpLog();
    store.delayMs = 15;
    const refused: StoreRejected[] = [];
    let storeErrors = 0;
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions({ onChangeRejectedByStore: (_d, err) => refused.push(err), onStoreError: () => storeErrors++ }));
    // Start a commit so the next three are grouped into one batch.
    const first = submit(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'a' }] });
    await new Promise((r) => setTimeout(r, 2));
    // A user id PostgreSQL cannot hold (a token's `sub` with NUL) passes validation; the log refuses it.
    const results = await Promise.allSettled([
      submit(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'b' }] }),
      submit(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'c' }], userId: 'evil\u0000' }),
      submit(engine, { actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'd' }] }),
    ]);
    await first;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[1]).toMatchObject({ reason: { code: 'invalid_op' } });
    expect(refused).toHaveLength(1);
    expect(storeErrors).toBe(0);
    expect(docText(engine.state)).toBe('abd');
    expect(store.head(DOC)).toBe(3);
    await submit(engine, { actor: randomUUID(), seq: 1, baseRev: 3, ops: [{ type: 'insert', pos: 3, text: '!' }] });
    expect(docText(engine.state)).toBe('abd!');
    await engine.whenIdle();
    expect(engine.busy).toBe(false);
  });
});
