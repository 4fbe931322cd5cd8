import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessControl, type Role, type RoleLookup } from '../../src/auth/access.js';
import { KeySet } from '../../src/auth/key-set.js';
import type { KeySource } from '../../src/auth/keys.js';
import { InProcessRoleChanges, decodeRoleChange, encodeRoleChange } from '../../src/bus/revocations.js';
import { DocumentEngine, type CommitListener } from '../../src/engine/document.js';
import { Metrics } from '../../src/metrics.js';
import { Connection } from '../../src/server/connection.js';
import { RateLimiter } from '../../src/server/rate-limit.js';
import { RoleConfirmations } from '../../src/server/role-confirmations.js';
import { SessionGuard } from '../../src/server/session-guard.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const TTL_MS = 10_000;

/** The database's document_permissions, shared by every replica of a test. */
class Roles implements RoleLookup {
  readonly roles = new Map<string, Role>();
  queries = 0;
  down = false;
  async roleOf(docId: string, userId: string): Promise<Role | undefined> {
    this.queries++;
    if (this.down) throw new Error('database down');
    return this.roles.get(`${docId}:${userId}`);
  }
}

const keys: KeySource = { current: () => KeySet.empty, refetch: () => undefined, hasKeys: () => true, kind: 'remote', close: () => undefined };

const acks: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

/** One replica: its cache, its connections, its guard; `clock` is shared by the test. */
function replica(db: Roles, clock: { now: number }) {
  const access = new AccessControl(db, { policy: 'acl', ttlMs: TTL_MS, negativeTtlMs: 2000, maxEntries: 100_000, now: () => clock.now });
  const connections = new Set<Connection>();
  const evicted: Array<{ session: string; docId: string }> = [];
  const guard = new SessionGuard({
    keys,
    verify: { issuer: undefined, audience: undefined, clockToleranceSecs: 0 },
    access,
    metrics: new Metrics(),
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    connections: () => connections,
    evict: (connection, docId) => {
      evicted.push({ session: connection.session, docId });
      connection.docs.delete(docId);
    },
  });
  /** What CollabServer.join does: look the role up (through the cache), then join. */
  const join = async (userId: string, engine: DocumentEngine): Promise<Connection> => {
    const role = await access.effectiveRole(engine.id, userId);
    if (!role) throw new Error(`${userId} has no role on ${engine.id}`);
    const connection = new Connection(randomUUID(), { userId, name: userId, expiresAt: undefined, claims: {} }, { id: userId, name: userId, color: '#000000' }, clock.now, new RateLimiter({ messagesPerSec: 10, messageBurst: 10, bytesPerSec: 1e6, bytesBurst: 1e6 }, clock.now), () => undefined);
    connection.docs.set(engine.id, { engine, role, pendingPresence: undefined, lastPresenceAt: 0, presenceTimer: undefined, typingTimer: undefined, changesInFlight: 0 });
    connections.add(connection);
    return connection;
  };
  return { access, guard, join, evicted, connections };
}

async function documents(count: number): Promise<DocumentEngine[]> {
  const store = new MemoryOpLog();
  return Promise.all(Array.from({ length: count }, () => DocumentEngine.load(randomUUID(), store, acks, testEngineOptions())));
}

/** A committed change, as any editor's (here or on another replica) moves the revision. */
function edit(engine: DocumentEngine): Promise<void> {
  return new Promise((resolve, reject) => {
    engine.submit({ actor: randomUUID(), seq: 1, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'x' }], userId: 'someone' }, { acked: () => resolve(), rejected: reject });
  });
}

