import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import { testEngineOptions } from '../support/engine-options.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000002';

const options = testEngineOptions();

/** Two engines on one log are two replicas; their listeners forward commits like the bus. */
function replicaPair(store: MemoryOpLog): Promise<[DocumentEngine, DocumentEngine]> {
  const engines: DocumentEngine[] = [];
  const listener = (self: number): CommitListener => ({
    applied(_doc, change: CommittedChange, origins, local) {
      for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
      if (local) engines[1 - self]?.receiveRemote(change);
    },
  });
  return Promise.all([DocumentEngine.load(DOC, store, listener(0), options), DocumentEngine.load(DOC, store, listener(1), options)]).then((pair) => {
    engines.push(...pair);
    return pair;
  });
}

const submit = (engine: DocumentEngine, actor: string, seq: number, text: string): Promise<Ack> =>
  new Promise((resolve, reject) =>
    engine.submit({ actor, seq, baseRev: 0, ops: [{ type: 'insert', pos: 0, text }], userId: 'u' }, { acked: (ack) => resolve(ack), rejected: reject }),
  );

describe('one change resent to another replica while the first still holds it', () => {
  it('is committed once, and both submissions are acked with its position', async () => {
    for (let round = 0; round < 20; round++) {
      const store = new MemoryOpLog();
      const [a, b] = await replicaPair(store);
      const actor = randomUUID();
      // A slow (or briefly unavailable) database: replica A still holds the change when the
      // client, having lost A, resends it to B.
      store.delayMs = round % 2 === 0 ? 10 : 0;
      store.failing = round % 2 === 1;
      const first = submit(a, actor, 1, 'once');
      const other = submit(b, randomUUID(), 1, 'x');
      const resend = submit(b, actor, 1, 'once');
      await new Promise((r) => setTimeout(r, round % 5));
      store.failing = false;
      const [ackA, ackB] = await Promise.all([first, resend, other]);
      expect(ackB).toEqual(ackA);
      const rows = store.changes.get(DOC) ?? [];
      expect(rows.filter((c) => c.actor === actor)).toHaveLength(1);
    }
  });
});
