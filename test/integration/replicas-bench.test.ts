import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BENCH = resolve(import.meta.dirname, '../../dist/bench/replicas.js');

/**
 * Smoke run of `npm run bench:replicas` on the hot-document workload at one small rate: it
 * starts PostgreSQL, Redis, three replicas and the reference replica, every client converges,
 * and it prints its table with no rollback under ownership. Speed is not asserted.
 */
describe('replicas benchmark (smoke)', () => {
  it('runs the hot document over three replicas and on one, converges and reports', async () => {
    const { stdout } = await run(process.execPath, [BENCH], {
      env: { ...process.env, BENCH_SCENARIOS: 'hot', BENCH_HOT_RATES: '100', BENCH_WARMUP_SECS: '1', BENCH_SECONDS: '2', BENCH_REPEATS: '1' },
      timeout: 170_000,
    });
    expect(stdout).toContain('1 doc × 50 on after, 3 replicas at 100 ops/s: converged');
    expect(stdout).toContain('1 doc × 50 on after, 1 replica at 100 ops/s: converged');
    const rows = stdout.split('\n').filter((line) => line.startsWith('| 1 doc × 50 | after,'));
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).not.toContain('did not drain');
      expect(row).toContain('| 0 (0.0 %) |');
    }
  }, 180_000);
});
