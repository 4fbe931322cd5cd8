import type { EngineOptions } from '../../src/engine/document.js';

/** Engine options for unit tests: generous windows, fast retries, quiet store errors. */
export function testEngineOptions(over: Partial<EngineOptions> = {}): EngineOptions {
  return {
    maxOps: 100,
    historyTtlMs: 600_000,
    historyMaxChanges: 20_000,
    snapshotIntervalOps: 1000,
    now: Date.now,
    retryDelayMs: () => 5,
    onStoreError: () => undefined,
    ...over,
  };
}
