import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, startEmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { freePort } from './ports.js';

export interface TestPostgres {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** kill -9 of the postmaster (a crash, not a shutdown); restart() brings it back. */
  kill(): Promise<void>;
  /** Starts the same cluster again after stop(), on the same port. */
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** A real PostgreSQL on a free loopback port, with its data in a fresh temporary folder. */
export async function startTestPostgres(): Promise<TestPostgres> {
  // /tmp is world-writable, so the unprivileged postgres user can own a folder inside it.
  const root = await mkdtemp(join(tmpdir(), 'relay-test-pg-'));
  await chmod(root, 0o755);
  const port = await freePort();
  const start = () => startEmbeddedPostgres({ dir: join(root, 'data'), port, database: 'relay' });
  let running = await start();
  let stopped = false;
  return {
    url: running.url,
    port,
    stop: async () => {
      if (!stopped) await running.stop();
      stopped = true;
    },
    kill: async () => {
      if (stopped) return;
      const pid = Number.parseInt((await readFile(join(root, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
      process.kill(pid, 'SIGKILL');
      stopped = true;
      // Its backends notice the postmaster's death and exit; the next start needs them gone.
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
    },
    restart: async () => {
      if (!stopped) await running.stop();
      running = await start();
      stopped = false;
    },
    destroy: async () => {
      if (!stopped) await running.stop();
      stopped = true;
      await rm(root, { recursive: true, force: true });
    },
  };
}
