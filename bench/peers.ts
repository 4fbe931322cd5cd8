/**
 * Relay and ShareDB side by side on one machine and one workload: N clients on one
 * document, each keeping one insert in flight (send, wait for the ack, send the next), both
 * durable in the same PostgreSQL (sharedb-postgres commits every op before acking, as the
 * relay does; the relay groups concurrent changes into one commit). Hocuspocus (Y.js) is not
 * included: it has no per-op ack to wait for, so the same closed loop does not apply.
 *
 *   npm run bench:peers          (BENCH_CLIENTS=10, BENCH_SECONDS=8)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import postgres from 'postgres';
import ShareDBClient from 'sharedb/lib/client/index.js';
import { type as textUnicode } from 'ot-text-unicode';
import WebSocket from 'ws';
import { relayClosedLoop, type LoopResult } from './closed-loop.js';
import { describeEnvironment, percentile } from './environment.js';
import { devToken, freePort, startBenchPostgres, startBenchRelay } from './processes.js';

function summary(name: string, results: readonly LoopResult[], seconds: number): { name: string; opsPerSec: number; p50: number; p99: number } {
  const latencies = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const ops = results.reduce((n, r) => n + r.ops, 0);
  const line = { name, opsPerSec: ops / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  console.log(`${name.padEnd(38)} committed ops/s ${line.opsPerSec.toFixed(0).padStart(6)}   ack ms p50 ${line.p50.toFixed(2)}  p90 ${percentile(latencies, 90).toFixed(2)}  p99 ${line.p99.toFixed(2)}  (n=${latencies.length})`);
  return line;
}

ShareDBClient.types.register(textUnicode);

async function relayRun(databaseUrl: string, clients: number, seconds: number): Promise<LoopResult[]> {
  const relay = await startBenchRelay({ DATABASE_URL: databaseUrl });
  try {
    const doc = randomUUID();
    const tokens = await Promise.all(Array.from({ length: clients }, (_, i) => devToken(relay.url, `bench-${i}`)));
    await Promise.all(tokens.map((t) => relayClosedLoop(relay.wsUrl, t, doc, Date.now() + 1000)));
    const until = Date.now() + seconds * 1000;
    return await Promise.all(tokens.map((t) => relayClosedLoop(relay.wsUrl, t, doc, until)));
  } finally {
    await relay.stop();
  }
}

function sharedbClosedLoop(url: string, docId: string, until: number, create: boolean): Promise<LoopResult> {
  const socket = new WebSocket(url);
  const connection = new ShareDBClient.Connection(socket as unknown as ConstructorParameters<typeof ShareDBClient.Connection>[0]);
  const doc = connection.get('docs', docId);
  const latenciesMs: number[] = [];
  let ops = 0;
  return new Promise((done, fail) => {
    const next = () => {
      if (Date.now() >= until) {
        connection.close();
        done({ latenciesMs, ops });
        return;
      }
      const sentAt = performance.now();
      doc.submitOp(['x'], {}, (err) => {
        if (err) return fail(err);
        latenciesMs.push(performance.now() - sentAt);
        ops++;
        next();
      });
    };
    doc.subscribe((err) => {
      if (err) return fail(err);
      if (doc.type || !create) return next();
      doc.create('.', 'text-unicode', (createErr) => (createErr ? fail(createErr) : next()));
    });
  });
}

async function sharedbRun(databaseUrl: string, clients: number, seconds: number, store: 'postgres' | 'memory'): Promise<LoopResult[]> {
  const port = await freePort();
  const server = spawn(process.execPath, [resolve(import.meta.dirname, 'peers/sharedb-server.js')], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), SHAREDB_STORE: store },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ready, fail) => {
    server.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && ready());
    server.once('exit', (code) => fail(new Error(`ShareDB server exited with ${code}`)));
  });
  try {
    const url = `ws://127.0.0.1:${port}`;
    const doc = randomUUID();
    // The document is created once (non-empty: sharedb-postgres reads an empty text snapshot
    // back as missing), then everyone warms up and starts together.
    await sharedbClosedLoop(url, doc, Date.now() + 300, true);
    await Promise.all(Array.from({ length: clients }, () => sharedbClosedLoop(url, doc, Date.now() + 1000, false)));
    const until = Date.now() + seconds * 1000;
    return await Promise.all(Array.from({ length: clients }, () => sharedbClosedLoop(url, doc, until, false)));
  } finally {
    await new Promise<void>((stopped) => {
      server.once('exit', () => stopped());
      server.kill('SIGTERM');
    });
  }
}

async function main(): Promise<void> {
  const clients = Number(process.env.BENCH_CLIENTS ?? 10);
  const seconds = Number(process.env.BENCH_SECONDS ?? 8);
  console.log(`environment: ${describeEnvironment()}`);
  console.log(`workload: ${clients} clients, one document, one insert in flight per client, ${seconds} s each, same PostgreSQL (embedded, local disk)`);
  const pg = await startBenchPostgres();
  try {
    const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
    await admin`CREATE DATABASE sharedb`;
    await admin.end();
    const relay = summary('relay', await relayRun(pg.url, clients, seconds), seconds);
    const sharedbUrl = pg.url.replace(/\/relay$/, '/sharedb');
    const sharedb = summary('sharedb', await sharedbRun(sharedbUrl, clients, seconds, 'postgres'), seconds);
    summary('sharedb (memory store, not durable)', await sharedbRun(sharedbUrl, clients, seconds, 'memory'), seconds);
    console.log(`ratio relay/sharedb (both durable): throughput ${(relay.opsPerSec / sharedb.opsPerSec).toFixed(2)}x, ack p50 ${(relay.p50 / sharedb.p50).toFixed(2)}x, p99 ${(relay.p99 / sharedb.p99).toFixed(2)}x`);
  } finally {
    await pg.stop();
  }
}

await main();