describe('re-checking joined connections', () => {
  it('idle connections cost no lookup, however long after their cached roles expired', async () => {
    const db = new Roles();
    const clock = { now: 1_000_000 };
    const docs = await documents(20);
    const r = replica(db, clock);
    for (let i = 0; i < 200; i++) {
      const doc = docs[i % docs.length];
      if (!doc) throw new Error('no doc');
      db.roles.set(`${doc.id}:u${i}`, 'editor');
      await r.join(`u${i}`, doc);
    }
    expect(db.queries).toBe(200);
    // Ten minutes of 2.5 s passes (TTL/4), the cache expiring many times over.
    for (let t = 0; t < 240; t++) {
      clock.now += TTL_MS / 4;
      await r.guard.recheckAccess();
    }
    expect(db.queries).toBe(200);
    // Even a role removed behind the relay's back (SQL) is not looked for on an idle document.
    expect(r.evicted).toEqual([]);
  });

  it('on a document being edited, an expired role is looked up once per (document, user), and a revocation applies', async () => {
    const db = new Roles();
    const clock = { now: 1_000_000 };
    const [busy, quiet] = await documents(2);
    if (!busy || !quiet) throw new Error('no docs');
    const r = replica(db, clock);
    for (const user of ['ann', 'bob']) {
      db.roles.set(`${busy.id}:${user}`, 'editor');
      db.roles.set(`${quiet.id}:${user}`, 'editor');
    }
    const annBusy = await r.join('ann', busy);
    await r.join('ann', busy); // a second tab: same (document, user)
    await r.join('bob', busy);
    const annQuiet = await r.join('ann', quiet);
    const queries = db.queries;
    await r.guard.recheckAccess(); // first sight: the roles are confirmed at revision 0
    await edit(busy);
    clock.now += 1000;
    await r.guard.recheckAccess();
    // Edited, but every cached role is fresh: nothing to look up.
    expect(db.queries).toBe(queries);

    db.roles.delete(`${busy.id}:ann`);
    db.roles.delete(`${quiet.id}:ann`);
    // The roles cached at the joins have expired; the edit is still within the TTL.
    clock.now += TTL_MS - 1;
    await r.guard.recheckAccess();
    // busy changed since its roles were confirmed: ann and bob there (2 pairs, 3 connections); quiet did not.
    expect(db.queries).toBe(queries + 2);
    expect(r.evicted.map((e) => e.docId).sort()).toEqual([busy.id, busy.id]);
    expect(annBusy.docs.has(busy.id)).toBe(false);
    expect(annQuiet.docs.has(quiet.id)).toBe(true);

    // Confirmed at busy's new revision: nothing is due until it changes again.
    clock.now += TTL_MS;
    await r.guard.recheckAccess();
    expect(db.queries).toBe(queries + 2);
    // The next edit of quiet brings its expired roles to a re-check.
    await edit(quiet);
    clock.now += 1000;
    await r.guard.recheckAccess();
    expect(annQuiet.docs.has(quiet.id)).toBe(false);
    expect(db.queries).toBe(queries + 3);
  });

  it('a document edited all the time costs one lookup per (document, user) per cache lifetime', async () => {
    const db = new Roles();
    const clock = { now: 1_000_000 };
    const [doc] = await documents(1);
    if (!doc) throw new Error('no doc');
    const r = replica(db, clock);
    db.roles.set(`${doc.id}:ann`, 'editor');
    await r.join('ann', doc);
    await r.join('ann', doc);
    const queries = db.queries;
    for (let pass = 0; pass < 40; pass++) {
      await edit(doc);
      clock.now += TTL_MS / 4;
      await r.guard.recheckAccess();
    }
    // 40 passes of a quarter TTL: ten cache lifetimes.
    expect(db.queries - queries).toBe(10);
  });

  it('a role change made through another replica reaches this one at once over the in-process twin of the bus', async () => {
    const db = new Roles();
    const clock = { now: 1_000_000 };
    const [doc] = await documents(1);
    if (!doc) throw new Error('no doc');
    const peers = new Set<InProcessRoleChanges>();
    const a = replica(db, clock);
    const b = replica(db, clock);
    const wire = async (r: ReturnType<typeof replica>) => {
      const channel = new InProcessRoleChanges(peers);
      await channel.start({
        changed: ({ docId, userId }) => {
          r.access.invalidate(docId, userId);
          void r.guard.recheckAccess({ docId, userId });
        },
        missed: () => r.access.forgetAll(),
      });
      return channel;
    };
    const fromA = await wire(a);
    await wire(b);
    db.roles.set(`${doc.id}:vic`, 'viewer');
    db.roles.set(`${doc.id}:eve`, 'editor');
    const vicOnB = await b.join('vic', doc);
    const eveOnB = await b.join('eve', doc);
    // What the management API on A does: write, invalidate, re-check its own, publish.
    db.roles.set(`${doc.id}:vic`, 'editor');
    db.roles.delete(`${doc.id}:eve`);
    for (const userId of ['vic', 'eve']) {
      a.access.invalidate(doc.id, userId);
      await a.guard.recheckAccess({ docId: doc.id, userId });
      fromA.publish({ docId: doc.id, userId });
    }
    // No clock advance, no edit, no pass on B: the push alone does it.
    await new Promise((r) => setTimeout(r, 10));
    expect(vicOnB.docs.get(doc.id)?.role).toBe('editor');
    expect(eveOnB.docs.has(doc.id)).toBe(false);
    expect(b.evicted).toEqual([{ session: eveOnB.session, docId: doc.id }]);
  });

  it('after missed role changes (forgetAll) the next pass re-checks every joined pair once, then idles again', async () => {
    const db = new Roles();
    const clock = { now: 1_000_000 };
    const docs = await documents(3);
    const r = replica(db, clock);
    for (const doc of docs) {
      for (const user of ['p', 'q']) {
        db.roles.set(`${doc.id}:${user}`, 'viewer');
        await r.join(user, doc);
      }
    }
    const first = docs[0];
    if (!first) throw new Error('no doc');
    db.roles.delete(`${first.id}:p`);
    const queries = db.queries;
    r.access.forgetAll();
    await r.guard.recheckAccess();
    expect(db.queries).toBe(queries + 6);
    expect(r.evicted.map((e) => e.docId)).toEqual([first.id]);
    clock.now += TTL_MS * 3;
    await r.guard.recheckAccess();
    expect(db.queries).toBe(queries + 6);
  });
});

