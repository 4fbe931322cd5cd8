/**
 * A bystander's ack latency while one member attacks the replica (issue 9, items 2, 3, 5, 8),
 * for two relay builds side by side in one run: the one built here (after) and another
 * (before: BENCH_BEFORE_MAIN, e.g. a worktree of main built with `npm run build`).
 *
 *   npm run build --silent && BENCH_BEFORE_MAIN=/path/to/main/dist/src/main.js node dist/bench/hardening.js
 *
 * Attacks (each against a fresh relay and PostgreSQL, the bystander editing another document):
 * - presence: 10 viewers send presence at revision 0 of a document with a long history
 *   (BENCH_HISTORY_CHANGES changes of 100 ops), 20 messages/s each (10 % of the rate limit);
 * - size: 8 connections of one user insert 256 KiB of text per change as fast as acked;
 * - bytes: 4 connections of one user flood 1 MB frames, reconnecting whenever closed (item 5);
 * - metrics: 8 scrapers fetch /metrics back to back (item 8).
 * Options (env): BENCH_SECS (10) per measurement, BENCH_HISTORY_CHANGES (1500),
 * BENCH_ATTACKS (presence,size,bytes,metrics).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import type { RunningPostgres } from '../src/store/embedded-postgres.js';
import { describeEnvironment, percentile } from './environment.js';
import { devToken, freePort, startBenchPostgres } from './processes.js';

const SECS = Number(process.env.BENCH_SECS ?? 10);
const HISTORY_CHANGES = Number(process.env.BENCH_HISTORY_CHANGES ?? 1500);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Relay {
  readonly url: string;
  readonly metricsUrl: string;
  readonly wsUrl: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** A built relay (`main` is its dist/src/main.js) with its own embedded PostgreSQL. */
async function startRelay(main: string, pg: RunningPostgres): Promise<Relay> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: pg.url,
      DEV_AUTH: '1',
      RELAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'relay-bench-data-')),
      BIND_ADDRESS: `127.0.0.1:${port}`,
      METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300 || child.exitCode !== null) throw new Error(`relay ${main} did not become ready`);
    await sleep(100);
  }
  return {
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    wsUrl: `ws://127.0.0.1:${port}/collab`,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => done());
        child.kill('SIGKILL');
      }),
  };
}

/** A joined connection that answers nothing itself; `onMessage` sees every frame. */
function connect(wsUrl: string, token: string, doc: string, onMessage: (m: { type: string; rev?: number; count?: number; code?: string }) => void = () => undefined): Promise<WebSocket> {
  const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; rev?: number };
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'join', doc }));
      else if (m.type === 'joined') resolve(ws);
      onMessage(m);
    });
    ws.on('error', reject);
  });
}

/**
 * One change in flight at a time, `pauseMs` after each ack, until `until()` (or a refusal);
 * records each change's ack latency.
 */
async function writeChanges(wsUrl: string, token: string, doc: string, until: () => boolean, build: () => unknown[], pauseMs = 0): Promise<{ acked: number; refused: string[]; latenciesMs: number[] }> {
  const actor = randomUUID();
  let seq = 0;
  let rev = 0;
  const refused: string[] = [];
  const latenciesMs: number[] = [];
  let sentAt = 0;
  let acked = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  let ws: WebSocket | undefined;
  const next = () => {
    if (until() || !ws) {
      finish();
      return;
    }
    seq++;
    sentAt = performance.now();
    ws.send(JSON.stringify({ type: 'change', doc, clock: { actor, seq, rev }, ops: build() }));
  };
  ws = await connect(wsUrl, token, doc, (m) => {
    if (m.type === 'joined') rev = m.rev ?? 0;
    else if (m.type === 'change') rev = (m.rev ?? 0) + 1;
    else if (m.type === 'ack') {
      acked++;
      latenciesMs.push(performance.now() - sentAt);
      rev = (m.rev ?? 0) + (m.count ?? 0);
      if (pauseMs > 0) setTimeout(next, pauseMs);
      else next();
    } else if (m.type === 'error') {
      refused.push(m.code ?? 'error');
      // The number was not used: resend nothing, stop this writer.
      finish();
    }
  });
  next();
  await done;
  ws.close();
  return { acked, refused, latenciesMs };
}

async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

function summary(latencies: readonly number[]): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  return `bystander acks ${sorted.length}, p50 ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`;
}

/** An editor of another document on the same replica: one small change every 20 ms after its ack. */
async function bystander(relay: Relay, during: () => Promise<void>): Promise<string> {
  const token = await devToken(relay.url, 'bystander');
  const until = Date.now() + SECS * 1000;
  const [result] = await Promise.all([writeChanges(relay.wsUrl, token, randomUUID(), () => Date.now() >= until, () => [{ type: 'insert', pos: 0, text: 'b' }], 20), during()]);
  return summary(result.latenciesMs);
}

