/**
 * The benchmark's side of bench/event-loop-probe.ts: signals the relay under test and reads the
 * event-loop delay its probe wrote since the previous read.
 */
import { readFileSync, statSync } from 'node:fs';

export interface EventLoopDelay {
  readonly p99Ms: number;
  readonly maxMs: number;
  /** After a full collection, when the relay runs with --expose-gc. */
  readonly memory?: { readonly heapUsedBytes: number; readonly rssBytes: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Undefined when the probe did not answer within 2 s or wrote something unreadable. */
export async function readEventLoopDelay(pid: number, probeFile: string): Promise<EventLoopDelay | undefined> {
  const mtime = () => {
    try {
      return statSync(probeFile).mtimeMs;
    } catch {
      return 0;
    }
  };
  const previous = mtime();
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200 && mtime() === previous; i++) await sleep(10);
  try {
    const report: unknown = JSON.parse(readFileSync(probeFile, 'utf8'));
    if (typeof report !== 'object' || report === null || !('p99Ms' in report) || !('maxMs' in report)) return undefined;
    const { p99Ms, maxMs } = report;
    if (typeof p99Ms !== 'number' || typeof maxMs !== 'number') return undefined;
    const heapUsedBytes = 'heapUsedBytes' in report ? report.heapUsedBytes : undefined;
    const rssBytes = 'rssBytes' in report ? report.rssBytes : undefined;
    return typeof heapUsedBytes === 'number' && typeof rssBytes === 'number' ? { p99Ms, maxMs, memory: { heapUsedBytes, rssBytes } } : { p99Ms, maxMs };
  } catch {
    return undefined;
  }
}
