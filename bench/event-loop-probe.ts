/**
 * Preloaded into a relay under benchmark (`node --import …/event-loop-probe.js`): samples its
 * event-loop delay every millisecond. On SIGUSR2 it writes the delay since the previous
 * signal to BENCH_EVENT_LOOP_FILE and starts over. prom-client's gauges sample every 10 ms and
 * include the interval, so they cannot see a step of a few milliseconds. Started with
 * `--expose-gc`, it also collects garbage after the report and adds the heap and RSS left, for
 * memory per open document (the collection's pause falls in the next window: read once to
 * start a measured one).
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 1;
const file = process.env.BENCH_EVENT_LOOP_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // A sample is the time between two ticks: the interval itself is not delay.
  const delayMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  const collect = (globalThis as { gc?: () => void }).gc;
  process.on('SIGUSR2', () => {
    const report = { p99Ms: delayMs(histogram.percentile(99)), maxMs: delayMs(histogram.max), samples: histogram.count, at: Date.now() };
    let memory = {};
    if (collect) {
      collect();
      const { heapUsed, rss } = process.memoryUsage();
      memory = { heapUsedBytes: heapUsed, rssBytes: rss };
    }
    histogram.reset();
    writeFileSync(file, JSON.stringify({ ...report, ...memory }));
  });
}
