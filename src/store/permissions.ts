import type { Sql } from './db.js';
import { rethrowStoreError } from './errors.js';

import type { Role } from '../protocol/wire.js';
export type { Role };
export const ROLES: readonly Role[] = ['viewer', 'editor', 'owner'];

export interface DocumentRecord {
  readonly id: string;
  readonly title: string | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
}

export interface Member {
  readonly userId: string;
  readonly role: Role;
  readonly grantedBy: string | null;
  readonly grantedAt: Date;
}

/**
 * Documents and their members in PostgreSQL (the `documents` and `document_permissions` tables).
 * A value PostgreSQL will never accept (a NUL character in a title or user id, say) is thrown as
 * StoreRejected (src/store/errors.ts): the caller's input is wrong, not the database down.
 */
export class PermissionStore {
  constructor(private readonly sql: Sql) {}

  private async query<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      rethrowStoreError(err);
    }
  }

  async roleOf(docId: string, userId: string): Promise<Role | undefined> {
    return this.query(async () => {
      const [row] = await this.sql<{ role: Role }[]>`
        SELECT role FROM document_permissions WHERE document_id = ${docId} AND user_id = ${userId}`;
      return row?.role;
    });
  }

  /** Creates the document, with its first owner when given; false if the id is taken. */
  async createDocument(doc: { id: string; title: string | null; createdBy: string; owner: string | undefined }): Promise<DocumentRecord | undefined> {
    return this.query(async () => {
      // One statement rather than a transaction block: see PostgresOpLog.append.
      const owner = doc.owner === undefined ? this.sql`` : this.sql`,
        owner AS (INSERT INTO document_permissions (document_id, user_id, role, granted_by)
                  SELECT id, ${doc.owner}, 'owner', ${doc.createdBy} FROM created)`;
      const [row] = await this.sql<{ id: string; title: string | null; created_by: string | null; created_at: Date }[]>`
        WITH created AS (
          INSERT INTO documents (id, title, created_by) VALUES (${doc.id}, ${doc.title}, ${doc.createdBy})
          ON CONFLICT (id) DO NOTHING
          RETURNING id, title, created_by, created_at)
        ${owner}
        SELECT id, title, created_by, created_at FROM created`;
      return row ? { id: row.id, title: row.title, createdBy: row.created_by, createdAt: row.created_at } : undefined;
    });
  }

  async document(docId: string): Promise<DocumentRecord | undefined> {
    return this.query(async () => {
      const [row] = await this.sql<{ id: string; title: string | null; created_by: string | null; created_at: Date }[]>`
        SELECT id, title, created_by, created_at FROM documents WHERE id = ${docId}`;
      return row ? { id: row.id, title: row.title, createdBy: row.created_by, createdAt: row.created_at } : undefined;
    });
  }

  /** Sets the user's role; returns the stored membership. The document must exist. */
  async grant(docId: string, userId: string, role: Role, grantedBy: string): Promise<Member> {
    return this.query(async () => {
      const [row] = await this.sql<{ user_id: string; role: Role; granted_by: string | null; granted_at: Date }[]>`
        INSERT INTO document_permissions (document_id, user_id, role, granted_by) VALUES (${docId}, ${userId}, ${role}, ${grantedBy})
        ON CONFLICT (document_id, user_id) DO UPDATE SET role = EXCLUDED.role, granted_by = EXCLUDED.granted_by, granted_at = now()
        RETURNING user_id, role, granted_by, granted_at`;
      if (!row) throw new Error('grant returned no row');
      return { userId: row.user_id, role: row.role, grantedBy: row.granted_by, grantedAt: row.granted_at };
    });
  }

  /** True if the user had a role. */
  async revoke(docId: string, userId: string): Promise<boolean> {
    return this.query(async () => {
      const rows = await this.sql`DELETE FROM document_permissions WHERE document_id = ${docId} AND user_id = ${userId} RETURNING user_id`;
      return rows.length > 0;
    });
  }

  async members(docId: string): Promise<Member[]> {
    return this.query(async () => {
      const rows = await this.sql<{ user_id: string; role: Role; granted_by: string | null; granted_at: Date }[]>`
        SELECT user_id, role, granted_by, granted_at FROM document_permissions WHERE document_id = ${docId} ORDER BY granted_at, user_id`;
      return rows.map((r) => ({ userId: r.user_id, role: r.role, grantedBy: r.granted_by, grantedAt: r.granted_at }));
    });
  }
}
