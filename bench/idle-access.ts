/**
 * Permission lookups caused by idle connections (issue 15): N connections, each a different
 * user joined to one of D documents with a stored role (ACCESS_POLICY=acl), nobody editing.
 * For two relay builds side by side in one run: the one built here (after) and another
 * (before: BENCH_BEFORE_MAIN, e.g. main built with `npx tsc -b tsconfig.build.json`).
 *
 *   npm run build --silent && BENCH_BEFORE_MAIN=/path/to/main/dist/src/main.js node dist/bench/idle-access.js
 *
 * Lookups are counted where they land, in PostgreSQL: index and sequential scans of
 * document_permissions (pg_stat_user_tables), so both builds are measured the same way. Each
 * build gets a fresh embedded PostgreSQL. After every connection joined, the relay is left
 * alone for BENCH_WARMUP_SECS (default: one cache lifetime plus 5 s, so cached roles have
 * expired once), then lookups are read every BENCH_INTERVAL_SECS for BENCH_INTERVALS intervals.
 * Options (env): BENCH_CONNECTIONS (2000), BENCH_DOCS (100), BENCH_TTL_SECS (10: the
 * PERMISSION_CACHE_TTL at which 2,000 idle connections made 200 lookups/s), BENCH_INTERVAL_SECS
 * (10), BENCH_INTERVALS (3).
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import WebSocket from 'ws';
import { describeEnvironment, describeVersions, median } from './environment.js';
import { processCpuSecs } from './proc-stats.js';
import { startBenchPostgres, startBenchRelay } from './processes.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 2000);
const DOCS = Number(process.env.BENCH_DOCS ?? 100);
const TTL_SECS = Number(process.env.BENCH_TTL_SECS ?? 10);
const INTERVAL_SECS = Number(process.env.BENCH_INTERVAL_SECS ?? 10);
const INTERVALS = Number(process.env.BENCH_INTERVALS ?? 3);
const WARMUP_SECS = Number(process.env.BENCH_WARMUP_SECS ?? TTL_SECS + 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  readonly lookupsPerSec: number[];
  readonly relayCpuPercent: number[];
  /** materi_permission_lookups_total over the same intervals, when the build exports it. */
  readonly counterPerSec: number[] | undefined;
}

/** Runs many async jobs, `width` at a time. */
async function inBatches<T>(count: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += width) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, k) => job(start + k)))));
  }
  return results;
}

function joinIdle(wsUrl: string, token: string, doc: string): Promise<WebSocket> {
  const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; code?: string };
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'join', doc }));
      else if (m.type === 'joined') resolve(ws);
      else if (m.type === 'error') reject(new Error(`join refused: ${m.code ?? '?'}`));
    });
    ws.on('error', reject);
  });
}

async function permissionScans(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ scans: string }[]>`
    SELECT (coalesce(idx_scan, 0) + coalesce(seq_scan, 0))::text AS scans FROM pg_stat_user_tables WHERE relname = 'document_permissions'`;
  return Number(row?.scans ?? 0);
}

