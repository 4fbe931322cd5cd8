/**
 * Several relay replicas on one Redis and one PostgreSQL, under the typing workload
 * (`npm run bench:replicas`): one hot document × 50 writers spread over 3 replicas, and
 * 20 documents × 5 clients split over 2 replicas, each client inserting one character at a
 * random position, open loop at a sweep of rates. The same workloads on one replica run in
 * the same process as the reference, and several relay builds can be compared in one run.
 *
 * Per step: committed ops/s, ack and fan-out latency (submit → every other client of the
 * document applied it; warm-up excluded), database commits and rollbacks (pg_stat_database
 * of the step's own database, warm-up to drain), relay CPU per 1,000 committed ops (all
 * replicas). Every client must end with the same text holding every keystroke.
 *
 * Options (env):
 *   BENCH_HOT_RATES    offered ops/s of the hot document (250,500,1000)
 *   BENCH_SPREAD_RATES offered ops/s of the 20 documents (500,1000,2000)
 *   BENCH_SCENARIOS    hot,spread
 *   BENCH_WARMUP_SECS (2), BENCH_SECONDS (6) measured per rate, BENCH_DRAIN_SECS (30)
 *   BENCH_GENERATORS   load-generator processes (1); the clients, document-major, are cut
 *                      into that many runs, so a hot document's clients are split between
 *                      processes (latencies are joined on the shared clock). Raise it where
 *                      there are cores to spare: on 2 cores, 4 processes lagged more at hot
 *                      250 ops/s (p99 61-192 ms) than one (16-37 ms), competing with the relays. A step whose
 *                      generators' schedule lagged (p99 over 50 ms) measured them, not the
 *                      relays: it is marked as not to be trusted.
 *   BENCH_REPEATS      how many times each step runs (3): the table gives the median of the
 *                      repeats' figures and the range of their p99, and the several/one replica
 *                      p99 ratio is taken per repeat (its two steps ran back to back, the
 *                      order of the targets swapped every repeat)
 *   BENCH_WARMUP_STEPS steps each target runs at its scenario's first rate before anything is
 *                      measured, not counted (1): the relays start cold (JIT, connections,
 *                      PostgreSQL's caches), and the target that ran first was always the
 *                      several-replica one, which its first repeat then penalised (a p99 of
 *                      97 ms against 28-55 ms in the next two, one replica 27-35 ms)
 *   BENCH_RELAYS       name=path/to/dist/src/main.js,… several builds in one run
 *                      (e.g. before=/tmp/main/dist/src/main.js,after=dist/src/main.js)
 *   BENCH_RELAY_ENV    extra env for the relays (k=v,k=v)
 *   BENCH_RELAY_NODE_ARGS  node options of the relays, e.g. --prof (bench/processes.ts)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { describeEnvironment, describeVersions, percentile } from './environment.js';
import { LAGGING_MS, printRatios, printTable, type Row } from './replicas-report.js';
import { devToken, startBenchPostgres, startBenchRelay, type BenchRelay } from './processes.js';
import { processCpuSecs } from './proc-stats.js';
import { startRedisServer } from '../harness/redis.js';
import type { ReplicasGeneratorResult, ReplicasGeneratorSetup } from './replicas-generator.js';
import { forkLoadGenerator, type GeneratorHandle, type TypedCounts } from './generator-process.js';
import { joinFanout } from './replicas-tracker.js';
import { divergedDocuments } from './typing-tracker.js';

interface Scenario {
  readonly name: 'hot' | 'spread';
  readonly docs: number;
  readonly clientsPerDoc: number;
  readonly replicas: number;
  readonly rates: number[];
}

interface Options {
  readonly scenarios: Scenario[];
  readonly warmupSecs: number;
  readonly seconds: number;
  readonly drainSecs: number;
  readonly repeats: number;
  readonly warmupSteps: number;
  readonly generators: number;
  readonly relays: { name: string; main: string }[];
  readonly relayEnv: Record<string, string>;
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const list = (v: string | undefined, fallback: string) => (v ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
  const relays = list(env.BENCH_RELAYS, `after=${resolve(import.meta.dirname, '../src/main.js')}`).map((entry) => {
    const [name = 'relay', main = ''] = entry.includes('=') ? entry.split('=') : ['relay', entry];
    return { name, main: resolve(main) };
  });
  const wanted = list(env.BENCH_SCENARIOS, 'hot,spread');
  const all: Scenario[] = [
    { name: 'hot', docs: 1, clientsPerDoc: 50, replicas: 3, rates: list(env.BENCH_HOT_RATES, '250,500,1000').map(Number) },
    { name: 'spread', docs: 20, clientsPerDoc: 5, replicas: 2, rates: list(env.BENCH_SPREAD_RATES, '500,1000,2000').map(Number) },
  ];
  return {
    scenarios: all.filter((s) => wanted.includes(s.name)),
    warmupSecs: Number(env.BENCH_WARMUP_SECS ?? 2),
    seconds: Number(env.BENCH_SECONDS ?? 6),
    drainSecs: Number(env.BENCH_DRAIN_SECS ?? 30),
    repeats: Math.max(1, Number(env.BENCH_REPEATS ?? 3)),
    warmupSteps: Math.max(0, Number(env.BENCH_WARMUP_STEPS ?? 1)),
    generators: Math.max(1, Number(env.BENCH_GENERATORS ?? 1)),
    relays,
    relayEnv: Object.fromEntries(
      list(env.BENCH_RELAY_ENV, '').map((kv) => {
        const [key = '', value = ''] = kv.split('=');
        return [key, value];
      }),
    ),
  };
}

/** One build on N replicas, with its own database. */
interface Target {
  readonly label: string;
  readonly build: string;
  readonly scenario: Scenario;
  readonly replicas: number;
  readonly relays: BenchRelay[];
  readonly tokens: string[];
  readonly database: string;
  stop(): Promise<void>;
}

