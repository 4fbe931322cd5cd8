/**
 * The typing workload editors produce, side by side with ShareDB: D documents × C clients,
 * each client inserting one character at a random position of its text, R ops/s in all, open
 * loop. Load generators run in their own processes (bench/typing-generator.ts) and speak the
 * real protocols (the Relay SDK; ShareDB's client). Run: `npm run bench:typing`.
 *
 * Per offered rate: committed ops/s, ack and fan-out latency (submit → every other client
 * of the document applied it; warm-up excluded), server and PostgreSQL CPU per 1,000 ops,
 * commits/s and ops per commit (pg_stat_database), the relay's event-loop delay (its
 * Prometheus endpoint), RSS. Every client must converge to the same text holding every
 * keystroke: if one does not, nothing is reported.
 *
 * Options (env):
 *   BENCH_RATES        offered ops/s to sweep (1000,2000,4000,8000)
 *   BENCH_BEYOND       after the last rate, keep raising it ×1.5 until fan-out p99 passes
 *                      BENCH_STOP_P99_MS (500) or a run does not drain (1; 0 = no); every
 *                      server runs every listed rate unless one did not drain
 *   BENCH_MAX_RATE     never offer more than this (40000)
 *   BENCH_DOCS (20), BENCH_CLIENTS_PER_DOC (5), BENCH_GENERATORS (2)
 *   BENCH_WARMUP_SECS (2), BENCH_SECONDS (8) measured per rate, BENCH_DRAIN_SECS (30)
 *   BENCH_SYSTEMS      relay,sharedb
 *   BENCH_RELAYS       name=path/to/dist/src/main.js,… several relay builds in one run
 *                      (e.g. before=/tmp/main/dist/src/main.js,after=dist/src/main.js);
 *                      default: this build, named "relay"
 *   BENCH_RELAY_ENV    extra env for the relays, e.g. GROUP_COMMIT_MAX_DOCUMENTS=0 (k=v,k=v)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { describeEnvironment, describeVersions, percentile } from './environment.js';
import { devToken, freePort, startBenchPostgres, startBenchRelay, type BenchRelay } from './processes.js';
import { postmasterPid, processCpuSecs, processRssBytes, processTreeCpuSecs } from './proc-stats.js';
import type { GeneratorResult, GeneratorSetup } from './typing-generator.js';
import { forkLoadGenerator, type GeneratorHandle } from './generator-process.js';
import { readEventLoopDelay, type EventLoopDelay } from './event-loop-reader.js';

interface Options {
  readonly rates: number[];
  readonly beyond: boolean;
  readonly stopP99Ms: number;
  readonly maxRate: number;
  readonly docs: number;
  readonly clientsPerDoc: number;
  readonly generators: number;
  readonly warmupSecs: number;
  readonly seconds: number;
  readonly drainSecs: number;
  readonly systems: string[];
  readonly relays: { name: string; main: string }[];
  readonly relayEnv: Record<string, string>;
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const list = (v: string | undefined, fallback: string) => (v ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
  const relays = list(env.BENCH_RELAYS, `relay=${resolve(import.meta.dirname, '../src/main.js')}`).map((entry) => {
    const [name = 'relay', main = ''] = entry.includes('=') ? entry.split('=') : ['relay', entry];
    return { name, main: resolve(main) };
  });
  return {
    rates: list(env.BENCH_RATES, '1000,2000,4000,8000').map(Number),
    beyond: (env.BENCH_BEYOND ?? '1') !== '0',
    stopP99Ms: Number(env.BENCH_STOP_P99_MS ?? 500),
    maxRate: Number(env.BENCH_MAX_RATE ?? 40_000),
    docs: Number(env.BENCH_DOCS ?? 20),
    clientsPerDoc: Number(env.BENCH_CLIENTS_PER_DOC ?? 5),
    generators: Number(env.BENCH_GENERATORS ?? 2),
    warmupSecs: Number(env.BENCH_WARMUP_SECS ?? 2),
    seconds: Number(env.BENCH_SECONDS ?? 8),
    drainSecs: Number(env.BENCH_DRAIN_SECS ?? 30),
    systems: list(env.BENCH_SYSTEMS, 'relay,sharedb'),
    relays,
    relayEnv: Object.fromEntries(list(env.BENCH_RELAY_ENV, '').map((kv) => kv.split('=') as [string, string])),
  };
}

/** A server under test: how to reach it, and what to read off it around a measurement. */
interface Target {
  readonly name: string;
  readonly system: 'relay' | 'sharedb';
  readonly url: string;
  readonly tokens: string[];
  readonly pid: number;
  /** Where its event-loop probe writes (bench/event-loop-probe.ts). */
  readonly probeFile: string;
  /** Relay: its database (commits). */
  readonly database?: string;
  stop(): Promise<void>;
}

