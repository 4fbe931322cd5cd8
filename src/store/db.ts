import postgres from 'postgres';
import { backoffDelayMs } from '../backoff.js';

export type Sql = postgres.Sql;

export interface PoolOptions {
  readonly max: number;
  readonly maxLifetimeSecs: number;
  readonly idleTimeoutSecs: number;
}

export function connectDatabase(url: string, pool: PoolOptions): Sql {
  return postgres(url, {
    max: pool.max,
    max_lifetime: pool.maxLifetimeSecs,
    idle_timeout: pool.idleTimeoutSecs,
    connect_timeout: 5,
    // postgres.js's default waits (3^n)/100 s, up to 20 s, between connection attempts, with one
    // counter for the whole pool: after a long outage the pool sat out up to 20 s once the
    // database was back, and changes waited that long for their ack. Half a second at most
    // (attempts against a refused port are cheap); `reconnectDelaySecs` has the curve.
    backoff: reconnectDelaySecs,
    onnotice: () => undefined,
    // bigint columns (revisions, sequence numbers) come back as JS numbers: 2^53 ops per
    // document is out of reach, and BigInt would not mix with the rest of the arithmetic.
    types: {
      bigint: { to: 20, from: [20], serialize: (n: number) => String(n), parse: (s: string) => Number(s) },
    },
    transform: { undefined: null },
  });
}

/** Seconds before connection attempt `retries`: 50 ms doubling to 0.5 s, jittered so replicas spread out. */
export function reconnectDelaySecs(retries: number, random: () => number = Math.random): number {
  return backoffDelayMs(retries, 50, 500, random) / 1000;
}

/** `SELECT 1` with a deadline, so a dead database makes readiness fail fast instead of hanging. */
export async function pingDatabase(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([sql`SELECT 1`.then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Host, port and database of a URL, for logs; never the credentials. */
export function describeDatabaseUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}
