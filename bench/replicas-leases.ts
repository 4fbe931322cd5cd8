/**
 * Redis load of document ownership: one replica with LEASES_BENCH_DOCS (1,000) open documents
 * renews their leases for LEASES_BENCH_SECONDS (10) against a real redis-server, and we read
 * Redis's own counters: commands the clients sent (cmdstat_eval/evalsha calls) and commands
 * processed (INFO stats, scripts' inner calls included). Run with `npm run bench:replicas-leases`.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedisServer } from '../harness/redis.js';
import { RedisLeases } from '../src/bus/redis-leases.js';
import { Forwarder } from '../src/cluster/forwarder.js';
import { DocumentOwnership } from '../src/cluster/ownership.js';
import { createLogger } from '../src/log.js';
import { describeEnvironment } from './environment.js';

const DOCS = Number(process.env.LEASES_BENCH_DOCS ?? 1000);
const SECONDS = Number(process.env.LEASES_BENCH_SECONDS ?? 10);
/** DOCUMENT_LEASE_MS's default: renewed every 300 ms. */
const TTL_MS = 1500;

interface Counters {
  readonly scripts: number;
  readonly processed: number;
}

async function counters(admin: Redis): Promise<Counters> {
  const stats = await admin.info('stats');
  const commands = await admin.info('commandstats');
  const processed = Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0);
  let scripts = 0;
  for (const match of commands.matchAll(/cmdstat_(?:eval|evalsha):calls=(\d+)/g)) scripts += Number(match[1]);
  return { scripts, processed };
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const client = new Redis(redis.url);
  const admin = new Redis(redis.url);
  const replicaId = randomUUID();
  const leases = new RedisLeases(client, replicaId, TTL_MS);
  const forwarder = new Forwarder({ bus: { forward: () => undefined }, now: Date.now });
  const ownership = new DocumentOwnership({
    replicaId,
    bus: { reply: () => undefined },
    leases,
    forwarder,
    engineOf: () => undefined,
    log: createLogger('silent', false),
    now: Date.now,
  });
  for (let i = 0; i < DOCS; i++) ownership.open(randomUUID());
  await new Promise((r) => setTimeout(r, 1000));
  const before = await counters(admin);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const after = await counters(admin);
  const owned = (await admin.keys('relay:owner:*')).length;
  await ownership.stop();
  client.disconnect();
  admin.disconnect();
  await redis.stop();
  console.log(describeEnvironment());
  console.log(`${DOCS} open documents, lease ${TTL_MS} ms (renewed every ${TTL_MS / 5} ms), ${SECONDS} s, ${owned} leases held at the end`);
  console.log(`scripts sent: ${((after.scripts - before.scripts) / SECONDS).toFixed(1)}/s`);
  console.log(`commands processed by Redis (scripts' inner calls and our INFO included): ${((after.processed - before.processed) / SECONDS).toFixed(1)}/s`);
}

await main();
