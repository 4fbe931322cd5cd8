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
  /** Drops every connection (Redis's held answers with them). */
  cut(): void;
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
    cut: () => {
      held.length = 0;
      for (const s of sockets) s.destroy();
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

  /** A publisher whose socket passes through the proxy, and its turn writes to one channel. */
  async function publisherThroughProxy() {
    const publisher = createRedisClient({ kind: 'url', url: `redis://127.0.0.1:${proxy.port}` }, 'publisher');
    // A cut connection reports an error; the test looks at what was written, not at that.
    publisher.on('error', () => undefined);
    await publisher.connect();
    const writes = new TurnWrites(publisher);
    return { publisher, publish: (text: string) => writes.send(() => publisher.publish('turn-writes', text)) };
  }

  it("gathers a turn's commands into one write, and the next turn's until the previous batch is answered", async () => {
    const { publisher, publish } = await publisherThroughProxy();
    try {
      received.length = 0;
      proxy.hold();
      const before = proxy.chunks.length;
      const answers = ['a1', 'a2', 'a3'].map(publish);
      await expect.poll(() => received).toEqual(['a1', 'a2', 'a3']);
      expect(proxy.chunks.length).toBe(before + 1);
      // Two more turns while the first batch is unanswered: they wait for it, then leave together.
      answers.push(publish('b1'));
      await nextTurn();
      answers.push(publish('b2'));
      await nextTurn();
      await new Promise((r) => setTimeout(r, 100));
      expect(received).toEqual(['a1', 'a2', 'a3']);
      proxy.release();
      await expect.poll(() => received).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
      expect(proxy.chunks.length).toBe(before + 2);
      expect(await Promise.all(answers)).toEqual([1, 1, 1, 1, 1]);
    } finally {
      proxy.release();
      publisher.disconnect();
    }
  });

  it('never stays corked for answers that a lost connection took with it', async () => {
    const { publisher, publish } = await publisherThroughProxy();
    try {
      received.length = 0;
      proxy.hold();
      const lost = publish('c1');
      await expect.poll(() => received).toEqual(['c1']);
      proxy.cut();
      proxy.release();
      // ioredis resends it on the new connection, or refuses it: either way it settles.
      await lost.catch(() => undefined);
      // Refused at once while reconnecting (no offline queue): nothing to wait for either.
      await publish('c2').catch(() => undefined);
      await expect.poll(() => publisher.status, { timeout: 5000 }).toBe('ready');
      expect(await publish('c3')).toBe(1);
      await expect.poll(() => received).toContain('c3');
    } finally {
      proxy.release();
      publisher.disconnect();
    }
  });
});
