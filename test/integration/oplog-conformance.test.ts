import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RevisionConflict, StoreRejected, type CommittedChange, type OpLogStore } from '../../src/engine/ports.js';
import type { Change } from '../../src/ot/types.js';
import { connectDatabase, type Sql } from '../../src/store/db.js';
import { migrateUp } from '../../src/store/migrate.js';
import { PostgresOpLog } from '../../src/store/oplog.js';
import { GroupCommitOpLog } from '../../src/store/group-commit.js';
import { MemoryOpLog } from '../support/memory-store.js';

/**
 * The op-log port's contract, run against every implementation (after ShareDB's test/db.js):
 * the in-memory fake the engine's unit tests rely on must behave like PostgreSQL.
 */
function describeOpLog(name: string, open: () => Promise<{ store: OpLogStore; close(): Promise<void> }>): void {
  describe(`op log conformance: ${name}`, () => {
    let store: OpLogStore;
    let close: () => Promise<void> = async () => undefined;
    beforeAll(async () => {
      ({ store, close } = await open());
    });
    afterAll(() => close());

    const user = 'u1';
    const change = (rev: number, actor: string, seq: number, ops: Change, userId = user): CommittedChange => ({ rev, ops, actor, seq, userId, committedAt: 1_700_000_000_000 });

    it('knows nothing of a document never written', async () => {
      const doc = randomUUID();
      expect(await store.latestSnapshot(doc)).toBeUndefined();
      expect(await store.readChanges(doc, 0)).toEqual([]);
      expect(await store.actor(doc, randomUUID())).toBeUndefined();
    });

    it('reads back appended changes, grouped, in order, within a revision range', async () => {
      const doc = randomUUID();
      const [a, b] = [randomUUID(), randomUUID()];
      const first = change(0, a, 1, [{ type: 'insert', pos: 0, text: 'héllo 😀', attrs: { bold: true, size: 2, font: 'x', off: null } }, { type: 'insert', pos: 0, text: '>' }]);
      const second = change(2, b, 1, [{ type: 'format', pos: 1, len: 2, attrs: { bold: null } }, { type: 'delete', pos: 0, len: 1 }]);
      const third = change(4, a, 2, [{ type: 'insert', pos: 3, text: 'z' }]);
      await store.append(doc, [first]);
      await store.append(doc, [second, third]);
      expect(await store.readChanges(doc, 0)).toEqual([first, second, third]);
      expect(await store.readChanges(doc, 2)).toEqual([second, third]);
      expect(await store.readChanges(doc, 0, 4)).toEqual([first, second]);
      expect(await store.findChange(doc, a, 1)).toEqual({ rev: 0, count: 2 });
      expect(await store.findChange(doc, a, 2)).toEqual({ rev: 4, count: 1 });
      expect(await store.findChange(doc, a, 3)).toBeUndefined();
      expect(await store.actor(doc, a)).toEqual({ userId: user, lastSeq: 2, lastRev: 4, lastCount: 1 });
      expect(await store.actor(doc, b)).toEqual({ userId: user, lastSeq: 1, lastRev: 2, lastCount: 2 });
    });

    it('refuses a taken revision with RevisionConflict and writes nothing of that batch', async () => {
      const doc = randomUUID();
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      await store.append(doc, [change(0, a, 1, [{ type: 'insert', pos: 0, text: 'a' }])]);
      await expect(store.append(doc, [change(0, b, 1, [{ type: 'insert', pos: 0, text: 'b' }]), change(1, c, 1, [{ type: 'insert', pos: 0, text: 'c' }])])).rejects.toBeInstanceOf(RevisionConflict);
      expect((await store.readChanges(doc, 0)).map((x) => x.actor)).toEqual([a]);
      expect(await store.actor(doc, b)).toBeUndefined();
      expect(await store.actor(doc, c)).toBeUndefined();
    });

    it("records an empty change's actor progress with the batch: its seq is used and its ack kept", async () => {
      const doc = randomUUID();
      const [a, b] = [randomUUID(), randomUUID()];
      await store.append(doc, [change(0, a, 1, [{ type: 'insert', pos: 0, text: 'xy' }])]);
      // b's change transformed into nothing: no revision, but its progress is durable.
      await store.append(doc, [change(1, b, 1, []), change(1, a, 2, [{ type: 'delete', pos: 0, len: 1 }])]);
      expect(await store.actor(doc, b)).toEqual({ userId: user, lastSeq: 1, lastRev: 1, lastCount: 0 });
      expect(await store.actor(doc, a)).toEqual({ userId: user, lastSeq: 2, lastRev: 1, lastCount: 1 });
      expect((await store.readChanges(doc, 0)).map((x) => `${x.actor}/${x.seq}`)).toEqual([`${a}/1`, `${a}/2`]);
      await store.append(doc, [change(2, b, 2, [])]);
      expect(await store.actor(doc, b)).toEqual({ userId: user, lastSeq: 2, lastRev: 2, lastCount: 0 });
    });

    it("refuses a change whose seq the actor's progress already reached, names the actor, and writes nothing of that batch", async () => {
      const doc = randomUUID();
      const [a, b] = [randomUUID(), randomUUID()];
      await store.append(doc, [change(0, a, 1, [])]);
      const attempt = store.append(doc, [change(0, b, 1, [{ type: 'insert', pos: 0, text: 'b' }]), change(1, a, 1, [{ type: 'insert', pos: 0, text: 'a' }])]);
      await expect(attempt).rejects.toBeInstanceOf(RevisionConflict);
      await expect(attempt).rejects.toMatchObject({ actors: [a] });
      expect(await store.readChanges(doc, 0)).toEqual([]);
      expect(await store.actor(doc, b)).toBeUndefined();
      expect(await store.actor(doc, a)).toEqual({ userId: user, lastSeq: 1, lastRev: 0, lastCount: 0 });
    });

    it.each([
      ['insert text', [{ type: 'insert', pos: 0, text: 'a\u0000b' }], user],
      ['an attribute value', [{ type: 'insert', pos: 0, text: 'a', attrs: { font: 'x\u0000' } }], user],
      ['an attribute key', [{ type: 'format', pos: 0, len: 1, attrs: { 'k\u0000': true } }], user],
      ['the user id', [{ type: 'insert', pos: 0, text: 'a' }], 'u\u0000'],
    ] as Array<[string, Change, string]>)('refuses a NUL character in %s with StoreRejected and writes nothing', async (_what, ops, userId) => {
      const doc = randomUUID();
      const [a, b] = [randomUUID(), randomUUID()];
      await store.append(doc, [change(0, a, 1, [{ type: 'insert', pos: 0, text: 'ok' }])]);
      await expect(store.append(doc, [change(1, a, 2, [{ type: 'insert', pos: 0, text: 'fine' }]), change(2, b, 1, ops, userId)])).rejects.toBeInstanceOf(StoreRejected);
      expect((await store.readChanges(doc, 0)).length).toBe(1);
      expect(await store.actor(doc, a)).toMatchObject({ lastSeq: 1 });
      expect(await store.actor(doc, b)).toBeUndefined();
    });

    it('keeps snapshots and answers the latest', async () => {
      const doc = randomUUID();
      await store.append(doc, [change(0, randomUUID(), 1, [{ type: 'insert', pos: 0, text: 'abc' }])]);
      await store.saveSnapshot(doc, { rev: 1, content: [{ text: 'abc' }] });
      await store.saveSnapshot(doc, { rev: 1, content: [{ text: 'abc' }] });
      expect(await store.latestSnapshot(doc)).toEqual({ rev: 1, content: [{ text: 'abc' }] });
    });

    it('keeps packed snapshots too and answers the latest of either form', async () => {
      const doc = randomUUID();
      const actor = randomUUID();
      await store.append(doc, [change(0, actor, 1, [{ type: 'insert', pos: 0, text: 'abc' }]), change(1, actor, 2, [{ type: 'insert', pos: 3, text: 'de', attrs: { bold: true } }])]);
      await store.saveSnapshot(doc, { rev: 1, content: [{ text: 'abc' }] });
      const packed = { text: 'abcde', runs: '3,2.0', attrs: [{ bold: true }] };
      await store.saveSnapshot(doc, { rev: 2, content: packed });
      await store.saveSnapshot(doc, { rev: 2, content: packed });
      expect(await store.latestSnapshot(doc)).toEqual({ rev: 2, content: packed });
      // A relay older than the packed form writes run lists: the newest snapshot wins.
      await store.saveSnapshot(doc, { rev: 3, content: [{ text: 'abc' }, { text: 'de', attrs: { bold: true } }] });
      expect((await store.latestSnapshot(doc))?.rev).toBe(3);
    });

    it('reads the changes after the latest snapshot of either form, with its revision, in one read', async () => {
      const doc = randomUUID();
      expect(await store.readChangesSinceLatestSnapshot(doc)).toEqual({ fromRev: 0, changes: [] });
      const actor = randomUUID();
      const changes = [
        change(0, actor, 1, [{ type: 'insert', pos: 0, text: 'abc' }]),
        change(1, actor, 2, [{ type: 'insert', pos: 3, text: 'de', attrs: { bold: true } }, { type: 'insert', pos: 0, text: '>' }]),
        change(3, actor, 3, [{ type: 'delete', pos: 0, len: 1 }]),
      ];
      await store.append(doc, changes);
      expect(await store.readChangesSinceLatestSnapshot(doc)).toEqual({ fromRev: 0, changes });
      await store.saveSnapshot(doc, { rev: 1, content: [{ text: 'abc' }] });
      expect(await store.readChangesSinceLatestSnapshot(doc)).toEqual({ fromRev: 1, changes: changes.slice(1) });
      await store.saveSnapshot(doc, { rev: 4, content: { text: 'abcde', runs: '3,2.0', attrs: [{ bold: true }] } });
      expect(await store.readChangesSinceLatestSnapshot(doc)).toEqual({ fromRev: 4, changes: [] });
    });
  });
}