async function startTarget(build: { name: string; main: string }, scenario: Scenario, replicas: number, pgUrl: string, redisUrl: string, admin: postgres.Sql, options: Options): Promise<Target> {
  const database = `bench_replicas_${randomUUID().slice(0, 8)}`;
  await admin.unsafe(`CREATE DATABASE ${database}`);
  // One data folder: the development signing key the first replica makes is read by the others.
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-bench-replicas-'));
  const env = { DATABASE_URL: pgUrl.replace(/\/[^/]*$/, `/${database}`), REDIS_URL: redisUrl, RELAY_DATA_DIR: dataDir, ...options.relayEnv };
  const relays = [await startBenchRelay(env, build.main)];
  for (let i = 1; i < replicas; i++) relays.push(await startBenchRelay(env, build.main));
  const first = relays[0];
  if (!first) throw new Error('no relay');
  const tokens: string[] = [];
  for (let i = 0; i < scenario.docs * scenario.clientsPerDoc; i++) tokens.push(await devToken(first.url, `typist-${i}`));
  return {
    label: `${build.name}, ${replicas} replica${replicas > 1 ? 's' : ''}`,
    build: build.name,
    scenario,
    replicas,
    relays,
    tokens,
    database,
    stop: async () => {
      await Promise.all(relays.map((r) => r.stop()));
    },
  };
}

type Generator = GeneratorHandle<ReplicasGeneratorSetup, ReplicasGeneratorResult>;

function startGenerator(): Generator {
  return forkLoadGenerator(resolve(import.meta.dirname, 'replicas-generator.js'));
}

async function databaseCounters(admin: postgres.Sql, database: string): Promise<{ commits: number; rollbacks: number }> {
  // Backends report their counters at most once a second: wait for the last ones.
  await sleep(1100);
  const [row] = await admin<{ c: string; r: string }[]>`SELECT xact_commit::text AS c, xact_rollback::text AS r FROM pg_stat_database WHERE datname = ${database}`;
  return { commits: Number(row?.c ?? 0), rollbacks: Number(row?.r ?? 0) };
}

const relayCpu = (target: Target) => target.relays.reduce((n, r) => n + processCpuSecs(r.child.pid ?? 0), 0);
const generatorCpu = (generators: readonly Generator[]) => generators.reduce((n, g) => n + processCpuSecs(g.child.pid ?? 0), 0);

/**
 * Each generator's setup: the clients, document-major (client k on replica k mod N, as
 * before the split), cut into `count` consecutive runs, so a document's clients are split
 * between generators only when there are more generators than documents.
 */
