/**
 * Committed ops per second and ack latency: N clients on one document, each keeping one
 * change in flight (send, wait for the ack, send the next), through the real relay process
 * and a real PostgreSQL. Run: `npm run bench` (or `npm run build && node dist/bench/ops.js`).
 *
 * Options (env): BENCH_CLIENTS (10), BENCH_SECONDS (10), BENCH_OPS_PER_CHANGE (1).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { describeEnvironment, percentile } from './environment.js';
import { devToken, startBenchPostgres, startBenchRelay } from './processes.js';

interface ClientResult {
  readonly latenciesMs: number[];
  readonly ops: number;
}

async function runClient(wsUrl: string, token: string, doc: string, until: number, opsPerChange: number): Promise<ClientResult> {
  const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
  const actor = randomUUID();
  const latenciesMs: number[] = [];
  let rev = 0;
  let seq = 0;
  let sentAt = 0;
  let ops = 0;
  return new Promise((resolve, reject) => {
    const sendNext = () => {
      if (Date.now() >= until) {
        ws.close();
        return;
      }
      seq++;
      sentAt = performance.now();
      const change = Array.from({ length: opsPerChange }, () => ({ type: 'insert', pos: 0, text: 'x' }));
      ws.send(JSON.stringify({ type: 'change', doc, clock: { actor, seq, rev }, ops: change }));
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', doc })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; rev: number; count: number; ops?: unknown[]; message?: string };
      if (m.type === 'joined') {
        rev = m.rev;
        sendNext();
      } else if (m.type === 'change') {
        rev = m.rev + (m.ops?.length ?? 0);
      } else if (m.type === 'ack') {
        latenciesMs.push(performance.now() - sentAt);
        ops += opsPerChange;
        rev = m.rev + m.count;
        sendNext();
      } else if (m.type === 'error') {
        reject(new Error(`relay error: ${m.message}`));
      }
    });
    ws.on('close', () => resolve({ latenciesMs, ops }));
    ws.on('error', reject);
  });
}

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
    await Promise.all(tokens.map((t) => runClient(relay.wsUrl, t, doc, Date.now() + 1000, opsPerChange)));
    const started = performance.now();
    const until = Date.now() + seconds * 1000;
    const results = await Promise.all(tokens.map((t) => runClient(relay.wsUrl, t, doc, until, opsPerChange)));
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
