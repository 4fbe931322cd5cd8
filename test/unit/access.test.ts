import { describe, expect, it } from 'vitest';
import { AccessControl, atLeast, type Role, type RoleLookup } from '../../src/auth/access.js';
import { hasScope, type Principal } from '../../src/auth/verify.js';
import { isDevAuth, loadConfig } from '../../src/config.js';
import { RateLimiter } from '../../src/server/rate-limit.js';

const DOC = '00000000-0000-4000-8000-000000000001';

class FakeLookup implements RoleLookup {
  readonly roles = new Map<string, Role>();
  queries = 0;
  fail = false;
  gate: Promise<void> | undefined;
  async roleOf(docId: string, userId: string): Promise<Role | undefined> {
    this.queries++;
    // The answer is read when the query starts, as a database snapshot would be.
    const role = this.roles.get(`${docId}:${userId}`);
    if (this.gate) await this.gate;
    if (this.fail) throw new Error('database down');
    return role;
  }
}

describe('AccessControl', () => {
  const setup = (policy: 'acl' | 'open' = 'acl') => {
    let now = 1_000_000;
    const lookup = new FakeLookup();
    const access = new AccessControl(lookup, { policy, ttlMs: 10_000, negativeTtlMs: 2_000, maxEntries: 3, now: () => now });
    return { lookup, access, advance: (ms: number) => (now += ms) };
  };

  it('caches a role for the TTL, then asks again', async () => {
    const { lookup, access, advance } = setup();
    lookup.roles.set(`${DOC}:ann`, 'editor');
    expect(await access.effectiveRole(DOC, 'ann')).toBe('editor');
    lookup.roles.delete(`${DOC}:ann`);
    advance(9_999);
    expect(await access.effectiveRole(DOC, 'ann')).toBe('editor');
    advance(2);
    expect(await access.effectiveRole(DOC, 'ann')).toBeUndefined();
    expect(lookup.queries).toBe(2);
  });

  it('caches "no role" only briefly, and invalidate() forgets at once', async () => {
    const { lookup, access, advance } = setup();
    expect(await access.effectiveRole(DOC, 'bob')).toBeUndefined();
    lookup.roles.set(`${DOC}:bob`, 'viewer');
    expect(await access.effectiveRole(DOC, 'bob')).toBeUndefined();
    advance(2_001);
    expect(await access.effectiveRole(DOC, 'bob')).toBe('viewer');
    lookup.roles.set(`${DOC}:bob`, 'owner');
    access.invalidate(DOC, 'bob');
    expect(await access.effectiveRole(DOC, 'bob')).toBe('owner');
  });

  it('one query for concurrent lookups; an invalidation during a query makes its callers ask again, and nothing stale is cached', async () => {
    const { lookup, access } = setup();
    lookup.roles.set(`${DOC}:cy`, 'editor');
    let open: () => void = () => undefined;
    lookup.gate = new Promise((r) => (open = r));
    const a = access.effectiveRole(DOC, 'cy');
    const b = access.effectiveRole(DOC, 'cy');
    // The revocation commits after the query read its snapshot, then invalidates.
    lookup.roles.delete(`${DOC}:cy`);
    access.invalidate(DOC, 'cy');
    open();
    lookup.gate = undefined;
    // A re-check that started before the revocation must not hand back the revoked role.
    expect(await a).toBeUndefined();
    expect(await b).toBeUndefined();
    expect(await access.effectiveRole(DOC, 'cy')).toBeUndefined();
    expect(lookup.queries).toBe(2);
  });

  it('counts lookups that reach the store, tells fresh entries apart, and forgetAll() bumps the generation', async () => {
    let now = 0;
    let lookups = 0;
    const lookup = new FakeLookup();
    lookup.roles.set(`${DOC}:dee`, 'viewer');
    const access = new AccessControl(lookup, { policy: 'acl', ttlMs: 1000, negativeTtlMs: 500, maxEntries: 10, now: () => now, onLookup: () => lookups++ });
    expect(access.isFresh(DOC, 'dee')).toBe(false);
    await access.effectiveRole(DOC, 'dee');
    await access.effectiveRole(DOC, 'dee');
    expect(lookups).toBe(1);
    expect(access.isFresh(DOC, 'dee')).toBe(true);
    now += 1000;
    expect(access.isFresh(DOC, 'dee')).toBe(false);
    await access.effectiveRole(DOC, 'dee');
    const generation = access.generation;
    access.forgetAll();
    expect(access.generation).toBe(generation + 1);
    expect(access.isFresh(DOC, 'dee')).toBe(false);
    await access.effectiveRole(DOC, 'dee');
    expect(lookups).toBe(3);
    expect(access.ttlMs).toBe(1000);
  });

  it('bounds the cache', async () => {
    const { lookup, access } = setup();
    for (const u of ['a', 'b', 'c', 'd']) lookup.roles.set(`${DOC}:${u}`, 'viewer');
    for (const u of ['a', 'b', 'c', 'd']) await access.effectiveRole(DOC, u);
    expect(lookup.queries).toBe(4);
    await access.effectiveRole(DOC, 'a');
    expect(lookup.queries).toBe(5);
  });

  it('acl: a failed lookup rejects; open: everyone edits, owners stay owners, and a failed lookup still lets editors in', async () => {
    const acl = setup('acl');
    acl.lookup.fail = true;
    await expect(acl.access.effectiveRole(DOC, 'x')).rejects.toThrow('database down');
    const open = setup('open');
    open.lookup.roles.set(`${DOC}:own`, 'owner');
    open.lookup.roles.set(`${DOC}:view`, 'viewer');
    expect(await open.access.effectiveRole(DOC, 'nobody')).toBe('editor');
    expect(await open.access.effectiveRole(DOC, 'view')).toBe('editor');
    expect(await open.access.effectiveRole(DOC, 'own')).toBe('owner');
    open.lookup.fail = true;
    expect(await open.access.effectiveRole(DOC, 'other')).toBe('editor');
  });

  it('orders roles', () => {
    expect(atLeast('owner', 'editor')).toBe(true);
    expect(atLeast('editor', 'editor')).toBe(true);
    expect(atLeast('viewer', 'editor')).toBe(false);
    expect(atLeast(undefined, 'viewer')).toBe(false);
  });
});

