import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OtClient } from '../support/ot-client.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { expectConverged, randomActivity, startClients, startReplicas, type ReplicaSet } from '../support/replicas.js';
import { getJson } from '../support/relay-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 8.2: 3 replicas, 24 writers on 4 documents, PostgreSQL stopped for 10 s. Every change
 * pending when PostgreSQL accepts connections again is acked within 5 s of that moment (the
 * relay used to sit out postgres.js's reconnect backoff, up to 20 s, and its own 5 s retry).
 */
describe('PostgreSQL returns after an outage under load', () => {
  let pg: TestPostgres;
  let redis: TestRedis;
  let set: ReplicaSet;
  let clients: OtClient[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startTestPostgres(), startTestRedis()]);
    set = await startReplicas(3, { DATABASE_URL: pg.url, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    for (const c of clients) c.stop();
    await set?.stop();
    await Promise.all([pg?.destroy(), redis?.stop()]);
  });

  it('acks every pending change within 5 s of PostgreSQL accepting connections, and readiness says so meanwhile', async () => {
    const docs = Array.from({ length: 4 }, () => randomUUID());
    clients = await startClients(set.relays, docs, 24, 'w');
    const activity = randomActivity(clients, 18_000, 81);
    await sleep(2000);
    await pg.stop();
    const downAt = Date.now();
    // Readiness reports the database on every replica while commits fail.
    for (const relay of set.relays) {
      for (;;) {
        const r = await getJson(`${relay.url}/ready`);
        if (r.status === 503 && (r.body as { checks?: { database?: string } }).checks?.database === 'error') break;
        expect(Date.now() - downAt).toBeLessThan(10_000);
        await sleep(100);
      }
    }
    // Probes keep coming, as from a kubelet: each one is a failed connection attempt, which is
    // what grew postgres.js's shared reconnect backoff to its 20 s ceiling.
    let probing = true;
    const probes = Promise.all(
      set.relays.map(async (relay) => {
        while (probing) {
          await getJson(`${relay.url}/ready`).catch(() => undefined);
          await sleep(250);
        }
      }),
    );
    await sleep(Math.max(0, 10_000 - (Date.now() - downAt)));
    await pg.restart();
    const backAt = Date.now();
    probing = false;
    await probes;
    const pending = clients.flatMap((c) => (c.inflightSeq === undefined ? [] : [{ client: c, seq: c.inflightSeq }]));
    expect(pending.length).toBeGreaterThan(0);
    const deadline = backAt + 60_000;
    while (pending.some((p) => !p.client.ackedAt.has(p.seq)) && Date.now() < deadline) await sleep(50);
    const waits = pending.map((p) => (p.client.ackedAt.get(p.seq) ?? Infinity) - backAt);
    const worst = Math.max(...waits);
    console.log(`PostgreSQL recovery: ${pending.length} pending changes, last acked ${worst} ms after PostgreSQL accepted connections again`);
    expect(worst).toBeLessThanOrEqual(5000);
    await activity;
    await expectConverged(clients, pg.url, 60_000);
    for (const c of clients) expect(c.errors).toEqual([]);
  });
});
