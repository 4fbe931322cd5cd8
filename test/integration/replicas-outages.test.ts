import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OtClient } from '../support/ot-client.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { expectConverged, randomActivity, startClients, startReplicas, type ReplicaSet } from '../support/replicas.js';
import { getJson, type RelayProcess } from '../support/relay-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ackCount = (clients: readonly OtClient[]) => clients.reduce((n, c) => n + c.acked.size, 0);

async function readiness(relay: RelayProcess | undefined): Promise<{ status: number; body: unknown }> {
  if (!relay) throw new Error('no relay');
  return getJson(`${relay.url}/ready`);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Its own Redis and PostgreSQL: these tests stop and restart them. */
describe('Redis and PostgreSQL outages under two replicas', () => {
  let pg: TestPostgres;
  let redis: TestRedis;
  let set: ReplicaSet;
  const clients: OtClient[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startTestPostgres(), startTestRedis()]);
    set = await startReplicas(2, { DATABASE_URL: pg.url, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    for (const c of clients) c.stop();
    await set?.stop();
    await Promise.all([pg?.destroy(), redis?.stop()]);
  });

  it('Redis down: replicas keep committing their own clients, readiness fails, and after it returns everything converges', async () => {
    const docs = [randomUUID(), randomUUID()];
    const mine = await startClients(set.relays, docs, 8, 'r');
    clients.push(...mine);
    const activity = randomActivity(mine, 9000, 5);
    await sleep(2000);
    await redis.stop();
    await until('readiness to report redis', async () => {
      const r = await readiness(set.relays[0]);
      return r.status === 503 && (r.body as { checks?: { redis?: string } }).checks?.redis === 'error';
    });
    // Local clients are still served: acks keep coming without Redis.
    const before = ackCount(mine);
    await sleep(2000);
    expect(ackCount(mine)).toBeGreaterThan(before);
    await redis.restart();
    await until('readiness to recover', async () => (await readiness(set.relays[0])).status === 200);
    await activity;
    await expectConverged(mine, pg.url);
    for (const c of mine) expect(c.errors).toEqual([]);
    // Presence survived the empty restarted Redis: each client knows every other one's session.
    await until('presence restored', async () =>
      mine.every((c) => mine.every((o) => o === c || o.docId !== c.docId || c.presence.get(o.session ?? '') === o.user)),
    );
    // A client joining now sees everyone through Redis, on both replicas.
    const late = await startClients(set.relays, [docs[0] ?? ''], 1, 'late');
    clients.push(...late);
    const users = mine.filter((c) => c.docId === docs[0]).map((c) => c.user);
    expect([...(late[0]?.seenUsers ?? [])].sort()).toEqual(users.sort());
  });

  it('PostgreSQL down: nothing is acked, readiness fails; when it returns pending changes commit and all converge', async () => {
    const docs = [randomUUID()];
    const mine = await startClients(set.relays, docs, 6, 'p');
    clients.push(...mine);
    const activity = randomActivity(mine, 9000, 9);
    await sleep(2000);
    await pg.stop();
    await until('readiness to report the database', async () => {
      const r = await readiness(set.relays[1]);
      return r.status === 503 && (r.body as { checks?: { database?: string } }).checks?.database === 'error';
    });
    await sleep(500);
    const before = ackCount(mine);
    await sleep(2500);
    expect(ackCount(mine)).toBe(before);
    expect(mine.some((c) => !c.settled)).toBe(true);
    await pg.restart();
    await until('readiness to recover', async () => (await readiness(set.relays[1])).status === 200, 30_000);
    await activity;
    await expectConverged(mine, pg.url, 45_000);
    expect(ackCount(mine)).toBeGreaterThan(before);
    for (const c of mine) expect(c.errors).toEqual([]);
  });
});
