/**
 * Comparing builds in one run, each in child processes of its own (bench:replicas-bus,
 * bench:replicas-receipts): which builds, how a child's one answer comes back, how a series
 * of figures is printed.
 */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { median } from './environment.js';

export interface Build {
  readonly name: string;
  /** A checkout with dist/ built. */
  readonly root: string;
}

/** BENCH_BUILDS: `name=path/to/checkout,…`; this checkout alone by default. */
export function readBuilds(value: string | undefined): Build[] {
  return (value ?? `this=${resolve(import.meta.dirname, '../..')}`).split(',').map((entry) => {
    const [name = 'build', root = '.'] = entry.split('=');
    return { name, root: resolve(root) };
  });
}

/**
 * Runs `script` with `args` in a child process and resolves with the one message it sends
 * back, refused unless `isAnswer` accepts it; rejects if the child exits without answering.
 */
export function askChild<T>(script: string, args: readonly string[], isAnswer: (message: unknown) => message is T, what: string): Promise<T> {
  const child = fork(script, [...args]);
  return new Promise((done, fail) => {
    child.once('message', (message) => (isAnswer(message) ? done(message) : fail(new Error(`${what} answered something else: ${JSON.stringify(message)}`))));
    child.once('exit', (code) => fail(new Error(`${what} exited with ${code} before answering`)));
  });
}

/** Whether `value` is an object whose `keys` all hold finite numbers (a child's figures). */
export function hasNumbers<K extends string>(value: unknown, keys: readonly K[]): value is Record<K, number> {
  if (typeof value !== 'object' || value === null) return false;
  return keys.every((key) => Number.isFinite(Reflect.get(value, key)));
}

/** "median (min-max)" of `values`, each with `digits` decimals. */
export function medianRange(values: readonly number[], digits: number): string {
  return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
}