function generatorSetups(target: Target, docs: readonly string[], rate: number, count: number, options: Options): ReplicasGeneratorSetup[] {
  const { scenario } = target;
  const total = docs.length * scenario.clientsPerDoc;
  const setups = Array.from({ length: count }, () => new Map<string, { token: string; url: string }[]>());
  for (let k = 0; k < total; k++) {
    const doc = docs[Math.floor(k / scenario.clientsPerDoc)] ?? '';
    const mine = setups[Math.floor((k * count) / total)];
    const clients = mine?.get(doc) ?? [];
    clients.push({ token: target.tokens[k] ?? '', url: target.relays[k % target.relays.length]?.wsUrl ?? '' });
    mine?.set(doc, clients);
  }
  return setups.map((docsOfOne) => ({
    docs: [...docsOfOne].map(([id, clients]) => ({ id, clients })),
    opsPerSecPerClient: rate / total,
    drainTimeoutMs: options.drainSecs * 1000,
  }));
}

/** BENCH_WARMUP_STEPS steps of every target, not counted (see the header). */
async function warmUp(targets: readonly Target[], rate: number | undefined, options: Options, admin: postgres.Sql): Promise<void> {
  if (rate === undefined) return;
  for (let i = 0; i < options.warmupSteps; i++) {
    for (const target of targets) {
      const row = await runStep(target, rate, -1, options, admin).catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
      const diverged = typeof row !== 'string' && row.diverged.length > 0;
      // Not counted, but still checked: every keystroke must reach every client here too.
      if (diverged) process.exitCode = 1;
      const outcome = typeof row === 'string' ? `no result: ${row}` : diverged ? `DIVERGED (${row.diverged.join('; ')})` : `converged, fan-out p99 ${percentile(row.fanout, 99).toFixed(1)} ms`;
      console.log(`warm-up step (not counted) on ${target.label} at ${rate} ops/s: ${outcome}`);
    }
  }
}

async function runStep(target: Target, rate: number, repeat: number, options: Options, admin: postgres.Sql): Promise<Row> {
  const { scenario } = target;
  const docs = Array.from({ length: scenario.docs }, () => randomUUID());
  const count = Math.min(options.generators, docs.length * scenario.clientsPerDoc);
  const generators = Array.from({ length: count }, () => startGenerator());
  const setups = generatorSetups(target, docs, rate, count, options);
  try {
    await Promise.all(
      generators.map(async (g, i) => {
        const setup = setups[i];
        if (!setup) return;
        g.send({ kind: 'setup', setup });
        await g.ready();
      }),
    );
    const dbBefore = await databaseCounters(admin, target.database);
    for (const g of generators) g.send({ kind: 'type' });
    await sleep(options.warmupSecs * 1000);
    const cpuBefore = relayCpu(target);
    const generatorCpuBefore = generatorCpu(generators);
    for (const g of generators) g.send({ kind: 'measure' });
    await sleep(options.seconds * 1000);
    for (const g of generators) g.send({ kind: 'stop' });
    const cpuAfter = relayCpu(target);
    const generatorCpuAfter = generatorCpu(generators);
    const expected: TypedCounts = {};
    for (const typed of await Promise.all(generators.map((g) => g.stopped()))) {
      for (const [doc, n] of Object.entries(typed)) expected[doc] = (expected[doc] ?? 0) + n;
    }
    for (const g of generators) g.send({ kind: 'drain', expected });
    const results: ReplicasGeneratorResult[] = await Promise.all(generators.map((g) => g.result()));
    const dbAfter = await databaseCounters(admin, target.database);
    const committedPerSec = results.reduce((n, r) => n + r.committedInWindow / r.windowSecs, 0);
    const ops = results.reduce((n, r) => n + r.committedInWindow, 0);
    const undelivered = results.reduce((n, r) => n + r.undelivered, 0);
    const { fanoutMs, missing } = joinFanout(
      results.flatMap((r) => r.sent),
      results.flatMap((r) => r.receipts),
      scenario.clientsPerDoc - 1,
    );
    const texts = new Map<string, string[]>();
    for (const r of results) for (const t of r.texts) texts.set(t.doc, [...(texts.get(t.doc) ?? []), ...t.texts]);
    const documents = [...texts].map(([id, all]) => ({ id, texts: all, typed: expected[id] ?? 0 }));
    return {
      label: target.label,
      build: target.build,
      replicas: target.replicas,
      repeat,
      scenario: `${scenario.docs} doc${scenario.docs > 1 ? 's' : ''} × ${scenario.clientsPerDoc}`,
      offered: rate,
      committedPerSec,
      ack: results.flatMap((r) => r.ackMs).sort((a, b) => a - b),
      fanout: fanoutMs,
      commits: dbAfter.commits - dbBefore.commits,
      rollbacks: dbAfter.rollbacks - dbBefore.rollbacks,
      relayCpuPer1k: ops > 0 ? ((cpuAfter - cpuBefore) / ops) * 1000 : Number.NaN,
      generatorCpuPerSec: (generatorCpuAfter - generatorCpuBefore) / options.seconds,
      undelivered: undelivered + (undelivered === 0 ? missing : 0),
      diverged: divergedDocuments(documents, undelivered === 0),
      errors: [...new Set(results.flatMap((r) => r.errors))],
      lagP99Ms: Math.max(...results.map((r) => r.scheduleLagP99Ms)),
    };
  } finally {
    for (const g of generators) {
      if (g.child.connected) g.send({ kind: 'close' });
      setTimeout(() => g.child.exitCode === null && g.child.kill('SIGKILL'), 5000).unref();
    }
    await Promise.all(generators.map((g) => (g.child.exitCode === null ? new Promise((r) => g.child.once('exit', r)) : undefined)));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const f = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));

