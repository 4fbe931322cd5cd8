import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { freePort } from './ports.js';

export interface TestPostgres {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
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
