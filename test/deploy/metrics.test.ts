import { describe, expect, it } from 'vitest';
import { METRIC_PREFIX, Metrics, instrumentCommits } from '../../src/metrics.js';
import { RevisionConflict, type CommittedChange } from '../../src/engine/ports.js';
import { MemoryOpLog } from '../support/memory-store.js';

const change = (rev: number, count: number): CommittedChange => ({
  rev,
  ops: Array.from({ length: count }, () => ({ type: 'insert' as const, pos: 0, text: 'x' })),
  actor: 'a',
  seq: rev + 1,
  userId: 'u',
  committedAt: Date.now(),
});

async function sample(metrics: Metrics, name: string): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => !('le' in v.labels))?.value;
}

describe('metrics', () => {
  it('uses one prefix for every relay metric (the process and Node defaults aside)', async () => {
    const names = (await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name);
    const own = names.filter((n) => !n.startsWith('process_') && !n.startsWith('nodejs_'));
    expect(own.length).toBeGreaterThan(10);
    for (const name of own) expect(name.startsWith(METRIC_PREFIX), name).toBe(true);
  });

  it('times successful commits, counts their ops, and counts failed ones as retries by reason', async () => {
    const metrics = new Metrics();
    const store = instrumentCommits(new MemoryOpLog(), metrics);
    await store.append('d', [change(0, 2), change(2, 3)]);
    await expect(store.append('d', [change(0, 1)])).rejects.toBeInstanceOf(RevisionConflict);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/materi_commit_latency_seconds_count 1\b/);
    expect(text).toMatch(/materi_commit_batch_ops_sum 5\b/);
    expect(text).toMatch(/materi_commit_retries_total\{reason="conflict"\} 1\b/);
  });

  it('evaluates readiness at scrape time and exports MAX_CONNECTIONS', async () => {
    const metrics = new Metrics({ maxConnections: 1234 });
    let database: 'ok' | 'error' = 'ok';
    metrics.trackReadiness(async () => ({ status: database === 'ok' ? 'ready' : 'not_ready', checks: { database, redis: 'in_process', jwt_keys: 'ok' } }));
    expect(await sample(metrics, 'materi_max_connections')).toBe(1234);
    expect(await metrics.registry.metrics()).toMatch(/^materi_ready 1$/m);
    database = 'error';
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^materi_ready 0$/m);
    expect(text).toMatch(/^materi_readiness_check\{check="database"\} 0$/m);
    expect(text).toMatch(/^materi_readiness_check\{check="redis"\} 1$/m);
  });
});
