import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OtClient } from '../support/ot-client.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import type { RelayProcess } from '../support/relay-process.js';
import { conflictsOf, expectConverged, ownerOf, startClients, startReplicas, typeSteadily, type ReplicaSet } from '../support/replicas.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const databaseUrl = inject('databaseUrl');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ackCount = (clients: readonly OtClient[]) => clients.reduce((n, c) => n + c.acked.size, 0);
const LEASE_MS = 1500;

const instant = z.string().transform((iso) => Date.parse(iso));
const FenceLine = z.object({ time: instant, leaseEndedAt: instant, holdingUntil: instant });

/** The cut-off owner's log line saying its lease ended (the first one, for the one document it has). */
function fenceOf(output: string): { loggedAt: number; leaseEndedAt: number; holdingUntil: number } {
  const line = output.split('\n').find((l) => l.includes('document lease expired without renewal'));
  if (!line) throw new Error('the cut-off replica never said its lease expired');
  const parsed = FenceLine.parse(JSON.parse(line));
  return { loggedAt: parsed.time, leaseEndedAt: parsed.leaseEndedAt, holdingUntil: parsed.holdingUntil };
}

/** Its own Redis (restarted here); replica 0 reaches it through a proxy the test can cut. */
describe('document ownership when Redis goes away', () => {
  let redis: TestRedis;
  let proxy: TcpProxy;
  let set: ReplicaSet;
  const clients: OtClient[] = [];

  const waitForOwner = async (relays: readonly RelayProcess[], doc: string, timeoutMs = 15_000): Promise<RelayProcess> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const owner = await ownerOf(redis.url, relays, doc).catch(() => undefined);
      if (owner) return owner;
      if (Date.now() > deadline) throw new Error(`no replica in ${relays.length} took ownership of ${doc}`);
      await sleep(100);
    }
  };

  beforeAll(async () => {
    redis = await startTestRedis();
    proxy = await startTcpProxy(redis.port);
    set = await startReplicas(2, { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, DOCUMENT_LEASE_MS: String(LEASE_MS) });
    await set.add({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  });
  afterAll(async () => {
    for (const c of clients) c.stop();
    await set?.stop();
    await proxy?.close();
    await redis?.stop();
  });

  it('Redis stopped and restarted: commits go on (PostgreSQL orders), then one owner again and no more rollbacks', async () => {
    const doc = randomUUID();
    const writers = await startClients(set.relays, [doc], 6, 'rs');
    clients.push(...writers);
    await waitForOwner(set.relays, doc);
    const typing = typeSteadily(writers, 14_000, 31);
    await sleep(2000);
    await redis.stop();
    // Past the lease and the fence: every replica commits its own clients' changes.
    await sleep(2 * LEASE_MS + 1000);
    const during = ackCount(writers);
    await sleep(1500);
    expect(ackCount(writers)).toBeGreaterThan(during);
    await redis.restart();
    const owner = await waitForOwner(set.relays, doc);
    // Every replica has heard from the new Redis (resubscribed, followed the owner).
    await sleep(2000);
    const conflictsBefore = await conflictsOf(set.relays);
    const acksBefore = ackCount(writers);
    await sleep(3000);
    expect(await conflictsOf(set.relays)).toBe(conflictsBefore);
    expect(ackCount(writers)).toBeGreaterThan(acksBefore);
    await typing;
    await expectConverged(writers, databaseUrl);
    expect(await ownerOf(redis.url, set.relays, doc)).toBe(owner);
    for (const w of writers) {
      expect(w.errors).toEqual([]);
      expect(w.duplicates).toEqual([]);
    }
  });

  it('the owner cut off from Redis but not PostgreSQL: it stops acking once its lease is gone, another replica takes over, nothing is lost', async () => {
    const doc = randomUUID();
    const cutOff = set.relays[2];
    if (!cutOff) throw new Error('no relay');
    // Its first client makes the proxied replica the owner.
    const first = await startClients([cutOff], [doc], 1, 'cut-first');
    await waitForOwner(set.relays, doc).then((owner) => expect(owner).toBe(cutOff));
    const others = await startClients(set.relays, [doc], 6, 'cut');
    const writers = [...first, ...others];
    clients.push(...writers);
    const onCutOff = writers.filter((w) => w.relayIndex === 2);
    const typing = typeSteadily(writers, 12_000, 41);
    await sleep(2000);
    const cutAt = Date.now();
    proxy.cut();
    const successor = await waitForOwner(set.relays.slice(0, 2), doc);
    console.log(`another replica owns the document ${Date.now() - cutAt} ms after the owner lost Redis`);
    await sleep(Math.max(0, cutAt + 2 * LEASE_MS + 500 - Date.now()));
    // The cut-off replica says when its lease ended and until when it holds changes.
    const fence = fenceOf(cutOff.output());
    expect(fence.holdingUntil - fence.leaseEndedAt).toBe(LEASE_MS);
    expect(fence.leaseEndedAt).toBeLessThanOrEqual(cutAt + LEASE_MS);
    // From then (plus time for a commit already under way to be answered) until the hold ends,
    // the cut-off replica acks nothing: the new owner's commits come first.
    const from = Math.max(fence.leaseEndedAt, fence.loggedAt) + 300;
    const fenced = onCutOff.flatMap((w) => [...w.ackedAt.values()]).filter((t) => t > from && t < fence.holdingUntil - 50);
    expect(fence.holdingUntil - 50 - from).toBeGreaterThan(500);
    expect(fenced).toEqual([]);
    await sleep(3000);
    proxy.heal();
    await typing;
    await expectConverged(writers, databaseUrl);
    expect(await ownerOf(redis.url, set.relays, doc)).toBe(successor);
    for (const w of writers) {
      expect(w.errors).toEqual([]);
      expect(w.duplicates).toEqual([]);
    }
  });
});
