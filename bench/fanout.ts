/**
 * Cross-replica fan-out latency: a change sent by a client of replica A, until a client of
 * replica B receives it (A commits to PostgreSQL, publishes on Redis; B applies and forwards).
 * Two built relay processes, a real PostgreSQL and a real Redis. Run: `npm run bench:fanout`.
 *
 * Options (env): BENCH_OPS (3000) measured changes, BENCH_WRITERS (4) clients on A, each
 * keeping one change in flight, BENCH_READERS (4) clients on B.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { describeEnvironment, percentile } from './environment.js';
import { devToken, startBenchPostgres, startBenchRelay } from './processes.js';
import { startRedisServer } from '../harness/redis.js';

interface Incoming {
  readonly type: string;
  readonly rev?: number;
  readonly count?: number;
  readonly ops?: unknown[];
  readonly clock?: { actor: string; seq: number };
  readonly message?: string;
}

function open(wsUrl: string, token: string, doc: string, onMessage: (m: Incoming) => void): Promise<WebSocket> {
  const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Incoming;
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'join', doc }));
      else if (m.type === 'joined') resolve(ws);
      else if (m.type === 'error') reject(new Error(`relay error: ${m.message}`));
      onMessage(m);
    });
    ws.on('error', reject);
  });
}

/** Sends `count` changes one at a time (next on ack), recording when each left. */
async function write(wsUrl: string, token: string, doc: string, count: number, sentAt: Map<string, number>): Promise<void> {
  const actor = randomUUID();
  let rev = 0;
  let seq = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  let ws: WebSocket | undefined;
  const next = () => {
    if (seq === count) {
      finish();
      return;
    }
    seq++;
    sentAt.set(`${actor}/${seq}`, performance.now());
    ws?.send(JSON.stringify({ type: 'change', doc, clock: { actor, seq, rev }, ops: [{ type: 'insert', pos: 0, text: 'x' }] }));
  };
  ws = await open(wsUrl, token, doc, (m) => {
    if (m.type === 'joined') rev = m.rev ?? 0;
    else if (m.type === 'change') rev = Math.max(rev, (m.rev ?? 0) + (m.ops?.length ?? 0));
    else if (m.type === 'ack') {
      rev = Math.max(rev, (m.rev ?? 0) + (m.count ?? 0));
      next();
    }
  });
  next();
  await done;
  ws.close();
}

async function main(): Promise<void> {
  const total = Number(process.env.BENCH_OPS ?? 3000);
  const writers = Number(process.env.BENCH_WRITERS ?? 4);
  const readers = Number(process.env.BENCH_READERS ?? 4);
  console.log(`environment: ${describeEnvironment()}`);
  console.log(`workload: ${writers} writers on replica A (one change in flight each), ${readers} readers on replica B, one document, ${total} measured changes`);
  const [pg, redis] = await Promise.all([startBenchPostgres(), startRedisServer()]);
  const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url };
  const [a, b] = await Promise.all([startBenchRelay(env), startBenchRelay(env)]);
  try {
    const doc = randomUUID();
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let measuring = false;
    const readerSockets = await Promise.all(
      Array.from({ length: readers }, async (_, i) =>
        open(b.wsUrl, await devToken(b.url, `reader-${i}`), doc, (m) => {
          if (m.type !== 'change' || !m.clock || !measuring) return;
          const sent = sentAt.get(`${m.clock.actor}/${m.clock.seq}`);
          if (sent !== undefined) latencies.push(performance.now() - sent);
        }),
      ),
    );
    const tokens = await Promise.all(Array.from({ length: writers }, (_, i) => devToken(a.url, `writer-${i}`)));
    // Warm-up: JIT the hot paths of both relays.
    await Promise.all(tokens.map((t) => write(a.wsUrl, t, doc, 100, sentAt)));
    await new Promise((r) => setTimeout(r, 500));
    sentAt.clear();
    measuring = true;
    const started = performance.now();
    await Promise.all(tokens.map((t) => write(a.wsUrl, t, doc, Math.ceil(total / writers), sentAt)));
    // The last changes are still on their way to B.
    const expected = sentAt.size * readers;
    const deadline = Date.now() + 10_000;
    while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const elapsed = (performance.now() - started) / 1000;
    for (const ws of readerSockets) ws.close();
    latencies.sort((x, y) => x - y);
    console.log(`delivered: ${latencies.length} of ${expected} (changes x readers) in ${elapsed.toFixed(1)} s, ${(sentAt.size / elapsed).toFixed(0)} changes/s`);
    console.log(
      `fan-out latency A→B ms: p50 ${percentile(latencies, 50).toFixed(2)}  p90 ${percentile(latencies, 90).toFixed(2)}  p99 ${percentile(latencies, 99).toFixed(2)}  max ${percentile(latencies, 100).toFixed(2)}  (n=${latencies.length})`,
    );
    if (latencies.length < expected) process.exitCode = 1;
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await Promise.all([pg.stop(), redis.stop()]);
  }
}

await main();
