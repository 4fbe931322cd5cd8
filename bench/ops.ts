/**
 * Committed ops per second and ack latency: N clients on one document, each keeping one
 * change in flight (send, wait for the ack, send the next), through the real relay process
 * and a real PostgreSQL. Run: `npm run bench` (or `npm run build && node dist/bench/ops.js`).
 *
 * Options (env): BENCH_CLIENTS (10), BENCH_SECONDS (10), BENCH_OPS_PER_CHANGE (1).
 */
import { randomUUID } from 'node:crypto';
import { relayClosedLoop } from './closed-loop.js';
import { describeEnvironment, percentile } from './environment.js';
import { devToken, startBenchPostgres, startBenchRelay } from './processes.js';

async function main(): Promise<void> {
  const clients = Number(process.env.BENCH_CLIENTS ?? 10);
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const opsPerChange = Number(process.env.BENCH_OPS_PER_CHANGE ?? 1);
  console.log(`environment: ${describeEnvironment()}`);
  console.log(`workload: ${clients} clients, one document, one change of ${opsPerChange} insert(s) in flight per client, ${seconds} s`);
  const pg = await startBenchPostgres();
  const relay = await startBenchRelay({ DATABASE_URL: pg.url });
  try {
    const doc = randomUUID();
    const tokens = await Promise.all(Array.from({ length: clients }, (_, i) => devToken(relay.url, `bench-${i}`)));
    // Warm-up: load the document and JIT the hot paths.
    await Promise.all(tokens.map((t) => relayClosedLoop(relay.wsUrl, t, doc, Date.now() + 1000, opsPerChange)));
    const started = performance.now();
    const until = Date.now() + seconds * 1000;
    const results = await Promise.all(tokens.map((t) => relayClosedLoop(relay.wsUrl, t, doc, until, opsPerChange)));
    const elapsed = (performance.now() - started) / 1000;
    const latencies = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    const ops = results.reduce((n, r) => n + r.ops, 0);
    console.log(`committed ops/s: ${(ops / elapsed).toFixed(0)} (${ops} ops in ${elapsed.toFixed(1)} s)`);
    console.log(`ack latency ms: p50 ${percentile(latencies, 50).toFixed(2)}  p90 ${percentile(latencies, 90).toFixed(2)}  p99 ${percentile(latencies, 99).toFixed(2)}  max ${percentile(latencies, 100).toFixed(2)}  (n=${latencies.length})`);
  } finally {
    await relay.stop();
    await pg.stop();
  }
}

await main();
