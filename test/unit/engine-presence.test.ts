import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocumentEngine, PRESENCE_MAX_LAG_OPS, type CommitListener } from '../../src/engine/document.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const listener: CommitListener = { applied: () => undefined };

/** Issue 9.3: presence at an old revision was moved through the whole in-memory history on every flush. */
describe('presence at an old revision', () => {
  it('is moved to the head within the lag bound, and cleared past it (never walks the whole history)', async () => {
    const engine = await DocumentEngine.load(randomUUID(), new MemoryOpLog(), listener, testEngineOptions());
    const actor = randomUUID();
    const total = PRESENCE_MAX_LAG_OPS + 500;
    // Committed elsewhere, one insert at the start each: every one moves a selection by one.
    for (let i = 0; i < total; i++) {
      const change: CommittedChange = { rev: i, ops: [{ type: 'insert', pos: 0, text: 'x' }], actor, seq: i + 1, userId: 'u', committedAt: Date.now() };
      engine.receiveRemote(change);
    }
    await engine.whenIdle();
    expect(engine.headRev).toBe(total);
    expect(engine.committedSince(0)?.length).toBe(total);
    const recent = total - 10;
    expect(engine.selectionAtHead({ anchor: 3, head: 5 }, recent)).toEqual({ anchor: 13, head: 15 });
    expect(engine.selectionAtHead({ anchor: 0, head: 0 }, total - PRESENCE_MAX_LAG_OPS)).toEqual({ anchor: PRESENCE_MAX_LAG_OPS, head: PRESENCE_MAX_LAG_OPS });
    expect(engine.selectionAtHead({ anchor: 3, head: 5 }, total - PRESENCE_MAX_LAG_OPS - 1)).toBeNull();
    expect(engine.selectionAtHead({ anchor: 3, head: 5 }, 0)).toBeNull();
  });
});