async function presenceAttack(relay: Relay): Promise<string> {
  const doc = randomUUID();
  const writer = await devToken(relay.url, 'historian');
  let changes = 0;
  await writeChanges(relay.wsUrl, writer, doc, () => changes++ >= HISTORY_CHANGES, () => Array.from({ length: 100 }, () => ({ type: 'insert', pos: 0, text: 'h' })));
  const viewers = await Promise.all(Array.from({ length: 10 }, async (_, i) => connect(relay.wsUrl, await devToken(relay.url, `viewer${i}`), doc)));
  const result = await bystander(relay, async () => {
    const end = Date.now() + SECS * 1000;
    let k = 0;
    while (Date.now() < end) {
      for (const ws of viewers) ws.send(JSON.stringify({ type: 'presence', doc, rev: 0, selection: { anchor: k % 50, head: k % 50 } }));
      k++;
      await sleep(50);
    }
  });
  for (const ws of viewers) ws.close();
  return `presence at rev 0 over ${HISTORY_CHANGES * 100} revisions: ${result}`;
}

async function sizeAttack(relay: Relay): Promise<string> {
  const doc = randomUUID();
  const token = await devToken(relay.url, 'filler');
  const chunk = 'x'.repeat(256 * 1024);
  const end = Date.now() + SECS * 1000;
  const outcome: Array<{ acked: number; refused: string[] }> = [];
  const result = await bystander(relay, async () => {
    outcome.push(...(await Promise.all(Array.from({ length: 8 }, () => writeChanges(relay.wsUrl, token, doc, () => Date.now() >= end, () => [{ type: 'insert', pos: 0, text: chunk }])))));
  });
  const acked = outcome.reduce((n, o) => n + o.acked, 0);
  const refused = [...new Set(outcome.flatMap((o) => o.refused))].join(',') || 'none';
  return `8 writers x 256 KiB changes: ${acked} acked (${((acked * 256) / 1024).toFixed(0)} MiB), refused: ${refused}, relay RSS ${await rssMiB(relay.pid)} MiB; ${result}`;
}

/** 8 scrapers fetching /metrics back to back (a misconfigured or hostile scraper). */
async function metricsAttack(relay: Relay): Promise<string> {
  let scrapes = 0;
  const result = await bystander(relay, async () => {
    const end = Date.now() + SECS * 1000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < end) {
          await (await fetch(relay.metricsUrl)).text();
          scrapes++;
        }
      }),
    );
  });
  return `8 scrapers: ${Math.round(scrapes / SECS)} scrapes/s; ${result}`;
}

/**
 * One user flooding 1 MB frames the relay never decodes, from 4 connections, each reconnecting
 * as soon as it is closed (a budget per connection was reset by every reconnect).
 */
async function bytesAttack(relay: Relay): Promise<string> {
  const token = await devToken(relay.url, 'flooder');
  const frame = `{"type":"nonsense","pad":"${'x'.repeat(1000 * 1000)}"}`;
  let frames = 0;
  let connections = 0;
  const result = await bystander(relay, async () => {
    const end = Date.now() + SECS * 1000;
    const floodOnce = () =>
      new Promise<void>((done) => {
        const ws = new WebSocket(relay.wsUrl, ['relay.v1', `bearer.${token}`]);
        const pump = () => {
          while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 4_000_000 && Date.now() < end) {
            ws.send(frame);
            frames++;
          }
          if (ws.readyState === WebSocket.OPEN && Date.now() < end) setTimeout(pump, 1);
          else if (ws.readyState === WebSocket.OPEN) ws.close();
        };
        ws.on('open', () => {
          connections++;
          pump();
        });
        ws.on('message', () => undefined);
        ws.on('close', () => done());
        ws.on('error', () => undefined);
      });
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < end) {
          await floodOnce();
          await sleep(10);
        }
      }),
    );
  });
  return `1 MB-frame flood, 4 reconnecting connections: ${connections} connections opened, ${Math.round(frames / SECS)} frames/s sent; ${result}`;
}

async function measure(label: string, main: string): Promise<void> {
  const chosen = (process.env.BENCH_ATTACKS ?? 'presence,size,bytes,metrics').split(',');
  const attacks = [presenceAttack, sizeAttack, bytesAttack, metricsAttack].filter((a) => chosen.some((c) => a.name.startsWith(c)));
  for (const attack of attacks) {
    const pg = await startBenchPostgres();
    const relay = await startRelay(main, pg);
    try {
      const quiet = await bystander(relay, async () => undefined);
      console.log(`${label} ${attack.name}: no attack: ${quiet}`);
      console.log(`${label} ${attack.name}: ${await attack(relay)}`);
    } finally {
      await relay.stop();
      await pg.stop();
    }
  }
}

console.log(describeEnvironment());
const before = process.env.BENCH_BEFORE_MAIN;
if (before) await measure('before', resolve(before));
await measure('after ', resolve(import.meta.dirname, '../src/main.js'));