interface Row {
  readonly target: string;
  readonly offered: number;
  readonly committedPerSec: number;
  readonly ack: number[];
  readonly fanout: number[];
  readonly serverCpuPer1k: number;
  readonly pgCpuPer1k: number | undefined;
  readonly commitsPerSec: number | undefined;
  readonly eventLoopP99Ms: number | undefined;
  readonly eventLoopMaxMs: number | undefined;
  readonly rssMb: number;
  readonly scheduleLagP99Ms: number;
  readonly undelivered: number;
  readonly diverged: string[];
  readonly errors: string[];
}

// ---- servers -----------------------------------------------------------------------------------

async function startRelayTarget(name: string, main: string, pgUrl: string, admin: postgres.Sql, options: Options): Promise<Target> {
  const database = `bench_${name.replace(/\W/g, '_')}_${randomUUID().slice(0, 8)}`;
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const probeFile = newProbeFile();
  const relay: BenchRelay = await startBenchRelay({ DATABASE_URL: pgUrl.replace(/\/[^/]*$/, `/${database}`), BENCH_EVENT_LOOP_FILE: probeFile, ...options.relayEnv }, main, PROBE_ARGS);
  const total = options.docs * options.clientsPerDoc;
  const tokens: string[] = [];
  for (let i = 0; i < total; i++) tokens.push(await devToken(relay.url, `typist-${i}`));
  return { name, system: 'relay', url: relay.wsUrl, tokens, pid: relay.child.pid ?? 0, probeFile, database, stop: () => relay.stop() };
}

const PROBE_ARGS = ['--import', resolve(import.meta.dirname, 'event-loop-probe.js')];

function newProbeFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'relay-bench-loop-')), 'event-loop.json');
}