async function main(): Promise<void> {
  const options = readOptions(process.env);
  console.log(`environment: ${describeEnvironment()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`versions: ${describeVersions(['uWebSockets.js', 'postgres', 'ioredis', 'ws'])}`);
  console.log(`${options.generators} load-generator processes; ${options.warmupSecs} s warm-up + ${options.seconds} s measured per rate, ${options.repeats} repeat(s); builds: ${options.relays.map((r) => `${r.name}=${r.main}`).join(', ')}`);
  const pg = await startBenchPostgres();
  const redis = await startRedisServer();
  const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
  const running: Target[] = [];
  const interrupted = () => {
    void Promise.allSettled(running.map((t) => t.stop()))
      .then(() => Promise.allSettled([pg.stop(), redis.stop()]))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const rows: Row[] = [];
  const step = async (target: Target, rate: number, repeat: number): Promise<void> => {
    try {
      const row = await runStep(target, rate, repeat, options, admin);
      rows.push(row);
      const state = row.diverged.length > 0 ? `DIVERGED (${row.diverged.join('; ')})` : row.undelivered > 0 ? 'did not drain' : 'converged';
      console.log(`${row.scenario} on ${target.label} at ${rate} ops/s: ${state}, fan-out p50 ${f(percentile(row.fanout, 50))} / p99 ${f(percentile(row.fanout, 99))} ms, generators ${f(row.generatorCpuPerSec, 2)} cores, lag p99 ${f(row.lagP99Ms)} ms${row.lagP99Ms > LAGGING_MS ? ' (GENERATOR LAGGED: not to be trusted)' : ''}, ${row.rollbacks} rollbacks [repeat ${repeat + 1}/${options.repeats}, load average ${loadavg()[0]?.toFixed(2)}]`);
      for (const e of row.errors.slice(0, 5)) console.log(`  a client was told: ${e}`);
    } catch (err) {
      console.log(`${target.label} at ${rate} ops/s: no result: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  try {
    for (const scenario of options.scenarios) {
      console.log(`workload: ${scenario.docs} document(s) × ${scenario.clientsPerDoc} clients over ${scenario.replicas} replicas (and 1 as reference), rates ${scenario.rates.join(', ')} ops/s`);
      const targets: Target[] = [];
      for (const build of options.relays) {
        for (const replicas of [scenario.replicas, 1]) {
          const target = await startTarget(build, scenario, replicas, pg.url, redis.url, admin, options);
          targets.push(target);
          running.push(target);
        }
      }
      await warmUp(targets, scenario.rates[0], options, admin);
      // Rate-major, targets interleaved and their order swapped every repeat: a burst of noise
      // from elsewhere hits all of them alike, and none of them always runs first.
      for (const rate of scenario.rates) {
        for (let repeat = 0; repeat < options.repeats; repeat++) {
          for (const target of repeat % 2 === 0 ? targets : [...targets].reverse()) {
            await step(target, rate, repeat);
          }
        }
      }
      for (const t of targets) {
        await t.stop();
        running.splice(running.indexOf(t), 1);
      }
    }
    if (rows.some((r) => r.diverged.length > 0)) {
      console.error('no figures reported: some clients did not converge');
      process.exitCode = 1;
      return;
    }
    printTable(rows);
    printRatios(rows);
    console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    for (const t of running) await t.stop();
    await admin.end();
    await Promise.allSettled([pg.stop(), redis.stop()]);
  }
}

await main();
