import { percentile } from './environment.js';

/** One measured step: one build on N replicas at one rate, one repeat. */
export interface Row {
  readonly label: string;
  /** The build's name (BENCH_RELAYS) and how many replicas it ran on. */
  readonly build: string;
  readonly replicas: number;
  readonly scenario: string;
  readonly offered: number;
  readonly repeat: number;
  readonly committedPerSec: number;
  readonly ack: number[];
  readonly fanout: number[];
  readonly commits: number;
  readonly rollbacks: number;
  readonly relayCpuPer1k: number;
  /** CPU the load generators used while measuring, in cores (CPU seconds per second). */
  readonly generatorCpuPerSec: number;
  readonly undelivered: number;
  readonly diverged: string[];
  readonly errors: string[];
  readonly lagP99Ms: number;
}

const f = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
const p = (values: readonly number[], q: number) => percentile(values, q);

/** The repeats of each (build, replicas, rate), in the order they first ran. */
function groups(rows: readonly Row[]): Row[][] {
  const byKey = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.scenario}|${r.label}|${r.offered}`;
    const group = byKey.get(key) ?? [];
    group.push(r);
    byKey.set(key, group);
  }
  return [...byKey.values()];
}

/** The middle value; with an even count, the mean of the two middle ones. */
function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function range(values: readonly number[], digits = 1): string {
  const known = values.filter((v) => !Number.isNaN(v));
  return known.length > 1 ? ` (${f(Math.min(...known), digits)}–${f(Math.max(...known), digits)})` : '';
}

/** How many of a step's repeats had a generator fall behind its schedule: those measured it. */
function lagged(g: readonly Row[]): string {
  const n = g.filter((r) => r.lagP99Ms > LAGGING_MS).length;
  return n === 0 ? '' : ` ⚠ ${n} of ${g.length} repeats lagged over ${LAGGING_MS} ms: not to be trusted`;
}

/**
 * Per (build, replicas, rate): the median over repeats of each repeat's figures, and the
 * range of the repeats' p99 (one p99 over a few seconds moves 2× between runs on shared cores:
 * the median of several is what is compared).
 */
export function printTable(rows: readonly Row[]): void {
  const repeats = Math.max(...rows.map((r) => r.repeat + 1));
  console.log('');
  console.log(`Medians over ${repeats} repeat${repeats > 1 ? 's' : ''} of each step${repeats > 1 ? '; in brackets, the range of the repeats\' fan-out p99' : ''}.`);
  console.log('| workload | relay | offered ops/s | committed ops/s | fan-out ms p50 / p99 | ack ms p50 / p99 | DB commits | DB rollbacks (%) | relay CPU s per 1k ops | generators\' CPU, cores | generator lag p99 ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const g of groups(rows)) {
    const first = g[0];
    if (!first) continue;
    const undelivered = g.reduce((n, r) => n + r.undelivered, 0);
    const drained = undelivered === 0 ? '' : ` (did not drain: ${undelivered} outstanding)`;
    const commits = g.reduce((n, r) => n + r.commits, 0);
    const rollbacks = g.reduce((n, r) => n + r.rollbacks, 0);
    const total = commits + rollbacks;
    const fanoutP99 = g.map((r) => p(r.fanout, 99));
    console.log(
      `| ${first.scenario} | ${first.label} | ${first.offered} | ${f(median(g.map((r) => r.committedPerSec)), 0)}${drained} | ${f(median(g.map((r) => p(r.fanout, 50))))} / ${f(median(fanoutP99))}${range(fanoutP99)} | ${f(median(g.map((r) => p(r.ack, 50))))} / ${f(median(g.map((r) => p(r.ack, 99))))} | ${commits} | ${rollbacks} (${total > 0 ? f((100 * rollbacks) / total, 1) : '0.0'} %) | ${f(median(g.map((r) => r.relayCpuPer1k)), 3)} | ${f(median(g.map((r) => r.generatorCpuPerSec)), 2)} | ${f(median(g.map((r) => r.lagP99Ms)))}${lagged(g)} |`,
    );
  }
}

/**
 * A generator whose typing schedule slipped this much (p99) was short of CPU itself: its
 * latencies include its own queueing, on both sides of a ratio.
 */
export const LAGGING_MS = 50;

/**
 * Fan-out p99 on several replicas over that on one, per build and rate. Each repeat's two
 * steps ran next to each other (they see the same background load), so the ratio is taken per
 * repeat and its median reported, with the range.
 */
export function printRatios(rows: readonly Row[]): void {
  const several = rows.filter((r) => r.replicas > 1);
  if (several.length === 0) return;
  console.log('');
  console.log(`| workload | build | offered ops/s | fan-out p99 several / 1 replica, median of per-repeat ratios (range) | fan-out p50 ratio, median | repeats whose generators lagged over ${LAGGING_MS} ms |`);
  console.log('|---|---|---|---|---|---|');
  for (const g of groups(several)) {
    const first = g[0];
    if (!first) continue;
    const p99: number[] = [];
    const p50: number[] = [];
    let lagging = 0;
    for (const r of g) {
      const one = rows.find((o) => o.replicas === 1 && o.build === r.build && o.scenario === r.scenario && o.offered === r.offered && o.repeat === r.repeat);
      if (!one) continue;
      p99.push(p(r.fanout, 99) / p(one.fanout, 99));
      p50.push(p(r.fanout, 50) / p(one.fanout, 50));
      if (Math.max(r.lagP99Ms, one.lagP99Ms) > LAGGING_MS) lagging++;
    }
    console.log(`| ${first.scenario}, ${first.replicas} replicas | ${first.build} | ${first.offered} | ${f(median(p99), 2)}×${range(p99, 2)} | ${f(median(p50), 2)}× | ${lagging} of ${p99.length} |`);
  }
}