async function lookupCounter(metricsUrl: string): Promise<number | undefined> {
  const match = /^materi_permission_lookups_total (\d+)/m.exec(await (await fetch(metricsUrl)).text());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

async function measure(label: string, main: string | undefined): Promise<Figures> {
  const pg = await startBenchPostgres();
  const relay = await startBenchRelay({ DATABASE_URL: pg.url, ACCESS_POLICY: 'acl', PERMISSION_CACHE_TTL: String(TTL_SECS), LOG_LEVEL: 'error' }, ...(main ? [main] : []));
  const sql = postgres(pg.url, { max: 1, onnotice: () => undefined });
  const sockets: WebSocket[] = [];
  try {
    const docs = Array.from({ length: DOCS }, () => randomUUID());
    await sql`INSERT INTO documents ${sql(docs.map((id) => ({ id, title: 'idle', created_by: 'bench' })))}`;
    const members = Array.from({ length: CONNECTIONS }, (_, i) => ({ document_id: docs[i % DOCS] ?? '', user_id: `idle${i}`, role: 'editor', granted_by: 'bench' }));
    for (let i = 0; i < members.length; i += 1000) await sql`INSERT INTO document_permissions ${sql(members.slice(i, i + 1000))}`;
    const started = performance.now();
    sockets.push(
      ...(await inBatches(CONNECTIONS, 50, async (i) => {
        const token = ((await (await fetch(`${relay.url}/dev/token?user=idle${i}&ttl=86400`)).json()) as { token: string }).token;
        return joinIdle(relay.wsUrl, token, docs[i % DOCS] ?? '');
      })),
    );
    console.log(`${label}: ${CONNECTIONS} connections joined in ${((performance.now() - started) / 1000).toFixed(1)} s; idle for ${WARMUP_SECS} s before measuring`);
    await sleep(WARMUP_SECS * 1000);
    const pid = relay.child.pid ?? 0;
    const figures: Figures = { lookupsPerSec: [], relayCpuPercent: [], counterPerSec: main ? undefined : [] };
    let scans = await permissionScans(sql);
    let counter = main ? undefined : await lookupCounter(relay.metricsUrl);
    let cpu = processCpuSecs(pid);
    for (let i = 0; i < INTERVALS; i++) {
      const t0 = performance.now();
      await sleep(INTERVAL_SECS * 1000);
      const secs = (performance.now() - t0) / 1000;
      const nowScans = await permissionScans(sql);
      const nowCpu = processCpuSecs(pid);
      figures.lookupsPerSec.push((nowScans - scans) / secs);
      figures.relayCpuPercent.push((100 * (nowCpu - cpu)) / secs);
      if (figures.counterPerSec && counter !== undefined) {
        const nowCounter = (await lookupCounter(relay.metricsUrl)) ?? counter;
        figures.counterPerSec.push((nowCounter - counter) / secs);
        counter = nowCounter;
      }
      scans = nowScans;
      cpu = nowCpu;
    }
    return figures;
  } finally {
    for (const ws of sockets) ws.terminate();
    await sql.end();
    await relay.stop();
    await pg.stop();
  }
}

const fmt = (values: readonly number[]) => values.map((v) => v.toFixed(1)).join(', ');

async function main(): Promise<void> {
  console.log(`environment: ${describeEnvironment()}`);
  console.log(`versions: ${describeVersions(['uWebSockets.js', 'postgres', 'ws'])}`);
  console.log(
    `workload: ${CONNECTIONS} idle connections (one user each) on ${DOCS} documents, ACCESS_POLICY=acl, PERMISSION_CACHE_TTL=${TTL_SECS} s, no Redis; ` +
      `${INTERVALS} intervals of ${INTERVAL_SECS} s after ${WARMUP_SECS} s idle; lookups = scans of document_permissions in pg_stat_user_tables`,
  );
  const beforeMain = process.env.BENCH_BEFORE_MAIN;
  const before = beforeMain ? await measure('before', beforeMain) : undefined;
  const after = await measure('after', undefined);
  console.log('');
  console.log('| build | lookups/s per interval | median lookups/s | relay CPU % per interval |');
  console.log('|---|---|---|---|');
  if (before) console.log(`| before (${beforeMain}) | ${fmt(before.lookupsPerSec)} | ${median(before.lookupsPerSec).toFixed(1)} | ${fmt(before.relayCpuPercent)} |`);
  console.log(`| after (this build) | ${fmt(after.lookupsPerSec)} | ${median(after.lookupsPerSec).toFixed(1)} | ${fmt(after.relayCpuPercent)} |`);
  if (after.counterPerSec) console.log(`after, materi_permission_lookups_total per s over the same intervals: ${fmt(after.counterPerSec)}`);
  if (before) {
    const b = median(before.lookupsPerSec);
    const a = median(after.lookupsPerSec);
    console.log(`median lookups/s before ${b.toFixed(1)} → after ${a.toFixed(1)}${a > 0 ? ` (${(b / a).toFixed(0)}× fewer)` : ' (none at all)'}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
