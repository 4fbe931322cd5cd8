import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import { StoreHealth, defaultRetryDelayMs } from '../../src/engine/store-health.js';
import { checkReadiness } from '../../src/server/readiness.js';
import { reconnectDelaySecs } from '../../src/store/db.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  return {
    lines,
    log: {
      warn: (fields: Record<string, unknown>, message: string) => lines.push({ level: 'warn', fields, message }),
      info: (fields: Record<string, unknown>, message: string) => lines.push({ level: 'info', fields, message }),
    },
  };
}

const acking: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

describe('commit-path health (issue 8.2)', () => {
  it('logs a retry streak when it starts, steadily while it lasts (failures, documents, pending) and when it ends', async () => {
    const { lines, log } = recorder();
    const health = new StoreHealth({ log, reportEveryMs: 40 });
    expect(health.healthy).toBe(true);
    health.failed('d1', new Error('down'), 3);
    health.failed('d2', new Error('down'), 1);
    health.failed('d1', new Error('down'), 4);
    expect(health.healthy).toBe(false);
    await sleep(100);
    health.succeeded('d1');
    expect(health.healthy).toBe(false);
    health.succeeded('d2');
    expect(health.healthy).toBe(true);
    expect(lines[0]).toMatchObject({ level: 'warn', fields: { doc: 'd1', pending: 3 } });
    const reports = lines.filter((l) => l.message.includes('still unavailable'));
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(reports[0]?.fields).toMatchObject({ failures: 3, documents: 2, pending: 5 });
    expect(lines.at(-1)).toMatchObject({ level: 'info', fields: { failures: 3 } });
    await sleep(100);
    expect(lines.filter((l) => l.message.includes('still unavailable'))).toHaveLength(reports.length);
    health.close();
  });

  it('wakes waiting retries as soon as the database answers again', async () => {
    let answers = false;
    const health = new StoreHealth({ log: recorder().log, reportEveryMs: 10_000, probe: async () => answers, probeEveryMs: 10 });
    health.failed('d', new Error('down'), 1);
    let woke = false;
    void health.retryAfter(60_000).then(() => (woke = true));
    await sleep(50);
    expect(woke).toBe(false);
    answers = true;
    await sleep(50);
    expect(woke).toBe(true);
    health.close();
  });

  it('an engine acks its pending change promptly once the store answers, and the streak ends', async () => {
    const store = new MemoryOpLog();
    let answers = false;
    const health = new StoreHealth({ log: recorder().log, reportEveryMs: 10_000, probe: async () => answers, probeEveryMs: 10 });
    // Backoff far longer than the test: only the wake-up can make the retry happen in time.
    const engine = await DocumentEngine.load(randomUUID(), store, acking, testEngineOptions({ health, retryDelayMs: () => 60_000 }));
    store.failing = true;
    const acked = new Promise<Ack>((resolve, reject) =>
      engine.submit({ actor: randomUUID(), seq: 1, baseRev: 0, ops: [{ type: 'insert', pos: 0, text: 'x' }], userId: 'u' }, { acked: resolve, rejected: reject }),
    );
    await sleep(30);
    expect(health.healthy).toBe(false);
    store.failing = false;
    answers = true;
    await expect(acked).resolves.toMatchObject({ rev: 0, count: 1 });
    expect(health.healthy).toBe(true);
    health.close();
  });

  it('retry and reconnect delays stay short: commits at most 2.5 s apart, connection attempts at most 0.5 s', () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      expect(defaultRetryDelayMs(attempt, () => 1)).toBeLessThanOrEqual(2500);
      expect(reconnectDelaySecs(attempt, () => 1)).toBeLessThanOrEqual(0.5);
    }
    expect(defaultRetryDelayMs(0, () => 1)).toBe(100);
    expect(defaultRetryDelayMs(5, () => 0.5)).toBe(1000);
  });
});

describe('readiness follows the commit path', () => {
  it('reports database: error while commits fail, even when SELECT 1 answers', async () => {
    let commits = false;
    const probe = { database: async () => true, commitsHealthy: () => commits, redis: undefined, jwtKeys: () => true };
    expect(await checkReadiness(probe, false)).toMatchObject({ status: 'not_ready', checks: { database: 'error' } });
    commits = true;
    expect(await checkReadiness(probe, false)).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
  });
});
