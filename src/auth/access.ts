import type { Role } from '../store/permissions.js';

export type { Role };
export type AccessPolicy = 'acl' | 'open';

export interface RoleLookup {
  roleOf(docId: string, userId: string): Promise<Role | undefined>;
}

export interface AccessOptions {
  readonly policy: AccessPolicy;
  /** PERMISSION_CACHE_TTL in ms; 0 disables the cache. */
  readonly ttlMs: number;
  /**
   * "No role" is cached for at most this long: a grant made through another replica should
   * not wait the full TTL, yet a flood of joins to documents a user cannot see must not
   * become a flood of queries.
   */
  readonly negativeTtlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
  /** Called for every lookup that reaches PostgreSQL (a cache miss), to count them. */
  readonly onLookup?: () => void;
}

const RANK: Readonly<Record<Role, number>> = { viewer: 1, editor: 2, owner: 3 };

/** True when `role` includes everything `needed` may do. */
export function atLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[needed];
}

interface Entry {
  readonly role: Role | undefined;
  readonly expiresAt: number;
}

/**
 * Who may do what on a document: the stored role, cached, turned into the effective role by
 * the access policy. Under `open` everyone with a valid token edits, and stored owners keep
 * their right to manage.
 */
export class AccessControl {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Role | undefined>>();
  private readonly now: () => number;
  private forgotten = 0;

  constructor(
    private readonly lookup: RoleLookup,
    private readonly options: AccessOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  get policy(): AccessPolicy {
    return this.options.policy;
  }

  /** PERMISSION_CACHE_TTL in ms. */
  get ttlMs(): number {
    return this.options.ttlMs;
  }

  /**
   * Counts forgetAll() calls: a holder of roles read before the last one (a connection's
   * role on a joined document) must read them again.
   */
  get generation(): number {
    return this.forgotten;
  }

  /** True while the cache holds an unexpired answer for the user on the document. */
  isFresh(docId: string, userId: string): boolean {
    const cached = this.cache.get(keyOf(docId, userId));
    return cached !== undefined && cached.expiresAt > this.now();
  }

  /** The role the user acts with on the document; undefined: no access at all. */
  async effectiveRole(docId: string, userId: string): Promise<Role | undefined> {
    if (this.options.policy === 'acl') return this.storedRole(docId, userId);
    try {
      return (await this.storedRole(docId, userId)) === 'owner' ? 'owner' : 'editor';
    } catch {
      // Access is granted upstream; a database hiccup must not lock editors out.
      return 'editor';
    }
  }

  /** The role in PostgreSQL, through the cache. Rejects when the lookup fails. */
  storedRole(docId: string, userId: string): Promise<Role | undefined> {
    const key = keyOf(docId, userId);
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.role);
    const running = this.inflight.get(key);
    if (running) return running;
    this.options.onLookup?.();
    const query: Promise<Role | undefined> = this.lookup.roleOf(docId, userId).then(
      (role) => {
        // An invalidation while the query ran makes its answer stale: neither cache nor return
        // it (a connection re-checked with it would get back a role just revoked); ask again.
        if (this.inflight.get(key) !== query) return this.storedRole(docId, userId);
        this.inflight.delete(key);
        this.remember(key, role);
        return role;
      },
      (err: unknown) => {
        if (this.inflight.get(key) === query) this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, query);
    return query;
  }

  /** Forgets what is cached for the user on the document (after a grant or revoke here). */
  invalidate(docId: string, userId: string): void {
    const key = keyOf(docId, userId);
    this.cache.delete(key);
    this.inflight.delete(key);
  }

  /**
   * Forgets everything cached: role changes may have been missed (the channel that carries
   * them from other replicas was down). Holders of roles learn it from `generation`.
   */
  forgetAll(): void {
    this.cache.clear();
    this.inflight.clear();
    this.forgotten++;
  }

  private remember(key: string, role: Role | undefined): void {
    const ttl = role === undefined ? Math.min(this.options.ttlMs, this.options.negativeTtlMs) : this.options.ttlMs;
    if (ttl <= 0) return;
    this.cache.delete(key);
    this.cache.set(key, { role, expiresAt: this.now() + ttl });
    // Maps iterate in insertion order, so the first key is the oldest entry.
    while (this.cache.size > this.options.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

// Document ids are UUIDs (fixed length, no colon), so the pair cannot be ambiguous.
const keyOf = (docId: string, userId: string) => `${docId}:${userId}`;
