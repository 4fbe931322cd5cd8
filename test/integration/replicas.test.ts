import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { readOpLog } from '../support/oplog.js';
import { expectConverged, randomActivity, replicasForSuite, startClients } from '../support/replicas.js';
import { getJson } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');
const redisUrl = inject('redisUrl');

describe('replicas over Redis', () => {
  const suite = replicasForSuite(3, () => ({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }));
  const { clients } = suite;

  it('logs the Redis bus and reports Redis in readiness', async () => {
    const relay = suite.set.relays[0];
    if (!relay) throw new Error('no relay');
    expect(relay.output()).toContain('"bus: Redis pub/sub"');
    const ready = await getJson(`${relay.url}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ checks: { redis: 'ok' } });
  });

  it('30 clients on 3 replicas and 3 documents converge to the op log, and see each other', async () => {
    const docs = [randomUUID(), randomUUID(), randomUUID()];
    clients.push(...(await startClients(suite.set.relays, docs, 30)));
    await randomActivity(clients, 8000, 1234);
    await expectConverged(clients, databaseUrl);
    for (const c of clients) {
      const others = clients.filter((o) => o !== c && o.docId === c.docId).map((o) => o.user);
      expect([...c.seenUsers].sort()).toEqual(expect.arrayContaining(others.sort()));
      expect(c.errors).toEqual([]);
      // A client the relay found too slow to read its frames is closed (4008, or 1006 when uWS
      // hits the backpressure limit inside a topic publish) and resumes from its clock: allowed,
      // since everyone still converged above. Any other close is a defect.
      expect(c.closes.filter((close) => !/^(1006|4008) /.test(close))).toEqual([]);
    }
    const slowCloses = clients.flatMap((c) => c.closes);
    if (slowCloses.length > 0) console.log(`slow-consumer closes during the run (clients resumed): ${slowCloses.join(', ')}`);
    // Every document had writers on every replica.
    for (const doc of docs) {
      expect(new Set(clients.filter((c) => c.docId === doc).map((c) => c.relayIndex)).size).toBe(3);
    }
  });

  it('two replicas committing to one hot document as fast as they can: every revision once, every op once', async () => {
    const doc = randomUUID();
    const pair = suite.set.relays.slice(0, 2);
    const writers = await startClients(pair, [doc], 6, 'hot');
    clients.push(...writers);
    // No pause between changes: each writer sends its next change as soon as the last is acked.
    const deadline = Date.now() + 6000;
    let i = 0;
    await Promise.all(
      writers.map(async (w) => {
        while (Date.now() < deadline) {
          w.localChange([{ type: 'insert', pos: 0, text: `${w.user}.${i++};` }]);
          const before = w.acked.size;
          while (w.acked.size === before && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 1));
        }
      }),
    );
    await expectConverged(writers, databaseUrl);
    const log = await readOpLog(databaseUrl, doc);
    const acked = writers.reduce((n, w) => n + w.acked.size, 0);
    expect(acked).toBeGreaterThan(100);
    // Each change was one insert: as many rows as acked changes, each text exactly once.
    expect(log.revisions.length).toBe(acked);
    for (const w of writers) expect(w.errors).toEqual([]);
  });
});
