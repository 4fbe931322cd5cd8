/**
 * A join that arrives while the op log fails (a restarted database's stale pooled connection, a
 * failover) waits for the load to be retried instead of being refused at once; a longer outage
 * refuses it after LOAD_RETRY_WINDOW_MS, and a value the store refuses for good is not retried.
 */
import { describe, expect, it } from 'vitest';
import type { CommitListener } from '../../src/engine/document.js';
import { StoreRejected, type Snapshot } from '../../src/engine/ports.js';
import { DocumentRegistry, LOAD_RETRY_WINDOW_MS } from '../../src/engine/registry.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000120';
const quiet: CommitListener = { applied: () => undefined };

/** MemoryOpLog counting snapshot reads (one per load attempt). */
class CountingLog extends MemoryOpLog {
  snapshotReads = 0;
  override latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    this.snapshotReads++;
    return super.latestSnapshot(docId);
  }
}

describe('loading a document while the op log fails', () => {
  it('retries until the store answers, and the join gets the engine', async () => {
    const store = new CountingLog();
    store.failing = true;
    const registry = new DocumentRegistry(store, quiet, { ...testEngineOptions({ retryDelayMs: () => 20 }), idleUnloadMs: 60_000 });
    setTimeout(() => (store.failing = false), 150);
    const engine = await registry.acquire(DOC);
    expect(engine.headRev).toBe(0);
    expect(store.snapshotReads).toBeGreaterThan(1);
    expect(registry.peek(DOC)).toBe(engine);
  });

  it(`gives up after ${LOAD_RETRY_WINDOW_MS} ms of failures, and a later join loads afresh`, async () => {
    const store = new CountingLog();
    store.failing = true;
    let clock = 0;
    // Each retry moves the clock a second on: the window is spent after three.
    const options = testEngineOptions({ now: () => clock, retryDelayMs: () => ((clock += 1000), 1) });
    const registry = new DocumentRegistry(store, quiet, { ...options, idleUnloadMs: 60_000 });
    await expect(registry.acquire(DOC)).rejects.toThrow('database unavailable');
    expect(store.snapshotReads).toBe(3);
    expect(registry.size).toBe(0);
    store.failing = false;
    await expect(registry.acquire(DOC)).resolves.toMatchObject({ headRev: 0 });
  });

  it('does not retry a value the store refuses for good', async () => {
    class Refusing extends CountingLog {
      override latestSnapshot(docId: string): Promise<Snapshot | undefined> {
        void super.latestSnapshot(docId);
        return Promise.reject(new StoreRejected('PostgreSQL refused the value: invalid input', '22P02'));
      }
    }
    const store = new Refusing();
    const registry = new DocumentRegistry(store, quiet, { ...testEngineOptions(), idleUnloadMs: 60_000 });
    await expect(registry.acquire(DOC)).rejects.toBeInstanceOf(StoreRejected);
    expect(store.snapshotReads).toBe(1);
  });
});
