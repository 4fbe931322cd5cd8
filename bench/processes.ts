import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '../src/store/embedded-postgres.js';
import { freePort } from '../harness/ports.js';

export { freePort };

/** A throw-away real PostgreSQL for a benchmark run. */
export async function startBenchPostgres(): Promise<RunningPostgres> {
  const root = mkdtempSync(join(tmpdir(), 'relay-bench-pg-'));
  chmodSync(root, 0o755);
  return startEmbeddedPostgres({ dir: join(root, 'data'), port: await freePort(), database: 'relay' });
}

export interface BenchRelay {
  readonly url: string;
  readonly wsUrl: string;
  /** Its Prometheus endpoint (METRICS_PORT). */
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The built relay (dist/src/main.js) as a child process, like production runs it. `main`
 * names another build (e.g. of the main branch, to compare before and after in one run).
 */
export async function startBenchRelay(env: Record<string, string>, main = resolve(import.meta.dirname, '../src/main.js'), nodeArgs: readonly string[] = []): Promise<BenchRelay> {
  // A port found free can be bound by another process before the relay binds it; the relay
  // then exits at once ("cannot listen on", on stderr), and is started again on other ports.
  for (let attempt = 1; ; attempt++) {
    const relay = await launchBenchRelay(env, main, nodeArgs);
    if (relay !== undefined) return relay;
    if (attempt >= START_ATTEMPTS) throw new Error('relay did not become ready');
  }
}

const START_ATTEMPTS = 3;

/** The relay, once ready; undefined when it exited before (a port taken meanwhile, say). */
async function launchBenchRelay(env: Record<string, string>, main: string, nodeArgs: readonly string[]): Promise<BenchRelay | undefined> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [...(process.env.BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter(Boolean), ...nodeArgs, main], {
    // The benchmark measures throughput: a client keeping one change in flight can pass the
    // per-connection message rate limit meant for humans.
    env: { ...process.env, NODE_ENV: 'test', DEV_AUTH: '1', LOG_LEVEL: process.env.BENCH_RELAY_LOG_LEVEL ?? 'warn', RATE_LIMIT_MESSAGES_PER_SEC: '1000000', RATE_LIMIT_BURST: '1000000', RELAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'relay-bench-data-')), BIND_ADDRESS: `127.0.0.1:${port}`, METRICS_PORT: String(metricsPort), ...env },
    // BENCH_RELAY_LOG=file keeps the relays' logs (appended, one JSON line each) to find out
    // why a client was dropped; BENCH_RELAY_LOG_LEVEL (warn) sets how much they say.
    stdio: ['ignore', process.env.BENCH_RELAY_LOG ? openSync(process.env.BENCH_RELAY_LOG, 'a') : 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) return undefined;
    if (i > 300) throw new Error('relay did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/collab`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    child,
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

export async function devToken(relayUrl: string, user: string): Promise<string> {
  return ((await (await fetch(`${relayUrl}/dev/token?user=${user}`)).json()) as { token: string }).token;
}
