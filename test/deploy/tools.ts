import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');

const exec = promisify(execFile);

/** Runs a tool and returns its output; a non-zero exit fails with the tool's own output. */
export async function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout, stderr } = await exec(command, [...args], { cwd: options.cwd ?? ROOT, env: options.env, maxBuffer: 64 * 1024 * 1024 });
    return stdout + stderr;
  } catch (err) {
    const failure = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${failure.message}\n${failure.stdout ?? ''}${failure.stderr ?? ''}`);
  }
}

export function readText(path: string): string {
  return readFileSync(resolve(ROOT, path), 'utf8');
}

/** YAML merge keys (`<<: *anchor`) are applied, as Compose does. */
export function readYaml(path: string): unknown {
  return parse(readText(path), { merge: true });
}

export function parseYamlDocuments(text: string): unknown[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    return doc.toJS() as unknown;
  });
}

/** Narrowing helpers for parsed YAML/JSON: tests fail with a clear message on a wrong shape. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function field(value: unknown, ...path: Array<string | number>): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === 'number') current = Array.isArray(current) ? (current as unknown[])[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

export function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error(`expected a list, got ${JSON.stringify(value)}`);
  return value as unknown[];
}

export function text(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/** The alert and recording rules of prometheus/rules, with their PromQL. */
export function ruleExpressions(): Array<{ name: string; expr: string }> {
  const files = ['prometheus/rules/relay.yaml', 'prometheus/rules/relay-recording.yaml'];
  return files.flatMap((file) =>
    list(field(readYaml(file), 'groups')).flatMap((group) =>
      list(field(group, 'rules')).map((rule) => ({ name: text(field(rule, 'alert') ?? field(rule, 'record')), expr: text(field(rule, 'expr')) })),
    ),
  );
}

export function alertNames(): string[] {
  return list(field(readYaml('prometheus/rules/relay.yaml'), 'groups')).flatMap((group) =>
    list(field(group, 'rules')).map((rule) => field(rule, 'alert')).filter((name): name is string => typeof name === 'string'),
  );
}
