import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

/** The repository's migrations/ folder, found from this module in src/ or dist/src/. */
export function migrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromDist = resolve(here, '../../../migrations');
  const fromSrc = resolve(here, '../../migrations');
  return here.includes(`${'/dist/'}`) ? fromDist : fromSrc;
}

export interface MigrationLog {
  info(msg: string): void;
}

/**
 * Applies pending migrations. node-pg-migrate holds an advisory lock while it runs; in 'wait'
 * mode a replica that starts while another migrates waits for it (the default, 'fail', would
 * make every replica but one crash when a rollout starts several at once). Applying an
 * up-to-date schema is a no-op.
 */
export async function migrateUp(databaseUrl: string, log: MigrationLog): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir(),
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log: (msg: string) => log.info(msg),
    verbose: false,
  });
  return applied.map((m) => m.name);
}
