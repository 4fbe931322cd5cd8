/**
 * What the Redis bus costs a replica per message (`npm run bench:replicas-bus`): one process
 * sends, at an open-loop rate, the two messages a forwarded keystroke makes (a change
 * forwarded to an owner's inbox, and a committed change published on the document's channel,
 * alternately); another, subscribed as that owner, receives both. Each prints its CPU
 * (user + system) per message; nothing else runs in them, so this isolates what
 * bench:replicas spreads over whole relays. Builds are compared in one run, alternately.
 *
 * Options (env):
 *   BENCH_BUILDS   name=path/to/build/root,… (a checkout with dist/ built; default: this one)
 *   BENCH_RATE     messages per second (500)
 *   BENCH_SECONDS  measured per round (10)
 *   BENCH_REPEATS  rounds per build (3)
 */
import { describeEnvironment } from './environment.js';
import { askChild, hasNumbers, medianRange, readBuilds } from './builds.js';
import { startRedisServer } from '../harness/redis.js';
import type { BusHandlers } from '../src/bus/bus.js';
import type { RedisBus as RedisBusType } from '../src/bus/redis.js';

type Role = 'send' | 'receive';
const DOC = '5f0c3a1e-7d1b-4b8e-9a51-3a2f1c0d9e77';
const ACTOR = '3b1f6c2e-8a4d-4e2b-9c1a-2f3e4d5c6b7a';
const OWNER = 'bench-owner';

interface RoleResult {
  readonly messages: number;
  readonly cpuUsPerMessage: number;
}

/** In a child: one bus of the given build, sending or receiving for `seconds`. */
async function runRole(root: string, redisUrl: string, role: Role, rate: number, seconds: number): Promise<RoleResult> {
  // Another build's modules: assumed to have this build's shape (which is what is compared).
  const { RedisBus } = (await import(`${root}/dist/src/bus/redis.js`)) as { RedisBus: typeof RedisBusType };
  const { createRedisClient } = (await import(`${root}/dist/src/bus/redis-clients.js`)) as typeof import('../src/bus/redis-clients.js');
  const { createLogger } = (await import(`${root}/dist/src/log.js`)) as typeof import('../src/log.js');
  const target = { kind: 'url', url: redisUrl } as const;
  let received = 0;
  const count = () => {
    received++;
  };
  const handlers: BusHandlers = {
    change: count,
    forwarded: count,
    presence: () => undefined,
    presenceLeft: () => undefined,
    resync: () => undefined,
    dropReplicaPresence: () => 0,
    ownPresence: () => [],
    remoteSessions: () => [],
    replied: () => undefined,
  };
  const bus = new RedisBus({
    replicaId: role === 'receive' ? OWNER : `bench-sender-${process.pid}`,
    publisher: createRedisClient(target, 'publisher'),
    subscriber: createRedisClient(target, 'subscriber'),
    livenessPeriodMs: 1000,
    heartbeatTtlMs: 3000,
    log: createLogger('warn', false),
    leaseTtlMs: 1500,
  });
  await bus.start(handlers);
  bus.subscribe(DOC);
  await sleep(1000);
  const before = process.cpuUsage();
  const started = Date.now();
  let sent = 0;
  if (role === 'send') {
    while (Date.now() - started < seconds * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      for (; sent < due; sent++) {
        const ops = [{ type: 'insert' as const, pos: sent % 100, text: 'a' }];
        if (sent % 2 === 1) bus.forward(OWNER, DOC, { actor: ACTOR, seq: sent + 1, baseRev: sent, ops, userId: 'typist-1' });
        else bus.publishChange(DOC, { rev: sent, ops, actor: ACTOR, seq: sent + 1, userId: 'typist-1', committedAt: Date.now() });
      }
      await sleep(1000 / rate);
    }
  } else {
    await sleep(seconds * 1000 + 1000);
  }
  const cpu = process.cpuUsage(before);
  const messages = role === 'send' ? sent : received;
  await bus.close();
  return { messages, cpuUsPerMessage: (cpu.user + cpu.system) / Math.max(1, messages) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function child(root: string, redisUrl: string, role: Role, rate: number, seconds: number): Promise<RoleResult> {
  const isResult = (m: unknown): m is RoleResult => hasNumbers(m, ['messages', 'cpuUsPerMessage']);
  return askChild(import.meta.filename, ['--role', root, redisUrl, role, String(rate), String(seconds)], isResult, role);
}

async function main(): Promise<void> {
  const builds = readBuilds(process.env.BENCH_BUILDS);
  const rate = Number(process.env.BENCH_RATE ?? 500);
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  console.log(`environment: ${describeEnvironment()}; ${rate} messages/s for ${seconds} s, ${repeats} rounds per build, builds alternate`);
  const redis = await startRedisServer();
  const results = new Map<string, { send: number[]; receive: number[] }>(builds.map((b) => [b.name, { send: [], receive: [] }]));
  try {
    for (let round = 0; round < repeats; round++) {
      for (const build of builds) {
        const receiving = child(build.root, redis.url, 'receive', rate, seconds);
        await sleep(300);
        const sending = await child(build.root, redis.url, 'send', rate, seconds);
        const received = await receiving;
        console.log(`${build.name}, round ${round + 1}: sender ${sending.cpuUsPerMessage.toFixed(1)} µs CPU per message (${sending.messages}), receiver ${received.cpuUsPerMessage.toFixed(1)} µs (${received.messages})`);
        results.get(build.name)?.send.push(sending.cpuUsPerMessage);
        results.get(build.name)?.receive.push(received.cpuUsPerMessage);
      }
    }
  } finally {
    await redis.stop();
  }
  console.log('\n| build | sender µs CPU per message, median (range) | receiver µs CPU per message, median (range) |\n|---|---|---|');
  for (const [name, r] of results) console.log(`| ${name} | ${medianRange(r.send, 1)} | ${medianRange(r.receive, 1)} |`);
}

if (process.argv[2] === '--role') {
  const [root = '', redisUrl = '', role = 'send', rate = '500', seconds = '10'] = process.argv.slice(3);
  const result = await runRole(root, redisUrl, role === 'receive' ? 'receive' : 'send', Number(rate), Number(seconds));
  process.send?.(result, undefined, undefined, () => process.exit(0));
} else {
  await main();
}
