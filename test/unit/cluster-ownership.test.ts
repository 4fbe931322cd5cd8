import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, ForwardReply, Leases } from '../../src/bus/bus.js';
import { Forwarder } from '../../src/cluster/forwarder.js';
import { DocumentOwnership } from '../../src/cluster/ownership.js';
import { DocumentEngine, type Ack, type Submission } from '../../src/engine/document.js';
import type { CommittedChange, OpLogStore, Snapshot } from '../../src/engine/ports.js';
import { createLogger } from '../../src/log.js';
import { Fanout } from '../../src/server/fanout.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-0000000000aa';
const TTL_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Leases in memory with real expiry; `unreachable` makes one replica's calls fail like a lost Redis. */
class SharedLeases {
  constructor(private readonly ttlMs: number) {}
  private readonly holders = new Map<string, { id: string; until: number }>();
  readonly unreachable = new Set<string>();
  /** Replicas whose claims are never answered (a cut TCP connection, not a refused one). */
  readonly silent = new Set<string>();
  /** Claim calls (round trips to Redis) by replica. */
  readonly calls = new Map<string, number>();
  for(replica: string): Leases {
    return {
      ttlMs: this.ttlMs,
      claim: async (docIds) => {
        this.calls.set(replica, (this.calls.get(replica) ?? 0) + 1);
        await Promise.resolve();
        if (this.silent.has(replica)) await new Promise<never>(() => undefined);
        if (this.unreachable.has(replica)) throw new Error('redis unreachable');
        const now = Date.now();
        return new Map(
          docIds.map((docId) => {
            const holder = this.holders.get(docId);
            if (!holder || holder.until <= now || holder.id === replica) this.holders.set(docId, { id: replica, until: now + this.ttlMs });
            return [docId, this.holders.get(docId)?.id ?? replica] as const;
          }),
        );
      },
      release: async (docId) => {
        if (this.unreachable.has(replica)) throw new Error('redis unreachable');
        if (this.holders.get(docId)?.id === replica) this.holders.delete(docId);
      },
    };
  }
  ownerOf(docId: string): string | undefined {
    const holder = this.holders.get(docId);
    return holder && holder.until > Date.now() ? holder.id : undefined;
  }
  get owner(): string | undefined {
    return this.ownerOf(DOC);
  }
}

/** Counts one replica's appends to the shared log. */
function counted(store: MemoryOpLog): OpLogStore & { appends: number } {
  const wrapper = {
    appends: 0,
    latestSnapshot: (d: string) => store.latestSnapshot(d),
    readChanges: (d: string, from: number, to?: number) => store.readChanges(d, from, to),
    readChangesSinceLatestSnapshot: (d: string) => store.readChangesSinceLatestSnapshot(d),
    append: async (d: string, changes: readonly CommittedChange[]) => {
      wrapper.appends++;
      await store.append(d, changes);
    },
    actor: (d: string, a: string) => store.actor(d, a),
    findChange: (d: string, a: string, s: number) => store.findChange(d, a, s),
    saveSnapshot: (d: string, s: Snapshot) => store.saveSnapshot(d, s),
  };
  return wrapper;
}

interface Replica {
  readonly id: string;
  readonly engine: DocumentEngine;
  readonly ownership: DocumentOwnership;
  readonly store: ReturnType<typeof counted>;
  /** The owner's answers this replica sent, by kind. */
  readonly replies: ForwardReply[];
  dead: boolean;
}

/** Replicas on one log and one pretend Redis; messages between them are delivered asynchronously. */
class Network {
  readonly replicas: Replica[] = [];
  readonly leases: SharedLeases;
  constructor(
    readonly log: MemoryOpLog,
    ttlMs = TTL_MS,
  ) {
    this.leases = new SharedLeases(ttlMs);
  }

  async add(): Promise<Replica> {
    const id = randomUUID();
    const replies: ForwardReply[] = [];
    const deliver = (to: string, fn: (r: Replica) => void) =>
      setImmediate(() => {
        const target = this.replicas.find((r) => r.id === to);
        if (target && !target.dead && !self.dead) fn(target);
      });
    const bus: Pick<Bus, 'forward' | 'reply' | 'publishChange'> = {
      forward: (owner, docId, sub) => deliver(owner, (r) => r.ownership.forwarded(docId, id, sub)),
      reply: (to, docId, reply: ForwardReply) => {
        replies.push(reply);
        deliver(to, (r) => r.ownership.replied(docId, reply));
      },
      publishChange: (_docId, change) => {
        for (const r of this.replicas) if (r.id !== id) deliver(r.id, (target) => target.engine.receiveRemote(change));
      },
    };
    const forwarder = new Forwarder({ bus, now: Date.now });
    const store = counted(this.log);
    const engine = await DocumentEngine.load(DOC, store, new Fanout({ app: { publish: () => true }, bus, forwarder }), testEngineOptions());
    const ownership = new DocumentOwnership({ replicaId: id, bus, leases: this.leases.for(id), forwarder, engineOf: () => engine, log: createLogger('silent', false), now: Date.now });
    const self: Replica = { id, engine, ownership, store, replies, dead: false };
    this.replicas.push(self);
    ownership.open(DOC);
    return self;
  }

