import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RevisionConflict, StoreRejected, type CommittedChange } from '../../src/engine/ports.js';
import { connectDatabase, type Sql } from '../../src/store/db.js';
import { GroupCommitOpLog } from '../../src/store/group-commit.js';
import { migrateUp } from '../../src/store/migrate.js';
import { PostgresOpLog } from '../../src/store/oplog.js';

const insert = (rev: number, actor: string, seq: number, text = 'x'): CommittedChange => ({
  rev,
  ops: [{ type: 'insert', pos: 0, text }],
  actor,
  seq,
  userId: 'u1',
  committedAt: Date.now(),
});

describe('cross-document group commit (PostgreSQL)', () => {
  let db: Sql;
  let plain: PostgresOpLog;
  beforeAll(async () => {
    const url = inject('databaseUrl');
    await migrateUp(url, { info: () => undefined });
    db = connectDatabase(url, { max: 4, maxLifetimeSecs: 600, idleTimeoutSecs: 60 });
    plain = new PostgresOpLog(db);
  });
  afterAll(() => db.end({ timeout: 5 }));

  it('commits the appends of many documents that arrive together in one statement', async () => {
    const store = new GroupCommitOpLog(plain, { maxDocuments: 64 });
    const docs = Array.from({ length: 20 }, () => randomUUID());
    await Promise.all(docs.map((doc) => store.append(doc, [insert(0, randomUUID(), 1)])));
    expect(store.stats).toEqual({ commits: 1, appends: 20, retries: 0 });
    for (const doc of docs) expect(await plain.readChanges(doc, 0)).toHaveLength(1);
  });

  it('keeps each group under maxDocuments', async () => {
    const store = new GroupCommitOpLog(plain, { maxDocuments: 8 });
    const docs = Array.from({ length: 20 }, () => randomUUID());
    await Promise.all(docs.map((doc) => store.append(doc, [insert(0, randomUUID(), 1)])));
    expect(store.stats).toEqual({ commits: 3, appends: 20, retries: 0 });
  });

  it('a taken revision or a refused value fails its own document only; the others commit', async () => {
    const store = new GroupCommitOpLog(plain, { maxDocuments: 64 });
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    // Another replica already committed revision 1 of b.
    await plain.append(b, [insert(0, randomUUID(), 1)]);
    const results = await Promise.allSettled([
      store.append(a, [insert(0, randomUUID(), 1)]),
      store.append(b, [insert(0, randomUUID(), 1)]),
      // PostgreSQL stores no NUL character in text.
      store.append(c, [insert(0, randomUUID(), 1, 'nul \u0000')]),
      store.append(d, [insert(0, randomUUID(), 1)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RevisionConflict);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(StoreRejected);
    expect(await plain.readChanges(a, 0)).toHaveLength(1);
    expect(await plain.readChanges(c, 0)).toHaveLength(0);
    expect(await plain.readChanges(d, 0)).toHaveLength(1);
    expect(store.stats).toEqual({ commits: 2, appends: 2, retries: 1 });
  });

  it("an actor's seq already committed elsewhere (an empty change) fails its document only, naming the actor", async () => {
    const store = new GroupCommitOpLog(plain, { maxDocuments: 64 });
    const [a, b] = [randomUUID(), randomUUID()];
    const actor = randomUUID();
    const other = randomUUID();
    await plain.append(b, [{ rev: 0, ops: [], actor, seq: 1, userId: 'u1', committedAt: Date.now() }]);
    const results = await Promise.allSettled([store.append(a, [insert(0, randomUUID(), 1)]), store.append(b, [insert(0, actor, 1), insert(1, other, 1)])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    const reason = (results[1] as PromiseRejectedResult).reason as unknown;
    expect(reason).toBeInstanceOf(RevisionConflict);
    expect((reason as RevisionConflict).actors).toEqual([actor]);
    expect(await plain.readChanges(b, 0)).toHaveLength(0);
  });

  it('appends of one document wait for the next commit, in order', async () => {
    const store = new GroupCommitOpLog(plain, { maxDocuments: 64 });
    const doc = randomUUID();
    const actor = randomUUID();
    await Promise.all([store.append(doc, [insert(0, actor, 1)]), store.append(doc, [insert(1, actor, 2)])]);
    expect((await plain.readChanges(doc, 0)).map((c) => c.seq)).toEqual([1, 2]);
    expect(store.stats.commits).toBe(2);
  });
});