async function startShareDBTarget(): Promise<Target> {
  const port = await freePort();
  const probeFile = newProbeFile();
  const child = spawn(process.execPath, [...PROBE_ARGS, resolve(import.meta.dirname, 'peers/sharedb-server.js')], {
    env: { ...process.env, PORT: String(port), SHAREDB_STORE: 'memory', BENCH_EVENT_LOOP_FILE: probeFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ready, fail) => {
    child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && ready());
    child.once('exit', (code) => fail(new Error(`ShareDB server exited with ${code}`)));
  });
  return {
    name: 'sharedb (memory)',
    system: 'sharedb',
    url: `ws://127.0.0.1:${port}`,
    tokens: [],
    pid: child.pid ?? 0,
    probeFile,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

// ---- one measured step -------------------------------------------------------------------------

type Generator = GeneratorHandle<GeneratorSetup, GeneratorResult>;

function startGenerator(): Generator {
  return forkLoadGenerator(resolve(import.meta.dirname, 'typing-generator.js'));
}

interface ServerSample {
  readonly at: number;
  readonly cpu: number;
  readonly pgCpu: number;
  readonly commits: number | undefined;
}

async function sample(target: Target, pgPid: number, admin: postgres.Sql): Promise<ServerSample> {
  const commits = target.database
    ? Number((await admin<{ n: string }[]>`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = ${target.database}`)[0]?.n ?? 0)
    : undefined;
  return { at: performance.now(), cpu: processCpuSecs(target.pid), pgCpu: processTreeCpuSecs(pgPid), commits };
}

/** The relay's event-loop delay since the previous call (its probe starts over each time). */
function eventLoopDelay(target: Target): Promise<EventLoopDelay | undefined> {
  return readEventLoopDelay(target.pid, target.probeFile);
}

async function runStep(target: Target, rate: number, options: Options, pgPid: number, admin: postgres.Sql): Promise<Row> {
  const docs = Array.from({ length: options.docs }, () => randomUUID());
  const count = Math.max(1, Math.min(options.generators, docs.length));
  const generators = Array.from({ length: count }, () => startGenerator());
  try {
    await Promise.all(
      generators.map(async (g, i) => {
        // Whole documents per generator: every latency is read off one process's clock.
        const mine = docs.map((d, k) => ({ d, k })).filter(({ k }) => k % count === i);
        const setup: GeneratorSetup = {
          system: target.system,
          url: target.url,
          tokens: mine.flatMap(({ k }) => target.tokens.slice(k * options.clientsPerDoc, (k + 1) * options.clientsPerDoc)),
          docs: mine.map(({ d }) => d),
          clientsPerDoc: options.clientsPerDoc,
          opsPerSecPerClient: rate / (options.docs * options.clientsPerDoc),
          drainTimeoutMs: options.drainSecs * 1000,
        };
        g.send({ kind: 'setup', setup });
        await g.ready();
      }),
    );
    for (const g of generators) g.send({ kind: 'type' });
    await sleep(options.warmupSecs * 1000);
    await eventLoopDelay(target);
    const before = await sample(target, pgPid, admin);
    for (const g of generators) g.send({ kind: 'measure' });
    await sleep(options.seconds * 1000);
    for (const g of generators) g.send({ kind: 'stop' });
    const after = await sample(target, pgPid, admin);
    const loop = await eventLoopDelay(target);
    const rss = processRssBytes(target.pid);
    // An overloaded generator can fall so far behind that even its drain never ends.
    const results: GeneratorResult[] = await withDeadline(
      Promise.all(generators.map(async (g) => await g.result())),
      options.drainSecs * 1000 + 60_000,
      'the load generators did not finish (overloaded)',
    );
    const committedPerSec = results.reduce((n, r) => n + r.committedInWindow / r.windowSecs, 0);
    const secs = (after.at - before.at) / 1000;
    const ops = committedPerSec * secs;
    return {
      target: target.name,
      offered: rate,
      committedPerSec,
      ack: results.flatMap((r) => r.ackMs).sort((a, b) => a - b),
      fanout: results.flatMap((r) => r.fanoutMs).sort((a, b) => a - b),
      serverCpuPer1k: ((after.cpu - before.cpu) / ops) * 1000,
      pgCpuPer1k: target.system === 'relay' ? ((after.pgCpu - before.pgCpu) / ops) * 1000 : undefined,
      commitsPerSec: after.commits !== undefined && before.commits !== undefined ? (after.commits - before.commits) / secs : undefined,
      eventLoopP99Ms: loop?.p99Ms,
      eventLoopMaxMs: loop?.maxMs,
      rssMb: rss / 2 ** 20,
      scheduleLagP99Ms: Math.max(...results.map((r) => r.scheduleLagP99Ms)),
      undelivered: results.reduce((n, r) => n + r.undelivered, 0),
      diverged: results.flatMap((r) => r.diverged),
      errors: [...new Set(results.flatMap((r) => r.errors))],
    };
  } finally {
    for (const g of generators) {
      if (g.child.connected) g.send({ kind: 'close' });
      // One that does not leave on its own (still busy) is stopped.
      setTimeout(() => g.child.exitCode === null && g.child.kill('SIGKILL'), 5000).unref();
    }
    await Promise.all(generators.map((g) => (g.child.exitCode === null ? new Promise((r) => g.child.once('exit', r)) : undefined)));
  }
}

function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- report ------------------------------------------------------------------------------------

const f = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
const lat = (sorted: number[]) => `${f(percentile(sorted, 50))} / ${f(percentile(sorted, 95))} / ${f(percentile(sorted, 99))} / ${f(percentile(sorted, 100))}`;

function printTable(rows: readonly Row[]): void {
  console.log('');
  console.log('| server | offered ops/s | committed ops/s | ack ms p50 / p95 / p99 / max | fan-out ms p50 / p95 / p99 / max | server CPU s per 1k ops | PostgreSQL CPU s per 1k ops | commits/s | ops per commit | event-loop delay ms p99 / max | RSS MB | generator lag p99 ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const drained = r.undelivered === 0 ? '' : ` (did not drain: ${r.undelivered} outstanding)`;
    console.log(
      `| ${r.target} | ${r.offered} | ${f(r.committedPerSec, 0)}${drained} | ${lat(r.ack)} | ${lat(r.fanout)} | ${f(r.serverCpuPer1k, 3)} | ${f(r.pgCpuPer1k, 3)} | ${f(r.commitsPerSec, 0)} | ${r.commitsPerSec ? f((r.committedPerSec) / r.commitsPerSec, 1) : '–'} | ${f(r.eventLoopP99Ms)} / ${f(r.eventLoopMaxMs)} | ${f(r.rssMb, 0)} | ${f(r.scheduleLagP99Ms)} |`,
    );
  }
}

function saturated(row: Row, options: Options): boolean {
  return row.undelivered > 0 || !(percentile(row.fanout, 99) <= options.stopP99Ms);
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  console.log(`environment: ${describeEnvironment()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`versions: ${describeVersions(['uWebSockets.js', 'postgres', 'sharedb', 'ot-text-unicode', 'ws'])}`);
  console.log(
    `workload: ${options.docs} documents × ${options.clientsPerDoc} clients, each inserting one character at a random position, open loop; ` +
      `${options.generators} load-generator processes; ${options.warmupSecs} s warm-up + ${options.seconds} s measured per rate`,
  );
  const pg = await startBenchPostgres();
  const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
  const targets: Target[] = [];
  // Interrupted: still stop the servers and PostgreSQL this run started.
  const interrupted = () => {
    void Promise.allSettled(targets.map((t) => t.stop()))
      .then(() => pg.stop())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const pgPid = postmasterPid(pg.dir);
    console.log(`database: ${(await admin<{ version: string }[]>`SELECT version()`)[0]?.version ?? '?'}, synchronous_commit=${(await admin<{ s: string }[]>`SELECT current_setting('synchronous_commit') AS s`)[0]?.s ?? '?'}`);
    if (options.systems.includes('relay')) {
      for (const r of options.relays) {
        targets.push(await startRelayTarget(r.name, r.main, pg.url, admin, options));
        console.log(`relay "${r.name}": ${r.main}`);
      }
    }
    if (options.systems.includes('sharedb')) targets.push(await startShareDBTarget());
    const rows: Row[] = [];
    let active = [...targets];
    let rate = options.rates[0] ?? 1000;
    for (let i = 0; active.length > 0 && rate <= options.maxRate; i++) {
      // Rate-major, servers interleaved: a burst of noise from elsewhere hits all of them alike.
      for (const target of [...active]) {
        let row: Row;
        try {
          row = await runStep(target, rate, options, pgPid, admin);
        } catch (err) {
          console.log(`${target.name} at ${rate} ops/s: no result: ${err instanceof Error ? err.message : String(err)}`);
          active = active.filter((t) => t !== target);
          continue;
        }
        rows.push(row);
        const state = row.diverged.length > 0 ? `DIVERGED (${row.diverged.length} documents)` : row.undelivered > 0 ? 'did not drain' : 'converged';
        console.log(`${target.name} at ${rate} ops/s: ${state}`);
        for (const e of row.errors.slice(0, 5)) console.log(`  a client was told: ${e}`);
        // Every server runs every listed rate (unless it could not even drain); past the list,
        // each goes on until it saturates.
        const beyondList = i >= options.rates.length - 1;
        if (row.undelivered > 0 || (beyondList && saturated(row, options))) active = active.filter((t) => t !== target);
      }
      const next = options.rates[i + 1];
      if (next !== undefined) rate = next;
      else if (options.beyond) rate = Math.round((rate * 1.5) / 1000) * 1000;
      else break;
    }
    const diverged = rows.filter((r) => r.diverged.length > 0);
    if (diverged.length > 0) {
      // A run whose clients disagree measured something other than collaborative editing.
      for (const r of diverged) console.error(`${r.target} at ${r.offered} ops/s: clients diverged on ${r.diverged.join('; ')}`);
      console.error('no figures reported: the clients did not converge');
      process.exitCode = 1;
      return;
    }
    printTable(rows);
  } finally {
    for (const t of targets) await t.stop();
    await admin.end();
    await pg.stop();
  }
}

await main();
