import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BENCH = resolve(import.meta.dirname, '../../dist/bench/typing.js');

/**
 * Smoke run of `npm run bench:typing` on a tiny workload: it starts its servers and load
 * generators, every client converges, and it prints its table. Speed is not asserted.
 */
describe('typing benchmark (smoke)', () => {
  it('runs both servers at one small rate, converges and reports', async () => {
    const { stdout } = await run(process.execPath, [BENCH], {
      env: {
        ...process.env,
        BENCH_RATES: '100',
        BENCH_BEYOND: '0',
        BENCH_DOCS: '2',
        BENCH_CLIENTS_PER_DOC: '3',
        BENCH_GENERATORS: '2',
        BENCH_WARMUP_SECS: '1',
        BENCH_SECONDS: '2',
      },
      timeout: 170_000,
    });
    expect(stdout).toContain('relay at 100 ops/s: converged');
    expect(stdout).toContain('sharedb (memory) at 100 ops/s: converged');
    const rows = stdout.split('\n').filter((line) => /^\| (relay|sharedb \(memory\)) \| 100 \|/.test(line));
    expect(rows).toHaveLength(2);
    // Both delivered everything: the committed column carries no "did not drain".
    for (const row of rows) expect(row).not.toContain('did not drain');
  }, 180_000);
});