  async stop(): Promise<void> {
    for (const r of this.replicas) await r.ownership.stop();
  }
}

function submit(replica: Replica, sub: Submission): Promise<Ack> {
  return new Promise((resolve, reject) => replica.ownership.submit(replica.engine, sub, { acked: (ack) => resolve(ack), rejected: reject }));
}

const insert = (actor: string, seq: number, rev: number, text: string): Submission => ({ actor, seq, baseRev: rev, ops: [{ type: 'insert', pos: 0, text }], userId: 'u' });

let network: Network | undefined;
afterEach(async () => {
  await network?.stop();
  network = undefined;
});

/** Three replicas on one log, joined in turn so that the first one owns the document. */
async function threeReplicas(): Promise<{ net: Network; log: MemoryOpLog; a: Replica; b: Replica; c: Replica }> {
  const log = new MemoryOpLog();
  const net = new Network(log);
  network = net;
  const a = await net.add();
  await sleep(20);
  const b = await net.add();
  const c = await net.add();
  await sleep(20);
  return { net, log, a, b, c };
}

describe('document ownership between replicas', () => {
  it('only the owner appends; the others forward, and every change is acked once at its place in the log', async () => {
    const { net, log, a, b, c } = await threeReplicas();
    expect(net.leases.owner).toBe(a.id);
    const acks: Promise<Ack>[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      for (const [i, r] of [a, b, c].entries()) acks.push(submit(r, insert(`actor-${i}`, seq, r.engine.headRev, `${i}.${seq};`)));
      await sleep(5);
    }
    const answered = await Promise.all(acks);
    await sleep(20);
    expect(log.changes.get(DOC)?.length).toBe(15);
    expect(new Set(answered.map((ack) => ack.rev)).size).toBe(15);
    expect(b.store.appends).toBe(0);
    expect(c.store.appends).toBe(0);
    expect(a.store.appends).toBeGreaterThan(0);
    for (const r of [a, b, c]) expect(r.engine.state).toEqual(a.engine.state);
  });

  it('the owner sends no ack message for a change the forwarder receives on the channel; it answers empty changes and duplicates', async () => {
    const { a, b } = await threeReplicas();
    const first = await submit(b, insert('actor-b', 1, 0, 'b;'));
    expect(first).toEqual({ seq: 1, rev: 0, count: 1 });
    expect(a.replies).toEqual([]);
    // A resend of it (the client reconnected before its ack): not published again, so answered.
    expect(await submit(b, insert('actor-b', 1, 0, 'b;'))).toEqual(first);
    // A change that transforms into nothing is not published either.
    await submit(a, { actor: 'actor-a', seq: 1, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 2 }], userId: 'u' });
    // Made against revision 1, concurrent with that delete: it transforms into nothing.
    const empty = await submit(b, { actor: 'actor-b', seq: 2, baseRev: 1, ops: [{ type: 'delete', pos: 0, len: 1 }], userId: 'u' });
    expect(empty.count).toBe(0);
    expect(a.replies.map((r) => (r.kind === 'ack' ? { count: r.count, duplicate: r.duplicate } : r.kind))).toEqual([
      { count: 1, duplicate: true },
      { count: 0, duplicate: false },
    ]);
    expect(b.engine.state).toEqual(a.engine.state);
  });

  it('the owner dies with forwarded changes unanswered: the next owner commits each once', async () => {
    const { net, log, a, b, c } = await threeReplicas();
    // A is gone (kill -9): nothing it is sent arrives, it releases nothing, its lease runs out.
    a.dead = true;
    net.leases.unreachable.add(a.id);
    await a.ownership.stop();
    const acks = [submit(b, insert('actor-b', 1, 0, 'b;')), submit(c, insert('actor-c', 1, 0, 'c;'))];
    const answered = await Promise.all(acks);
    expect([b.id, c.id]).toContain(net.leases.owner);
    expect(log.changes.get(DOC)?.map((ch) => ch.actor).sort()).toEqual(['actor-b', 'actor-c']);
    expect(answered.map((ack) => ack.count)).toEqual([1, 1]);
    // A resend of an answered change (the client reconnected) is answered by actor and seq, not applied again.
    const again = await submit(b, insert('actor-c', 1, 0, 'c;'));
    expect(again).toEqual(answered[1]);
    expect(log.changes.get(DOC)?.length).toBe(2);
  });

  it('an owner that cannot reach Redis holds changes after its lease ran out, then commits them itself', async () => {
    const log = new MemoryOpLog();
    const ttlMs = 400;
    network = new Network(log, ttlMs);
    const a = await network.add();
    await sleep(20);
    network.leases.unreachable.add(a.id);
    // Past the lease (renewed at most a fifth of it before) and one renewal period: fenced.
    await sleep(ttlMs + 2 * (ttlMs / 5));
    // Lease gone, fence not over: nothing is acked.
    let acked = false;
    const ack = submit(a, insert('actor-a', 1, 0, 'a;')).then((x) => {
      acked = true;
      return x;
    });
    await sleep(20);
    expect(acked).toBe(false);
    expect(a.ownership.roleOf(DOC)).toBe('fenced');
    // After one more lifetime it commits (PostgreSQL orders).
    expect((await ack).count).toBe(1);
    expect(a.ownership.roleOf(DOC)).toBe('fallback');
  });

  it('an owner whose renewals go unanswered holds changes from the moment its lease ends, not when a renewal times out', async () => {
    const log = new MemoryOpLog();
    const ttlMs = 400;
    network = new Network(log, ttlMs);
    const a = await network.add();
    await sleep(20);
    network.leases.silent.add(a.id);
    // Just past the lease: the renewal sent after the cut has not timed out yet (half a lifetime).
    await sleep(ttlMs + 40);
    let acked = false;
    void submit(a, insert('actor-a', 1, 0, 'a;')).then(() => (acked = true));
    await sleep(20);
    expect(a.ownership.roleOf(DOC)).toBe('fenced');
    expect(acked).toBe(false);
    expect(log.changes.get(DOC) ?? []).toEqual([]);
  });
});

