import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocumentEngine, type CommitListener } from '../../src/engine/document.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const listener: CommitListener = { applied: () => undefined };
const user = { id: 'u', name: 'U', color: '#000' };
const insertAtStart = (rev: number, seq: number): CommittedChange => ({ rev, ops: [{ type: 'insert', pos: 0, text: 'x' }], actor: 'a', seq, userId: 'u', committedAt: Date.now() });

describe('the presence table', () => {
  it('moves entries at the head through each committed change', async () => {
    const engine = await DocumentEngine.load(randomUUID(), new MemoryOpLog(), listener, testEngineOptions());
    engine.presence.set('mine', user, { anchor: 0, head: 0 }, false, 'here', engine.headRev);
    engine.receiveRemote(insertAtStart(0, 1));
    engine.receiveRemote(insertAtStart(1, 2));
    await engine.whenIdle();
    expect(engine.presence.get('mine')?.selection).toEqual({ anchor: 2, head: 2 });
  });

  it("does not move another replica's entry through changes its replica had already applied", async () => {
    const engine = await DocumentEngine.load(randomUUID(), new MemoryOpLog(), listener, testEngineOptions());
    // Sent by a replica at revision 2 (both inserts already in it) before they reach us.
    engine.presence.set('theirs', user, { anchor: 5, head: 5 }, false, 'there', 2);
    engine.receiveRemote(insertAtStart(0, 1));
    engine.receiveRemote(insertAtStart(1, 2));
    await engine.whenIdle();
    expect(engine.presence.get('theirs')?.selection).toEqual({ anchor: 5, head: 5 });
    // A change past its revision moves it as usual.
    engine.receiveRemote(insertAtStart(2, 3));
    await engine.whenIdle();
    expect(engine.presence.get('theirs')?.selection).toEqual({ anchor: 6, head: 6 });
  });
});
