import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { ownerKey } from '../../src/bus/redis-wire.js';
import { readOpLog } from './oplog.js';
import { OtClient } from './ot-client.js';
import { rng } from './random-edits.js';
import { devToken, startRelayProcess, type RelayProcess } from './relay-process.js';

/** Relay settings of the multi-replica tests: fast heartbeats and short drains. */
export const REPLICA_ENV = {
  HEARTBEAT_INTERVAL_SECS: '1',
  HEARTBEAT_TIMEOUT_SECS: '3',
  SHUTDOWN_DRAIN_SECS: '1',
  CURSOR_THROTTLE_MS: '50',
  LOG_LEVEL: 'info',
} as const;

export interface ReplicaSet {
  readonly relays: RelayProcess[];
  readonly dataDir: string;
  /** Starts one more replica (same data folder, so the same development signing key); `env` overrides the set's. */
  add(env?: Readonly<Record<string, string>>): Promise<RelayProcess>;
  stop(): Promise<void>;
}

/**
 * N relay processes sharing one data folder: the development signing key in it is created by
 * the first and read by the others, so a token from any replica works on every one.
 */
export async function startReplicas(count: number, env: Readonly<Record<string, string>>): Promise<ReplicaSet> {
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-replicas-'));
  const relays: RelayProcess[] = [];
  const start = (extra: Readonly<Record<string, string>> = {}) => startRelayProcess({ env: { ...REPLICA_ENV, ...env, ...extra, RELAY_DATA_DIR: dataDir } });
  relays.push(await start());
  relays.push(...(await Promise.all(Array.from({ length: count - 1 }, () => start()))));
  return {
    relays,
    dataDir,
    add: async (extra) => {
      const r = await start(extra);
      relays.push(r);
      return r;
    },
    stop: async () => {
      await Promise.all(relays.map((r) => r.stop()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Clients spread over the documents round-robin, and each document's clients over the relays; one user each. */
export async function startClients(relays: readonly RelayProcess[], docs: readonly string[], count: number, prefix = 'u'): Promise<OtClient[]> {
  const first = relays[0];
  if (!first) throw new Error('no relay');
  const wsUrls = relays.map((r) => r.wsUrl);
  const clients = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const user = `${prefix}${i}`;
      const doc = docs[i % docs.length] ?? '';
      return new OtClient({ doc, user, wsUrls, first: Math.floor(i / docs.length) % relays.length, token: await devToken(first.url, user) });
    }),
  );
  await Promise.all(clients.map((c) => c.start()));
  return clients;
}

/** Random edits and cursor moves from every client for `durationMs`. */
export async function randomActivity(clients: readonly OtClient[], durationMs: number, seed: number, pauseMs = 120): Promise<void> {
  const deadline = Date.now() + durationMs;
  await Promise.all(
    clients.map(async (client, i) => {
      const random = rng(seed + i);
      while (Date.now() < deadline) {
        if (random() < 0.75) client.edit(random);
        else client.moveCursor(random);
        await new Promise((r) => setTimeout(r, pauseMs / 2 + random() * pauseMs));
      }
    }),
  );
}

/**
 * Waits until every client has nothing pending and sits at the log's head, then checks that
 * each document's clients hold exactly the content rebuilt from the op log, that revisions are
 * 1..head with no hole, and that no change was committed twice.
 */
export async function expectConverged(clients: readonly OtClient[], databaseUrl: string, timeoutMs = 30_000): Promise<void> {
  const byDoc = new Map<string, OtClient[]>();
  for (const c of clients) byDoc.set(docOf(c), [...(byDoc.get(docOf(c)) ?? []), c]);
  const deadline = Date.now() + timeoutMs;
  for (const [doc, members] of byDoc) {
    for (;;) {
      const log = await readOpLog(databaseUrl, doc);
      const head = log.revisions.at(-1) ?? 0;
      if (members.every((c) => c.settled && c.joined && c.rev === head)) {
        expect(log.revisions).toEqual(Array.from({ length: head }, (_, i) => i + 1));
        // One change's rows are consecutive; a change committed twice would show its key again later.
        const runs: string[] = [];
        for (const key of log.changeKeys) if (runs.at(-1) !== key) runs.push(key);
        expect(new Set(runs).size).toBe(runs.length);
        for (const c of members) {
          expect(c.doc).toEqual(log.content);
          expect(c.duplicates).toEqual([]);
          // Every acked change with ops is in the log, once.
          for (const [seq, ack] of c.acked) if (ack.count > 0) expect(runs).toContain(`${c.actor}/${seq}`);
        }
        break;
      }
      if (Date.now() > deadline) {
        const states = members.map((c) => `${c.user}: rev ${c.rev} settled ${c.settled} joined ${c.joined} errors ${c.errors.slice(-3).join(' | ')}`);
        throw new Error(`document ${doc} did not converge (log head ${head}):\n${states.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const docOf = (c: OtClient): string => c.docId;

/** The replica id a relay logged at start (it names the owner in Redis). */
export function replicaIdOf(relay: RelayProcess): string {
  const match = /"replica":"([0-9a-f-]{36})"/.exec(relay.output());
  if (!match?.[1]) throw new Error('the relay did not log its replica id');
  return match[1];
}

/** The relay that holds a document's lease in Redis, if any. */
export async function ownerOf(redisUrl: string, relays: readonly RelayProcess[], doc: string): Promise<RelayProcess | undefined> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const holder = await redis.get(ownerKey(doc));
    return relays.find((r) => holder !== null && replicaIdOf(r) === holder);
  } finally {
    redis.disconnect();
  }
}

/** Sum of a Prometheus counter (or a histogram's _count) on a relay, over the series matching `labels`. */
export async function metricOf(relay: RelayProcess, name: string, labels = ''): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`);
  const text = await res.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Revision conflicts (a commit that lost a race and was rolled back) summed over relays. */
export async function conflictsOf(relays: readonly RelayProcess[]): Promise<number> {
  const counts = await Promise.all(relays.map((r) => metricOf(r, 'materi_commit_retries_total', 'reason="conflict"')));
  return counts.reduce((a, b) => a + b, 0);
}

/** Every client inserts one character at a random position every ~pauseMs, for durationMs. */
export async function typeSteadily(clients: readonly OtClient[], durationMs: number, seed: number, pauseMs = 60): Promise<void> {
  const deadline = Date.now() + durationMs;
  await Promise.all(
    clients.map(async (client, i) => {
      const random = rng(seed + i);
      while (Date.now() < deadline) {
        const pos = Math.floor(random() * (client.text.length + 1));
        client.localChange([{ type: 'insert', pos, text: String.fromCharCode(97 + Math.floor(random() * 26)) }]);
        await new Promise((r) => setTimeout(r, pauseMs / 2 + random() * pauseMs));
      }
    }),
  );
}

/** Longest time without any ack to `clients` between `from` and `to` (ms since the epoch). */
export function longestAckGap(clients: readonly OtClient[], from: number, to: number): number {
  const times = clients.flatMap((c) => [...c.ackedAt.values()]).filter((t) => t >= from && t <= to);
  times.sort((a, b) => a - b);
  let gap = 0;
  let last = from;
  for (const t of [...times, to]) {
    gap = Math.max(gap, t - last);
    last = t;
  }
  return gap;
}

/**
 * `count` replicas started before the enclosing describe's tests and stopped after them,
 * together with the clients those tests start (stopped first).
 */
export function replicasForSuite(count: number, env: () => Record<string, string>): { readonly set: ReplicaSet; readonly clients: OtClient[] } {
  let started: ReplicaSet | undefined;
  const clients: OtClient[] = [];
  beforeAll(async () => {
    started = await startReplicas(count, env());
  });
  afterAll(async () => {
    for (const c of clients) c.stop();
    await started?.stop();
  });
  return {
    get set(): ReplicaSet {
      if (!started) throw new Error('the replicas have not started');
      return started;
    },
    clients,
  };
}
