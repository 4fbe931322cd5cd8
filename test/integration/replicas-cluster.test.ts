import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ownerKey } from '../../src/bus/redis-wire.js';
import type { OtClient } from '../support/ot-client.js';
import { startTestRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { expectConverged, replicaIdOf, startClients, startReplicas, typeSteadily, type ReplicaSet } from '../support/replicas.js';

const databaseUrl = inject('databaseUrl');
const strings = (reply: unknown): string[] => (Array.isArray(reply) ? reply.filter((x): x is string => typeof x === 'string') : []);

describe('replicas over a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let set: ReplicaSet;
  const clients: OtClient[] = [];

  beforeAll(async () => {
    cluster = await startTestRedisCluster();
    set = await startReplicas(2, { DATABASE_URL: databaseUrl, REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') });
  });
  afterAll(async () => {
    for (const c of clients) c.stop();
    await set?.stop();
    await cluster?.stop();
  });

  it('documents are fanned out with sharded pub/sub (no classic channels), owned, and converge', async () => {
    const docs = [randomUUID(), randomUUID(), randomUUID()];
    const writers = await startClients(set.relays, docs, 12, 'cl');
    clients.push(...writers);
    await typeSteadily(writers, 4000, 51);
    await expectConverged(writers, databaseUrl);
    for (const w of writers) expect(w.errors).toEqual([]);

    const shardChannels: string[] = [];
    const classicChannels: string[] = [];
    for (const node of cluster.nodes) {
      const redis = new Redis(node.port, node.host);
      try {
        shardChannels.push(...strings(await redis.call('PUBSUB', 'SHARDCHANNELS')));
        classicChannels.push(...strings(await redis.call('PUBSUB', 'CHANNELS')));
      } finally {
        redis.disconnect();
      }
    }
    expect(classicChannels).toEqual([]);
    for (const doc of docs) expect(shardChannels).toContain(`relay:doc:${doc}`);
    // Channels live on the node of their slot: more than one node carries documents.
    const ids = set.relays.map(replicaIdOf);
    const reader = new Cluster(cluster.nodes);
    try {
      for (const doc of docs) expect(ids).toContain(await reader.get(ownerKey(doc)));
    } finally {
      reader.disconnect();
    }
  });
});