describe('a change waiting on one replica that another replica committed', () => {
  it('is answered with that commit, applied once, and its submitters are the change\'s authors (not sent their own change)', async () => {
    const log = new MemoryOpLog();
    // Appends wait at a gate: the change is in flight here while the owner commits it.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let appending = 0;
    const store = counted(log);
    const gated: OpLogStore = {
      ...store,
      append: async (d, changes) => {
        appending++;
        await gate;
        await log.append(d, changes);
      },
    };
    const seen: { change: CommittedChange; origins: number; local: boolean }[] = [];
    const engine = await DocumentEngine.load(
      DOC,
      gated,
      {
        applied: (_doc, change, origins, local) => {
          seen.push({ change, origins: origins.length, local });
          for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
        },
      },
      testEngineOptions(),
    );
    const answers: { ack: Ack; duplicate: boolean }[] = [];
    engine.submit(insert('actor-x', 1, 0, 'x'), { acked: (ack, duplicate) => answers.push({ ack, duplicate }), rejected: () => answers.push({ ack: { seq: 0, rev: -1, count: 0 }, duplicate: false }) });
    while (appending === 0) await sleep(5);
    // Meanwhile the owner committed the same change (it had been forwarded there).
    await log.append(DOC, [{ rev: 0, ops: [{ type: 'insert', pos: 0, text: 'x' }], actor: 'actor-x', seq: 1, userId: 'u', committedAt: Date.now() }]);
    open();
    await engine.whenIdle();
    expect(log.changes.get(DOC)?.length).toBe(1);
    expect(answers).toEqual([{ ack: { seq: 1, rev: 0, count: 1 }, duplicate: false }]);
    expect(seen).toEqual([{ change: expect.objectContaining({ actor: 'actor-x', seq: 1 }), origins: 1, local: false }]);
    expect(engine.headRev).toBe(1);
  });

  it('renews every lease of a replica in one claim per renewal period, and answers each document with its own holder', async () => {
    network = new Network(new MemoryOpLog());
    const a = await network.add();
    const b = await network.add();
    const docs = Array.from({ length: 200 }, () => randomUUID());
    for (const docId of docs.slice(0, 120)) a.ownership.open(docId);
    await sleep(20);
    for (const docId of docs.slice(80)) b.ownership.open(docId);
    await sleep(20);
    const before = network.leases.calls.get(a.id) ?? 0;
    // Five renewal periods (a fifth of the lease each).
    await sleep(TTL_MS);
    const renewals = (network.leases.calls.get(a.id) ?? 0) - before;
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(renewals).toBeLessThanOrEqual(7);
    for (const docId of docs.slice(0, 120)) expect(network.leases.ownerOf(docId)).toBe(a.id);
    for (const docId of docs.slice(120)) expect(network.leases.ownerOf(docId)).toBe(b.id);
    for (const docId of docs.slice(80, 120)) expect(b.ownership.roleOf(docId)).toBe('follower');
    for (const docId of docs.slice(120)) expect(b.ownership.roleOf(docId)).toBe('owner');
  });
});