describe('RateLimiter', () => {
  const limits = (messagesPerSec: number, messageBurst: number, bytesPerSec = 1e9, bytesBurst = 1e9) => ({ messagesPerSec, messageBurst, bytesPerSec, bytesBurst });
  const take = (limiter: RateLimiter, now: number) => (limiter.takeBytes(10, now) === 'ok' ? limiter.takeMessage(now, 10) : 'limited');

  it('allows the burst, then the sustained rate; a client that keeps sending while limited is closed', () => {
    const limiter = new RateLimiter(limits(10, 5), 0);
    expect(Array.from({ length: 5 }, () => take(limiter, 0))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(take(limiter, 0)).toBe('limited');
    expect(limiter.firstDrop).toBe(true);
    expect(limiter.exceeded).toBe('messages');
    expect(take(limiter, 0)).toBe('limited');
    expect(limiter.firstDrop).toBe(false);
    // 100 ms later one message's worth has refilled, and the streak ends.
    expect(take(limiter, 100)).toBe('ok');
    const decisions = Array.from({ length: 7 }, () => take(limiter, 100));
    expect(decisions.slice(0, 5)).toEqual(['limited', 'limited', 'limited', 'limited', 'limited']);
    expect(decisions[5]).toBe('close');
  });

  it('a client at its sustained rate is never limited', () => {
    const limiter = new RateLimiter(limits(100, 10), 0);
    for (let t = 0; t < 10_000; t += 10) expect(take(limiter, t)).toBe('ok');
  });

  it('counts bytes: large frames run out of the byte budget long before the message budget, and a flood of them is closed', () => {
    const mib = 1024 * 1024;
    const limiter = new RateLimiter(limits(200, 400, 2 * mib, 8 * mib), 0);
    const decisions: string[] = [];
    // 1 MB frames at 65 per second: 65 MiB/s.
    for (let i = 0; i < 65 && !decisions.includes('close'); i++) decisions.push(limiter.takeBytes(mib, i * 15));
    expect(decisions.slice(0, 7).every((d) => d === 'ok')).toBe(true);
    expect(decisions).toContain('limited');
    expect(limiter.exceeded).toBe('bytes');
    expect(decisions[decisions.length - 1]).toBe('close');
    expect(decisions.length).toBeLessThan(30);
  });

  it('tiny frames pay an overhead, so a flood of them also runs out of bytes', () => {
    const limiter = new RateLimiter(limits(1e9, 1e9, 64_000, 64_000), 0);
    let ok = 0;
    while (limiter.takeBytes(0, 0) === 'ok') ok++;
    expect(ok).toBe(1000);
  });
});

describe('admin scope', () => {
  const principal = (claims: Record<string, unknown>): Principal => ({ userId: 'u', name: 'u', expiresAt: undefined, claims });
  it('is found in a space-separated scope or an scp array, and nowhere else', () => {
    expect(hasScope(principal({ scope: 'openid relay:admin' }), 'relay:admin', ['scope', 'scp'])).toBe(true);
    expect(hasScope(principal({ scp: ['relay:admin'] }), 'relay:admin', ['scope', 'scp'])).toBe(true);
    expect(hasScope(principal({ scp: 'relay:admin' }), 'relay:admin', ['scope', 'scp'])).toBe(true);
    expect(hasScope(principal({ scope: 'relay:admins' }), 'relay:admin', ['scope', 'scp'])).toBe(false);
    expect(hasScope(principal({ roles: ['relay:admin'] }), 'relay:admin', ['scope', 'scp'])).toBe(false);
    expect(hasScope(principal({ roles: ['relay:admin'] }), 'relay:admin', ['roles'])).toBe(true);
  });
});

describe('access configuration', () => {
  it('open in development mode, acl with a JWKS or in production, and explicit values win', () => {
    expect(loadConfig({}).accessPolicy).toBe('open');
    expect(isDevAuth(loadConfig({}))).toBe(true);
    expect(loadConfig({ JWT_PUBLIC_KEY_URL: 'https://id.example/jwks' }).accessPolicy).toBe('acl');
    expect(loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', REDIS_URL: 'redis://h:6379', JWT_PUBLIC_KEY_URL: 'https://id.example/jwks' }).accessPolicy).toBe('acl');
    expect(loadConfig({ ACCESS_POLICY: 'acl' }).accessPolicy).toBe('acl');
    expect(loadConfig({ ACCESS_POLICY: 'open', JWT_PUBLIC_KEY_URL: 'https://id.example/jwks' }).accessPolicy).toBe('open');
    expect(() => loadConfig({ ACCESS_POLICY: 'everyone' })).toThrow(/ACCESS_POLICY/);
    const c = loadConfig({});
    expect([c.adminScope, c.adminScopeClaims, c.handshakeTimeoutSecs, c.rateLimitPerSec, c.rateLimitBurst]).toEqual(['relay:admin', ['scope', 'scp'], 15, 200, 400]);
  });
});
