import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/bus/redis-clients.js';
import { TurnWrites } from '../../src/bus/redis-turn-writes.js';
import { freePort } from '../support/ports.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

/**
 * A proxy to Redis that can hold Redis's answers (they reach the client only when released),
 * and counts the chunks the client's commands arrive in.
 */
interface AnswerHoldingProxy {
  readonly port: number;
  readonly chunks: Buffer[];
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

async function startAnswerHoldingProxy(redisPort: number): Promise<AnswerHoldingProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const chunks: Buffer[] = [];
  let holding = false;
  const held: { to: Socket; data: Buffer }[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (data) => {
      chunks.push(data);
      upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (holding) held.push({ to: client, data });
      else client.write(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    chunks,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const { to, data } of held.splice(0)) to.write(data);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("the bus publisher's writes (one Redis)", () => {
  let redis: TestRedis;
  let proxy: AnswerHoldingProxy;
  let listener: Redis;
  const received: string[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    proxy = await startAnswerHoldingProxy(redis.port);
    listener = new Redis(redis.url);
    listener.on('message', (_channel: string, text: string) => received.push(text));
    await listener.subscribe('turn-writes');
  });

  afterAll(async () => {
    listener.disconnect();
    await proxy.close();
    await redis.stop();
  });

  it('sends a publication at once even while earlier ones are unanswered, a turn\'s commands in one write', async () => {
    const publisher = createRedisClient({ kind: 'url', url: `redis://127.0.0.1:${proxy.port}` }, 'publisher');
    await publisher.connect();
    const turns = new TurnWrites(publisher);
    try {
      proxy.hold();
      const before = proxy.chunks.length;
      const answers: Promise<number>[] = [];
      turns.batch();
      for (const text of ['a1', 'a2', 'a3']) answers.push(publisher.publish('turn-writes', text));
      await nextTurn();
      await expect.poll(() => proxy.chunks.length).toBe(before + 1);
      // Redis has not answered these yet: the next turn's publication must not wait for that.
      turns.batch();
      answers.push(publisher.publish('turn-writes', 'b1'));
      await expect.poll(() => received, { timeout: 5000 }).toEqual(['a1', 'a2', 'a3', 'b1']);
      proxy.release();
      expect(await Promise.all(answers)).toEqual([1, 1, 1, 1]);
    } finally {
      proxy.release();
      publisher.disconnect();
    }
  });
});