describeOpLog('in-memory fake', async () => ({ store: new MemoryOpLog(), close: async () => undefined }));

describeOpLog('PostgreSQL', async () => {
  const url = inject('databaseUrl');
  await migrateUp(url, { info: () => undefined });
  const db: Sql = connectDatabase(url, { max: 4, maxLifetimeSecs: 600, idleTimeoutSecs: 60 });
  return { store: new PostgresOpLog(db), close: () => db.end({ timeout: 5 }) };
});

describeOpLog('PostgreSQL, cross-document group commit', async () => {
  const url = inject('databaseUrl');
  await migrateUp(url, { info: () => undefined });
  const db: Sql = connectDatabase(url, { max: 4, maxLifetimeSecs: 600, idleTimeoutSecs: 60 });
  return { store: new GroupCommitOpLog(new PostgresOpLog(db), { maxDocuments: 64 }), close: () => db.end({ timeout: 5 }) };
});

describe('PostgreSQL op log: documents', () => {
  it('creates the document row with its first change, not before', async () => {
    const url = inject('databaseUrl');
    await migrateUp(url, { info: () => undefined });
    const db = connectDatabase(url, { max: 1, maxLifetimeSecs: 600, idleTimeoutSecs: 60 });
    try {
      const store = new PostgresOpLog(db);
      const doc = randomUUID();
      const exists = async () => (await db`SELECT 1 FROM documents WHERE id = ${doc}`).length === 1;
      await store.latestSnapshot(doc);
      await store.readChanges(doc, 0);
      await store.actor(doc, randomUUID());
      expect(await exists()).toBe(false);
      await store.append(doc, [{ rev: 0, ops: [], actor: randomUUID(), seq: 1, userId: 'u', committedAt: Date.now() }]);
      expect(await exists()).toBe(true);
    } finally {
      await db.end({ timeout: 5 });
    }
  });
});
