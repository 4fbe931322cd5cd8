import type { AccessControl, Role } from '../auth/access.js';
import type { KeySource } from '../auth/keys.js';
import { AuthError, verifyToken, type VerifyOptions } from '../auth/verify.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { CloseCode, ErrorCode } from '../protocol/codes.js';
import type { Connection } from './connection.js';
import { RoleConfirmations } from './role-confirmations.js';

interface AccessPair {
  readonly docId: string;
  readonly userId: string;
  /** The document's revision when the pair was collected. */
  readonly revision: number;
  readonly connections: Connection[];
}

// Document ids are UUIDs (no colon), so the pair cannot be ambiguous.
const pairKey = (docId: string, userId: string) => `${docId}:${userId}`;

/** setTimeout's ceiling (about 24.8 days); a longer delay would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionGuardDeps {
  readonly keys: KeySource;
  readonly verify: VerifyOptions;
  readonly access: AccessControl;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now: () => number;
  readonly connections: () => Iterable<Connection>;
  /** Removes a connection from a document it may no longer see. */
  readonly evict: (connection: Connection, docId: string) => void;
}

/**
 * Keeps open connections within their rights after the upgrade: closes one whose token
 * expires (4001) unless it sent a fresh one, and applies role changes and revocations to
 * documents already joined.
 */
export class SessionGuard {
  private checking = false;
  /** access.generation at the last complete pass over every pair; undefined: one is owed. */
  private seenGeneration: number | undefined;
  private readonly confirmations = new RoleConfirmations();

  constructor(private readonly deps: SessionGuardDeps) {
    this.seenGeneration = deps.access.generation;
  }

  /** Handles `{type: 'auth'}`: a fresh token for the same user extends the connection. */
  async reauthenticate(connection: Connection, token: string): Promise<void> {
    try {
      const principal = await verifyToken(token, this.deps.keys, this.deps.verify);
      // The connection may have closed while the token was verified: arming a timer now would
      // keep the connection (and its closure) alive until the token expires.
      if (!connection.open) return;
      if (principal.userId !== connection.principal.userId) {
        connection.send({ type: 'error', code: ErrorCode.forbidden, message: 'a fresh token must be for the same user', ref: 'auth' });
        return;
      }
      connection.principal = principal;
      this.scheduleExpiry(connection);
      connection.send({ type: 'auth_ok', expires_at: principal.expiresAt ?? null });
    } catch (err) {
      if (!connection.open) return;
      connection.send({ type: 'error', code: ErrorCode.forbidden, message: err instanceof AuthError ? err.reason : 'token rejected', ref: 'auth' });
    }
  }

  scheduleExpiry(connection: Connection): void {
    if (connection.expiryTimer) clearTimeout(connection.expiryTimer);
    connection.expiryTimer = undefined;
    const expiresAt = connection.principal.expiresAt;
    if (expiresAt === undefined || !connection.open) return;
    // The same leeway as verification: a token that verified is not closed a moment later.
    const deadline = (expiresAt + this.deps.verify.clockToleranceSecs) * 1000;
    const arm = () => {
      if (!connection.open) return;
      const wait = deadline - this.deps.now();
      if (wait > MAX_TIMER_MS) {
        connection.expiryTimer = setTimeout(arm, MAX_TIMER_MS);
        return;
      }
      connection.expiryTimer = setTimeout(() => {
        connection.expiryTimer = undefined;
        this.deps.metrics.clientsClosed.inc({ reason: 'token_expired' });
        connection.close(CloseCode.tokenExpired, 'token expired; reconnect with a fresh token');
      }, Math.max(0, wait));
    };
    arm();
  }

  /**
   * Brings joined connections' roles up to date. With a filter (the role of that user on that
   * document changed, here or on another replica; the caller has invalidated the cache entry)
   * every such connection is re-checked now. Without one (the periodic pass) only what is due:
   * a (document, user) pair whose cached role expired and whose document changed since its
   * role was last confirmed (someone is editing it), or every joined pair once after
   * `access.forgetAll()`. A connection to a document that does not change costs no lookup.
   */
  async recheckAccess(filter?: { docId: string; userId: string }): Promise<void> {
    if (filter) {
      const groups = [...this.pairs().values()].filter((g) => g.docId === filter.docId && g.userId === filter.userId);
      await this.recheck(groups);
      return;
    }
    if (this.checking) return;
    this.checking = true;
    try {
      const everything = this.deps.access.generation !== this.seenGeneration;
      this.seenGeneration = this.deps.access.generation;
      const groups = this.pairs();
      const moved = this.confirmations.sweep([...groups].map(([key, g]) => [key, g.revision] as const));
      const due = [...groups].filter(([key, g]) => everything || (moved.has(key) && !this.deps.access.isFresh(g.docId, g.userId)));
      const complete = await this.recheck(due.map(([, g]) => g));
      // A lookup that failed in a pass over everything (database away) is retried next pass,
      // with all the others: the roles it would have corrected are not otherwise due.
      if (everything && !complete) this.seenGeneration = undefined;
    } finally {
      this.checking = false;
    }
  }

  /** Joined connections grouped by (document, user), with the document's revision now. */
  private pairs(): Map<string, AccessPair> {
    const groups = new Map<string, AccessPair>();
    for (const connection of this.deps.connections()) {
      const userId = connection.principal.userId;
      for (const [docId, joined] of connection.docs) {
        const key = pairKey(docId, userId);
        const group = groups.get(key) ?? { docId, userId, revision: joined.engine.headRev, connections: [] };
        group.connections.push(connection);
        groups.set(key, group);
      }
    }
    return groups;
  }

  /**
   * One lookup per pair, one after the other: a big pass never floods the database. False if
   * a lookup failed.
   */
  private async recheck(groups: readonly AccessPair[]): Promise<boolean> {
    let complete = true;
    for (const { docId, userId, revision, connections } of groups) {
      let role: Role | undefined;
      try {
        role = await this.deps.access.effectiveRole(docId, userId);
      } catch {
        // The database is away: keep what we know rather than evict everyone.
        complete = false;
        continue;
      }
      this.confirmations.confirm(pairKey(docId, userId), revision);
      for (const connection of connections) this.applyRole(connection, docId, role);
    }
    return complete;
  }

  private applyRole(connection: Connection, docId: string, role: Role | undefined): void {
    const joined = connection.docs.get(docId);
    if (!joined || !connection.open || joined.role === role) return;
    if (role === undefined) {
      this.deps.log.info({ session: connection.session, user: connection.principal.userId, doc: docId }, 'access revoked: removing the client from the document');
      this.deps.evict(connection, docId);
      connection.send({ type: 'error', code: ErrorCode.forbidden, message: 'your access to this document was revoked', doc: docId, ref: 'access' });
      connection.send({ type: 'left', doc: docId, reason: 'revoked' });
      return;
    }
    joined.role = role;
    connection.send({ type: 'role', doc: docId, role });
  }
}
