import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';

/** What the figures were measured on: printed with every benchmark. */
export function describeEnvironment(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `node ${process.version} on ${process.platform}/${process.arch}`,
    `${cpus().length} cores (${cpu})`,
    `${Math.round(totalmem() / 2 ** 30)} GiB memory`,
    `date ${new Date().toISOString()}`,
  ].join(', ');
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Installed versions of the named packages (from their package.json), for the record. */
export function describeVersions(packages: readonly string[]): string {
  return packages
    .map((name) => {
      try {
        const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../node_modules', name, 'package.json'), 'utf8')) as { version?: string };
        return `${name} ${pkg.version ?? '?'}`;
      } catch {
        return `${name} (not installed)`;
      }
    })
    .join(', ');
}
