import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { channelOf } from '../../src/bus/redis-wire.js';
import { conflictsOf, expectConverged, replicasForSuite, startClients, typeSteadily } from '../support/replicas.js';

const databaseUrl = inject('databaseUrl');
const redisUrl = inject('redisUrl');

describe('BUS_BATCH_CHANGES: an owner publishes each commit batch as one message', () => {
  const suite = replicasForSuite(3, () => ({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, BUS_BATCH_CHANGES: '1' }));
  const { clients } = suite;

  it('a hot document with writers on three replicas converges, and its commit batches went over Redis as batches', async () => {
    const doc = randomUUID();
    const listener = new Redis(redisUrl);
    const kinds = new Map<string, number>();
    let changesCarried = 0;
    listener.on('message', (_channel: string, text: string) => {
      const message = JSON.parse(text) as { kind?: string; changes?: unknown[] };
      const kind = message.kind ?? '?';
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (kind === 'changes') changesCarried += message.changes?.length ?? 0;
    });
    await listener.subscribe(channelOf(doc));
    try {
      const writers = await startClients(suite.set.relays, [doc], 12, 'batch');
      clients.push(...writers);
      const conflictsBefore = await conflictsOf(suite.set.relays);
      // Short pauses: changes arrive during commits, so batches hold several.
      await typeSteadily(writers, 4000, 21, 20);
      await expectConverged(writers, databaseUrl);
      expect(await conflictsOf(suite.set.relays)).toBe(conflictsBefore);
      for (const w of writers) expect(w.errors).toEqual([]);
      expect(kinds.get('changes') ?? 0).toBeGreaterThan(0);
      // A batch holds at least two changes (one goes in the single form).
      expect(changesCarried).toBeGreaterThanOrEqual(2 * (kinds.get('changes') ?? 0));
    } finally {
      listener.disconnect();
    }
  });
});
