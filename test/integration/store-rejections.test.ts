import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectDatabase, type Sql } from '../../src/store/db.js';
import { StoreRejected } from '../../src/store/errors.js';
import { migrateUp } from '../../src/store/migrate.js';
import { PermissionStore } from '../../src/store/permissions.js';

/** The management API maps StoreRejected to 400: a value PostgreSQL refuses is the caller's input, not an outage. */
describe('PermissionStore: values PostgreSQL will never accept', () => {
  let sql: Sql;
  let store: PermissionStore;
  beforeAll(async () => {
    const url = inject('databaseUrl');
    await migrateUp(url, { info: () => undefined });
    sql = connectDatabase(url, { max: 2, maxLifetimeSecs: 600, idleTimeoutSecs: 60 });
    store = new PermissionStore(sql);
  });
  afterAll(() => sql.end({ timeout: 5 }));

  it('a NUL character in a title, owner or member id raises StoreRejected, and nothing is written', async () => {
    const id = randomUUID();
    await expect(store.createDocument({ id, title: 'a\u0000b', createdBy: 'admin', owner: undefined })).rejects.toBeInstanceOf(StoreRejected);
    await expect(store.createDocument({ id, title: 't', createdBy: 'admin', owner: 'o\u0000' })).rejects.toBeInstanceOf(StoreRejected);
    expect(await store.document(id)).toBeUndefined();
    await store.createDocument({ id, title: 't', createdBy: 'admin', owner: 'owner' });
    await expect(store.grant(id, 'm\u0000', 'editor', 'owner')).rejects.toMatchObject({ name: 'StoreRejected', sqlState: '22021' });
    expect((await store.members(id)).map((m) => m.userId)).toEqual(['owner']);
  });

  it('a grant on a document that does not exist raises StoreRejected (a foreign-key violation)', async () => {
    await expect(store.grant(randomUUID(), 'u', 'viewer', 'owner')).rejects.toBeInstanceOf(StoreRejected);
  });
});