describe('re-checking after missed role changes while the database is down', () => {
  it('keeps every role, and the pass over everything is owed until it completes', async () => {
    const db = new Roles();
    const clock = { now: 1_000_000 };
    const [doc] = await documents(1);
    if (!doc) throw new Error('no doc');
    const r = replica(db, clock);
    db.roles.set(`${doc.id}:kim`, 'editor');
    const kim = await r.join('kim', doc);
    db.roles.delete(`${doc.id}:kim`);
    r.access.forgetAll();
    db.down = true;
    await r.guard.recheckAccess();
    expect(kim.docs.has(doc.id)).toBe(true);
    db.down = false;
    await r.guard.recheckAccess();
    expect(kim.docs.has(doc.id)).toBe(false);
  });
});

describe('role confirmations', () => {
  it('a pair is due once its document moved past the revision its role was confirmed at; first sight confirms', () => {
    const c = new RoleConfirmations();
    expect([...c.sweep([['d:a', 5], ['d:b', 5]])]).toEqual([]);
    expect([...c.sweep([['d:a', 6], ['d:b', 6]])]).toEqual(['d:a', 'd:b']);
    c.confirm('d:a', 6);
    expect([...c.sweep([['d:a', 6], ['d:b', 6]])]).toEqual(['d:b']);
    // A pair no longer joined is forgotten; seen again, it is a first sight.
    c.sweep([['d:a', 6]]);
    expect([...c.sweep([['d:a', 7], ['d:b', 9]])]).toEqual(['d:a']);
    // confirm() never adds a pair that is not joined.
    c.confirm('d:zed', 1);
    expect([...c.sweep([['d:zed', 2]])]).toEqual([]);
  });
});

describe('role change messages', () => {
  it('round-trip, and anything else decodes to undefined', () => {
    const text = encodeRoleChange('r1', { docId: 'd', userId: 'u' });
    expect(decodeRoleChange(text)).toEqual({ from: 'r1', docId: 'd', userId: 'u' });
    for (const bad of ['', 'nope', '{}', '{"v":2,"from":"r","doc":"d","user":"u"}', '{"v":1,"from":"r","doc":1,"user":"u"}']) expect(decodeRoleChange(bad)).toBeUndefined();
  });
});
