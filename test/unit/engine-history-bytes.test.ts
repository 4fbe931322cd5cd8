import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocumentEngine, type CommitListener } from '../../src/engine/document.js';
import { changeMemoryBytes } from '../../src/ot/index.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000012';

const listener: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

describe('document engine history window', () => {
  it('is bounded in bytes as well as count and age; older changes come from the log', async () => {
    const paste = 'x'.repeat(10_000);
    const perChange = changeMemoryBytes([{ type: 'insert', pos: 0, text: paste }]);
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, listener, testEngineOptions({ historyMaxBytes: 10 * perChange }));
    const actor = randomUUID();
    for (let seq = 1; seq <= 40; seq++) {
      await new Promise<void>((resolve, reject) => {
        engine.submit({ actor, seq, baseRev: engine.headRev, userId: 'u1', ops: [{ type: 'insert', pos: 0, text: paste }] }, { acked: () => resolve(), rejected: reject });
      });
    }
    // Far under the count bound (20,000), yet at most 10 pastes stay in memory (trimmed to
    // three quarters of the bound when it is passed).
    const start = Array.from({ length: 41 }, (_, r) => r).find((r) => engine.committedSince(r) !== undefined) ?? 0;
    expect(40 - start).toBeGreaterThanOrEqual(7);
    expect(40 - start).toBeLessThanOrEqual(10);
    expect((await engine.changesSince(0))?.length).toBe(40);
  });
});
