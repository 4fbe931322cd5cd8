import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isAlive } from '../../src/store/embedded-postgres.js';
import { freePort } from '../support/ports.js';
import { connectRaw } from '../support/raw-client.js';
import { devToken, getJson, runRelayToExit, startRelayProcess } from '../support/relay-process.js';

const MAIN = resolve(import.meta.dirname, '../../dist/src/main.js');
const DRAIN_SECS = 2;
const databaseUrl = inject('databaseUrl');

interface Detached {
  readonly pid: number;
  readonly url: string;
  output(): string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/** `node dist/src/main.js` in a process group of its own, as a terminal runs it, on the embedded PostgreSQL. */
async function startInOwnGroup(dataDir: string): Promise<Detached> {
  const port = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !['DATABASE_URL', 'REDIS_URL', 'JWT_PUBLIC_KEY_URL'].includes(k)) env[k] = v;
  Object.assign(env, {
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    RELAY_DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    BIND_ADDRESS: `127.0.0.1:${port}`,
    METRICS_PORT: String(await freePort()),
    SHUTDOWN_DRAIN_SECS: String(DRAIN_SECS),
  });
  const child = spawn(process.execPath, [MAIN], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal, atMs: Date.now() })),
  );
  const deadline = Date.now() + 90_000;
  while (!out.includes('"relay listening"')) {
    if (child.exitCode !== null) throw new Error(`relay exited before listening:\n${out}`);
    if (Date.now() > deadline) {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
      throw new Error(`relay did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid ?? 0, url: `http://127.0.0.1:${port}`, output: () => out, exit };
}

/** The embedded server's pid, from the data folder the relay logged. */
async function postgresPid(relay: Detached): Promise<number> {
  const line = relay.output().split('\n').find((l) => l.includes('"database: embedded PostgreSQL"')) ?? '';
  const dir = (JSON.parse(line) as { dir: string }).dir;
  return Number.parseInt((await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
}

function statusWithHost(port: number, path: string, host: string): Promise<number | undefined> {
  return new Promise((resolveStatus, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolveStatus(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('stopping with clients connected', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it.each([
    ['Ctrl-C to the whole process group', (pid: number) => process.kill(-pid, 'SIGINT')],
    ['SIGTERM to the node process', (pid: number) => process.kill(pid, 'SIGTERM')],
  ])('%s: exits 0 within SHUTDOWN_DRAIN_SECS + 5 s and leaves no process behind', async (_name, signal) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'relay-signal-'));
    dirs.push(dataDir);
    const relay = await startInOwnGroup(dataDir);
    const pgPid = await postgresPid(relay);
    expect(isAlive(pgPid)).toBe(true);
    const client = await connectRaw(`${relay.url.replace('http', 'ws')}/collab`, await devToken(relay.url, 'stayer'));
    const doc = randomUUID();
    client.send({ type: 'join', doc });
    await client.next('joined');

    const sentAt = Date.now();
    signal(relay.pid);
    const limitMs = (DRAIN_SECS + 5) * 1000;
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), limitMs + 5000).unref());
    const result = await Promise.race([relay.exit, timeout]);
    if (result === 'timeout') process.kill(-relay.pid, 'SIGKILL');
    expect(result, relay.output()).not.toBe('timeout');
    if (result === 'timeout') return;
    expect(result.code, relay.output()).toBe(0);
    expect(result.atMs - sentAt).toBeLessThanOrEqual(limitMs);
    expect((await client.closed()).code).toBe(1012);
    expect(isAlive(pgPid)).toBe(false);
  });
});

describe('one relay per address', () => {
  it('a relay whose BIND_ADDRESS is taken exits non-zero with one line naming it', async () => {
    const first = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
    try {
      const result = await runRelayToExit({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'error', BIND_ADDRESS: `127.0.0.1:${first.port}`, METRICS_PORT: String(await freePort()) });
      expect(result.code).toBe(1);
      expect(result.output.trim().split('\n')).toEqual([`relay: cannot listen on 127.0.0.1:${first.port} (BIND_ADDRESS): the address is in use by another process or not available on this machine`]);
      expect((await getJson(`${first.url}/health`)).status).toBe(200);
    } finally {
      await first.stop();
    }
  });

  it('so does one whose METRICS_PORT is taken', async () => {
    const first = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
    try {
      const result = await runRelayToExit({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'error', BIND_ADDRESS: `127.0.0.1:${await freePort()}`, METRICS_PORT: String(first.metricsPort) });
      expect(result.code).toBe(1);
      expect(result.output.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^relay: cannot listen on 127\\.0\\.0\\.1:${first.metricsPort} \\(METRICS_PORT / METRICS_ADDRESS\\)`))]);
    } finally {
      await first.stop();
    }
  });
});

describe('development auth guards', () => {
  it('refuses to start next to a real database without DEV_AUTH=1, and /dev/token refuses forwarded requests', async () => {
    const refused = await runRelayToExit({ DATABASE_URL: databaseUrl, DEV_AUTH: undefined, NODE_ENV: undefined });
    expect(refused.code).toBe(2);
    expect(refused.output.trim().split('\n')).toEqual([expect.stringContaining('set JWT_PUBLIC_KEY_URL and NODE_ENV=production, or DEV_AUTH=1')]);

    const relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
    try {
      expect(relay.output()).toContain('DEVELOPMENT AUTH IS ON');
      const forwarded = await fetch(`${relay.url}/dev/token?user=mallory&scope=relay:admin`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(forwarded.status).toBe(403);
      // fetch cannot set Host; a DNS-rebinding page's request carries its own name there.
      expect(await statusWithHost(relay.port, '/dev/token?user=mallory', 'attacker.example')).toBe(403);
      expect(await statusWithHost(relay.port, '/dev/token?user=alice', `localhost:${relay.port}`)).toBe(200);
      expect((await fetch(`${relay.url}/dev/token?user=alice`)).status).toBe(200);
    } finally {
      await relay.stop();
    }
  });
});
