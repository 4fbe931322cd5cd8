import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports.js';

const MAIN = resolve(import.meta.dirname, '../../dist/src/main.js');

export interface RelayProcess {
  readonly port: number;
  readonly metricsPort: number;
  readonly url: string;
  readonly wsUrl: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (JSON log lines). */
  output(): string;
  /** Sends a signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited(): Promise<number | null>;
}

export interface StartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reuse a port (for restarts); a free one by default. */
  readonly port?: number;
  readonly metricsPort?: number;
  readonly timeoutMs?: number;
}

/** Attempts at finding free ports: see startRelayProcess. */
const PORT_ATTEMPTS = 3;

/**
 * Starts the built relay (dist/) as a child process and waits until it listens. A port found
 * free can be taken by another test's process before the relay binds it (test files run in
 * parallel); the relay then exits with "cannot listen on", and the start is tried again on
 * other free ports. Ports the caller chose are never changed.
 */
export async function startRelayProcess(options: StartOptions = {}): Promise<RelayProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const metricsPort = options.metricsPort ?? (await freePort());
    try {
      return await launch(options, port, metricsPort);
    } catch (err) {
      const taken = err instanceof RelayStartError ? Number(/cannot listen on [^\s]*:(\d+)/.exec(err.output)?.[1]) : NaN;
      const ours = (taken === port && options.port === undefined) || (taken === metricsPort && options.metricsPort === undefined);
      if (!ours || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

class RelayStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}:\n${output}`);
  }
}

async function launch(options: StartOptions, port: number, metricsPort: number): Promise<RelayProcess> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NODE_ENV: 'test', DEV_AUTH: '1', LOG_LEVEL: 'info', ...options.env })) {
    if (v !== undefined) env[k] = v;
  }
  // Each relay gets its own data folder (development signing key) unless the test shares one.
  const ownDataDir = env.RELAY_DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'relay-data-')) : undefined;
  if (ownDataDir) env.RELAY_DATA_DIR = ownDataDir;
  env.BIND_ADDRESS = `127.0.0.1:${port}`;
  env.METRICS_PORT = String(metricsPort);
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((res) =>
    child.once('exit', (code) => {
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
      res(code);
    }),
  );

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (!out.includes('"relay listening"')) {
    if (child.exitCode !== null) {
      // The data folder is gone only once the exit handler ran: a retry must not race it.
      await exit;
      throw new RelayStartError(`relay exited with ${child.exitCode} before listening`, out);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new RelayStartError('relay did not start in time', out);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    metricsPort,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/collab`,
    child,
    output: () => out,
    exited: () => exit,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
  };
}

/** Runs the relay to completion (for start-up failures) and returns its exit code and output. */
export function runRelayToExit(env: Readonly<Record<string, string | undefined>>, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, NODE_ENV: 'test', DEV_AUTH: '1', ...env })) if (v !== undefined) merged[k] = v;
    const child = spawn(process.execPath, [MAIN], { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay did not exit:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

/** A development token from the relay's loopback-only minting endpoint. */
export async function devToken(relayUrl: string, user: string, ttlSecs = 3600): Promise<string> {
  const res = await fetch(`${relayUrl}/dev/token?user=${encodeURIComponent(user)}&ttl=${ttlSecs}`);
  if (!res.ok) throw new Error(`dev token: HTTP ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text.length ? (JSON.parse(text) as unknown) : undefined };
}

/** One call of a relay's document management API (/api/v1/documents), with `token` as the bearer when given. */
export async function documentsApi(
  relayUrl: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const res = await fetch(`${relayUrl}/api/v1/documents${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}
