import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { get, type IncomingHttpHeaders } from 'node:http';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startTestPostgres } from '../support/postgres.js';
import { freePort } from '../support/ports.js';
import { getJson, runRelayToExit, startRelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');
const run = promisify(execFile);

describe('relay process: health, readiness, metrics, shutdown', () => {
  it('serves /health, /ready and /metrics, 404s unknown paths, and exits 0 on SIGTERM', async () => {
    const relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
    try {
      const health = await getJson(`${relay.url}/health`);
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'healthy', version: expect.any(String), active_connections: 0, active_documents: 0 });
      expect(Object.keys(health.body as object).sort()).toEqual(['active_connections', 'active_documents', 'status', 'uptime_seconds', 'version']);

      const ready = await getJson(`${relay.url}/ready`);
      expect(ready).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', redis: 'in_process', jwt_keys: 'ok' } } });

      const missing = await getJson(`${relay.url}/no/such/path`);
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ error: 'not_found' });

      const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
      expect(metrics).toContain('# TYPE materi_websocket_connections_active gauge');
      expect(metrics).toContain('# TYPE materi_operations_processed_total counter');
      expect(metrics).toContain('# TYPE materi_presence_broadcasts_total counter');
      for (const le of ['0.001', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '+Inf']) {
        expect(metrics).toContain(`materi_operation_latency_seconds_bucket{le="${le}"}`);
      }
      expect(metrics).toContain('process_resident_memory_bytes');
      expect(metrics).toContain('nodejs_eventloop_lag_seconds');
      expect(metrics).not.toMatch(/document_id=/);
      // A scraper that accepts gzip (Prometheus does) gets the same text gzipped: fewer bytes per scrape.
      const raw = await rawGet(relay.metricsPort, '/metrics', { 'accept-encoding': 'gzip' });
      expect(raw.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(raw.body).toString()).toContain('# TYPE materi_websocket_connections_active gauge');
      const plain = await rawGet(relay.metricsPort, '/metrics', {});
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.toString()).toContain('# TYPE materi_websocket_connections_active gauge');
    } finally {
      const code = await relay.stop('SIGTERM');
      expect(code).toBe(0);
      expect(relay.output()).toContain('"shutdown complete"');
    }
  });

  it('reports not_ready (503) while its database is down, and ready again when it returns', async () => {
    const pg = await startTestPostgres();
    const relay = await startRelayProcess({ env: { DATABASE_URL: pg.url } });
    try {
      expect((await getJson(`${relay.url}/ready`)).status).toBe(200);
      await pg.stop();
      const down = await getJson(`${relay.url}/ready`);
      expect(down).toEqual({ status: 503, body: { status: 'not_ready', checks: { database: 'error', redis: 'in_process', jwt_keys: 'ok' } } });
      // Liveness does not depend on the database: restarting the pod would not help.
      expect((await getJson(`${relay.url}/health`)).status).toBe(200);
      await pg.restart();
      let back = await getJson(`${relay.url}/ready`);
      for (let i = 0; i < 50 && back.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 200));
        back = await getJson(`${relay.url}/ready`);
      }
      expect(back.status).toBe(200);
    } finally {
      await relay.stop();
      await pg.destroy();
    }
  });

  it.each([
    [{ MAX_CONNECTIONS: 'abc' }, 'MAX_CONNECTIONS must be a positive integer (got "abc")'],
    [{ BIND_ADDRESS: 'nope' }, 'BIND_ADDRESS must be host:port'],
    [{ NODE_ENV: 'production' }, 'DATABASE_URL is required when NODE_ENV=production'],
  ])('refuses to start with a bad configuration %j: exit 2 and one line', async (env, message) => {
    const result = await runRelayToExit(env);
    expect(result.code).toBe(2);
    expect(result.output.trim().split('\n')).toEqual([expect.stringContaining(message)]);
  });
});

describe('embedded defaults', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('starts with no DATABASE_URL on an embedded PostgreSQL that keeps its data across restarts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'relay-embedded-'));
    dirs.push(dataDir);
    const env = { RELAY_DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(await freePort()), DATABASE_URL: undefined, REDIS_URL: undefined, JWT_PUBLIC_KEY_URL: undefined };
    const first = await startRelayProcess({ env });
    expect(first.output()).toContain('"database: embedded PostgreSQL"');
    expect(first.output()).toContain('"migrations applied"');
    expect((await getJson(`${first.url}/ready`)).status).toBe(200);
    expect(await first.stop('SIGINT')).toBe(0);

    const second = await startRelayProcess({ env });
    try {
      expect(second.output()).toContain('"schema up to date"');
      expect((await getJson(`${second.url}/ready`)).body).toMatchObject({ status: 'ready' });
    } finally {
      expect(await second.stop('SIGTERM')).toBe(0);
    }
  });
});

describe('migrations', () => {
  it('npm run migrate applies the schema with a hash-partitioned op log, and a second run is a no-op', async () => {
    const pg = await startTestPostgres();
    const cli = resolve(import.meta.dirname, '../../dist/src/store/migrate-cli.js');
    try {
      const first = await run(process.execPath, [cli], { env: { ...process.env, DATABASE_URL: pg.url } });
      expect(first.stdout).toMatch(/applied \d+ migration/);
      const second = await run(process.execPath, [cli], { env: { ...process.env, DATABASE_URL: pg.url } });
      expect(second.stdout).toMatch(/up to date/);

      const sql = postgres(pg.url, { max: 1, onnotice: () => undefined });
      try {
        const [table] = await sql`SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'operations'::regclass`;
        expect(table?.partstrat).toBe('h');
        const parts = await sql`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'operations'::regclass`;
        expect(parts[0]?.n).toBe(16);
        const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
        const names = tables.map((t) => t.tablename as string);
        expect(names).toEqual(expect.arrayContaining(['documents', 'document_permissions', 'document_snapshots', 'operations', 'actor_progress']));
      } finally {
        await sql.end();
      }
    } finally {
      await pg.destroy();
    }
  });
});

describe('concurrent start-up', () => {
  it('several relays migrating one fresh database at once all start (the migration lock waits)', async () => {
    const pg = await startTestPostgres();
    try {
      const relays = await Promise.all([1, 2, 3].map(() => startRelayProcess({ env: { DATABASE_URL: pg.url } })));
      for (const relay of relays) expect((await getJson(`${relay.url}/ready`)).status).toBe(200);
      expect(await Promise.all(relays.map((r) => r.stop()))).toEqual([0, 0, 0]);
    } finally {
      await pg.destroy();
    }
  });
});

/** A GET whose body is not decoded (fetch would gunzip it and hide the encoding). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}
