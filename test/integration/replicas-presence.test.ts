import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import type { RemotePresence } from '../../src/bus/bus.js';
import { RedisPresenceStore } from '../../src/bus/redis-presence.js';
import { decodePresenceEntry, presenceKey } from '../../src/bus/redis-wire.js';
import type { Op } from '../../src/ot/types.js';
import { replicasForSuite, startClients } from '../support/replicas.js';
import type { OtClient } from '../support/ot-client.js';

const databaseUrl = inject('databaseUrl');
const redisUrl = inject('redisUrl');

const until = async (what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** One change, acked before it returns. */
async function commit(writer: OtClient, ops: Op[]): Promise<void> {
  const before = writer.acked.size;
  writer.localChange(ops);
  await until('an ack', () => writer.acked.size > before);
}

describe('presence of one replica as others see it', () => {
  const suite = replicasForSuite(2, () => ({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }));
  const { clients } = suite;

  it("an idle cursor on a busy document is where its replica has it for a client joining elsewhere later", async () => {
    const doc = randomUUID();
    const [writer, idle] = await startClients(suite.set.relays.slice(0, 1), [doc], 2, 'p');
    if (!writer || !idle) throw new Error('no clients');
    clients.push(writer, idle);
    await commit(writer, [{ type: 'insert', pos: 0, text: 'y'.repeat(300) }]);
    await until('the idle client at the head', () => idle.rev === writer.rev);
    idle.setCursor(300);
    await until('the cursor reaching the writer', () => writer.selections.get(idle.session ?? '')?.head === 300);
    // 1,200 revisions, each one insert before the cursor: more than a joiner can move a selection through.
    for (let c = 0; c < 12; c++) await commit(writer, Array.from({ length: 100 }, (_, i): Op => ({ type: 'insert', pos: 2 * i, text: 'x' })));
    // Redis's image of the replica's presence catches up within a second or two.
    await new Promise((r) => setTimeout(r, 2500));

    const [joiner] = await startClients(suite.set.relays.slice(1, 2), [doc], 1, 'j');
    if (!joiner) throw new Error('no joiner');
    clients.push(joiner);
    await until('the joiner joined', () => joiner.joined);
    expect(joiner.selections.get(idle.session ?? '')).toEqual({ anchor: 1500, head: 1500 });
  });

  it("Redis's image of a replica's presence follows its table: stale entries rewritten, departed sessions removed", async () => {
    const redis = new Redis(redisUrl);
    try {
      const doc = randomUUID();
      const store = new RedisPresenceStore(redis, 'replica-a');
      const entry = (session: string, rev: number): RemotePresence => ({
        docId: doc,
        rev,
        replica: 'replica-a',
        state: { session, user: { id: session, name: session, color: '#000' }, selection: { anchor: rev, head: rev }, typing: false },
      });
      const stored = async () => Object.fromEntries(Object.entries(await redis.hgetall(presenceKey(doc))).map(([s, text]) => [s, decodePresenceEntry(doc, text)?.rev]));
      await store.write(entry('s1', 0));
      await store.write(entry('s2', 0));
      // s2 left while Redis was away (its removal never reached Redis); s1 is a few revisions on.
      expect(await store.sync([entry('s1', 10)])).toBe(1);
      expect(await stored()).toEqual({ s1: 0 });
      // Far enough behind to be rewritten.
      expect(await store.sync([entry('s1', 600)])).toBe(1);
      expect(await stored()).toEqual({ s1: 600 });
      expect(await store.sync([entry('s1', 700)])).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
