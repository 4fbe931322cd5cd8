import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
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
});
