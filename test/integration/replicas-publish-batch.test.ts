import { afterEach, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { BusHandlers } from '../../src/bus/bus.js';
import { RedisBus } from '../../src/bus/redis.js';
import { createRedisClient } from '../../src/bus/redis-clients.js';
import { PublishBatcher } from '../../src/bus/redis-publish-batch.js';
import { channelOf, decodeEnvelope } from '../../src/bus/redis-wire.js';

const redisUrl = inject('redisUrl');

const until = async (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

const handlers: BusHandlers = {
  change: () => undefined,
  presence: () => undefined,
  presenceLeft: () => undefined,
  resync: () => undefined,
  dropReplicaPresence: () => 0,
  ownPresence: () => [],
  remoteSessions: () => [],
  forwarded: () => undefined,
  replied: () => undefined,
};

describe("the bus's publications (a real Redis)", () => {
  const opened: Redis[] = [];
  afterEach(() => {
    for (const c of opened.splice(0)) c.disconnect();
  });

  async function connected(): Promise<{ publisher: Redis; received: string[]; channel: string }> {
    const channel = `relay:test:batch:${Math.random().toString(36).slice(2)}`;
    const client = createRedisClient({ kind: 'url', url: redisUrl }, 'publisher');
    if (!(client instanceof Redis)) throw new Error('one Redis expected');
    const subscriber = new Redis(redisUrl);
    opened.push(client, subscriber);
    await client.connect();
    const received: string[] = [];
    subscriber.on('message', (_channel: string, text: string) => received.push(text));
    await subscriber.subscribe(channel);
    return { publisher: client, received, channel };
  }

  it("publishes a replica's changes without waiting for Redis to answer the ones before (a forwarded change crosses Redis twice)", async () => {
    const doc = `batch-${Math.random().toString(36).slice(2)}`;
    const publisher = createRedisClient({ kind: 'url', url: redisUrl }, 'publisher');
    const subscriber = createRedisClient({ kind: 'url', url: redisUrl }, 'subscriber');
    if (!(publisher instanceof Redis)) throw new Error('one Redis expected');
    const bus = new RedisBus({ replicaId: 'r-batch', publisher, subscriber, livenessPeriodMs: 60_000, heartbeatTtlMs: 120_000, log: pino({ level: 'silent' }), leaseTtlMs: 5000 });
    const listener = new Redis(redisUrl);
    opened.push(listener);
    const received: number[] = [];
    listener.on('message', (_channel: string, text: string) => {
      const e = decodeEnvelope(text);
      if (e?.kind === 'change') received.push(e.seq);
    });
    await listener.subscribe(channelOf(doc));
    await bus.start(handlers);
    try {
      const change = (seq: number) => ({ rev: seq - 1, ops: [{ type: 'insert' as const, pos: 0, text: 'x' }], actor: 'a', seq, userId: 'u', committedAt: Date.now() });
      bus.publishChange(doc, change(1));
      await until('the first change delivered', () => received.length === 1);
      bus.publishChange(doc, change(2));
      await nextTurn();
      // From here on this replica reads none of Redis's answers (as when its event loop is busy
      // elsewhere): publications of later turns must leave all the same.
      publisher.stream.pause();
      await nextTurn();
      bus.publishChange(doc, change(3));
      bus.publishChange(doc, change(4));
      await until('every change delivered', () => received.length === 4);
      expect(received).toEqual([1, 2, 3, 4]);
    } finally {
      publisher.stream.resume();
      await bus.close();
    }
  });

  it('sends the publications of one turn together, in order, once the turn ends', async () => {
    const { publisher, received, channel } = await connected();
    const batcher = new PublishBatcher({ client: publisher, sharded: false, failed: () => undefined });
    for (let i = 0; i < 50; i++) batcher.publish(channel, String(i));
    expect(batcher.queued).toBe(50);
    await nextTurn();
    expect(batcher.queued).toBe(0);
    await until('every publication delivered', () => received.length === 50);
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('reports publications that could not leave (Redis away) instead of queueing them', async () => {
    const client = createRedisClient({ kind: 'url', url: 'redis://127.0.0.1:1' }, 'publisher');
    if (!(client instanceof Redis)) throw new Error('one Redis expected');
    opened.push(client);
    client.on('error', () => undefined);
    let failed = 0;
    const batcher = new PublishBatcher({ client, sharded: false, failed: (_err, count) => (failed += count) });
    batcher.publish('relay:test:nowhere', 'a');
    batcher.publish('relay:test:nowhere', 'b');
    await until('both reported', () => failed === 2);
  });
});
