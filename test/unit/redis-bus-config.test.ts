import { describe, expect, it } from 'vitest';
import { createRedisClient, describeRedisTarget, redisTargetOf } from '../../src/bus/redis-clients.js';
import { changeOf, channelOf, decodeEnvelope, docOfChannel, encodeChange, encodeLeft, encodePresence } from '../../src/bus/redis-wire.js';
import { loadConfig } from '../../src/config.js';

describe('Redis configuration', () => {
  it('picks a URL, sentinels or cluster nodes, and never two', () => {
    expect(redisTargetOf(loadConfig({}))).toBeUndefined();
    expect(redisTargetOf(loadConfig({ DEV_AUTH: '1', REDIS_URL: 'redis://:secret@h:6379/0' }))).toEqual({ kind: 'url', url: 'redis://:secret@h:6379/0' });
    expect(redisTargetOf(loadConfig({ DEV_AUTH: '1', REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'relay', REDIS_PASSWORD: 'pw' }))).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'relay',
      password: 'pw',
    });
    expect(redisTargetOf(loadConfig({ DEV_AUTH: '1', REDIS_CLUSTER_NODES: 'c1:7000,c2:7001' }))).toMatchObject({ kind: 'cluster', nodes: [{ host: 'c1', port: 7000 }, { host: 'c2', port: 7001 }] });
    expect(() => loadConfig({ REDIS_URL: 'redis://h:6379', REDIS_CLUSTER_NODES: 'c1:7000' })).toThrow(/set only one of REDIS_URL, REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({ REDIS_SENTINELS: 's1' })).toThrow(/REDIS_SENTINELS must be a comma-separated list of host:port/);
  });

  it('production accepts sentinels or cluster nodes in place of REDIS_URL', () => {
    const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', JWT_PUBLIC_KEY_URL: 'https://id.example/jwks.json' };
    expect(() => loadConfig(base)).toThrow(/REDIS_URL is required/);
    expect(loadConfig({ ...base, REDIS_SENTINELS: 's1:26379' }).redisSentinels).toEqual([{ host: 's1', port: 26379 }]);
    expect(loadConfig({ ...base, REDIS_CLUSTER_NODES: 'c1:7000' }).redisClusterNodes).toEqual([{ host: 'c1', port: 7000 }]);
  });

  it("auto-pipelines only a Cluster's publisher (on one Redis the bus batches its writes itself: redis-turn-writes.ts)", () => {
    const target = { kind: 'url', url: 'redis://127.0.0.1:1' } as const;
    const publisher = createRedisClient(target, 'publisher');
    const subscriber = createRedisClient(target, 'subscriber');
    const cluster = createRedisClient({ kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }], password: undefined }, 'publisher');
    expect(publisher.options.enableAutoPipelining).toBe(false);
    expect(subscriber.options.enableAutoPipelining).toBe(false);
    expect(cluster.options.enableAutoPipelining).toBe(true);
    publisher.disconnect();
    subscriber.disconnect();
    cluster.disconnect();
  });

  it('describes the target without credentials', () => {
    expect(describeRedisTarget({ kind: 'url', url: 'redis://user:secret@h:6379/2' })).toBe('redis://h:6379/2');
    expect(describeRedisTarget({ kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }], name: 'm', password: 'secret' })).not.toContain('secret');
  });
});

describe('Redis wire format', () => {
  const doc = '5f0c3a1e-7d1b-4b8e-9a51-3a2f1c0d9e77';

  it('round-trips changes, presence and departures with the sender', () => {
    expect(docOfChannel(channelOf(doc))).toBe(doc);
    const change = { rev: 4, ops: [{ type: 'insert' as const, pos: 1, text: 'hi', attrs: { bold: true } }], actor: 'a', seq: 2, userId: 'u', committedAt: 123 };
    const c = decodeEnvelope(encodeChange('r1', change));
    expect(c?.from).toBe('r1');
    expect(c?.kind === 'change' && changeOf(c)).toEqual(change);
    const state = { session: 's', user: { id: 'u', name: 'U', color: '#fff' }, selection: { anchor: 1, head: 2 }, typing: true };
    expect(decodeEnvelope(encodePresence({ docId: doc, rev: 3, replica: 'r2', state }))).toEqual({ v: 1, from: 'r2', kind: 'presence', rev: 3, state });
    expect(decodeEnvelope(encodeLeft('r3', 's'))).toEqual({ v: 1, from: 'r3', kind: 'left', session: 's' });
  });

  it('drops what it does not understand', () => {
    expect(decodeEnvelope('not json')).toBeUndefined();
    expect(decodeEnvelope(JSON.stringify({ v: 2, from: 'r', kind: 'left', session: 's' }))).toBeUndefined();
    expect(docOfChannel('other:doc:x')).toBeUndefined();
  });
});
