/**
 * `npm run migrate`: applies migrations to DATABASE_URL and exits. This is what the Kubernetes
 * migration job runs before a rollout.
 */
import { migrateUp } from './migrate.js';
import { describeDatabaseUrl } from './db.js';

const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('DATABASE_URL must be set to run migrations\n');
  process.exit(2);
}
try {
  const applied = await migrateUp(url, { info: () => undefined });
  process.stdout.write(
    applied.length === 0
      ? `schema of ${describeDatabaseUrl(url)} is up to date\n`
      : `applied ${applied.length} migration(s) to ${describeDatabaseUrl(url)}: ${applied.join(', ')}\n`,
  );
} catch (err) {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
