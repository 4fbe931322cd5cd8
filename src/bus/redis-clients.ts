import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { backoffDelayMs } from '../backoff.js';
import type { Config, HostPort } from '../config.js';

/** How this replica reaches Redis, from the configuration; undefined: no Redis (in-process bus). */
export type RedisTarget =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly name: string; readonly password: string | undefined }
  | { readonly kind: 'cluster'; readonly nodes: readonly HostPort[]; readonly password: string | undefined };

export type RedisClient = Redis | Cluster;

export function redisTargetOf(config: Config): RedisTarget | undefined {
  if (config.redisUrl !== undefined) return { kind: 'url', url: config.redisUrl };
  if (config.redisSentinels !== undefined) {
    return { kind: 'sentinel', sentinels: config.redisSentinels, name: config.redisSentinelName, password: config.redisPassword };
  }
  if (config.redisClusterNodes !== undefined) return { kind: 'cluster', nodes: config.redisClusterNodes, password: config.redisPassword };
  return undefined;
}

/** For logs: where Redis is, without credentials. */
export function describeRedisTarget(target: RedisTarget): string {
  const list = (hosts: readonly HostPort[]) => hosts.map((h) => `${h.host}:${h.port}`).join(',');
  switch (target.kind) {
    case 'url': {
      try {
        const u = new URL(target.url);
        return `${u.protocol}//${u.host}${u.pathname}`;
      } catch {
        return 'redis';
      }
    }
    case 'sentinel':
      return `sentinel ${target.name} via ${list(target.sentinels)}`;
    case 'cluster':
      return `cluster via ${list(target.nodes)}`;
  }
}

/**
 * Both connections fail fast while Redis is away instead of queueing: a publish that cannot
 * leave is dropped (PostgreSQL has the op; replicas catch up from it when Redis returns), so
 * memory stays bounded however long the outage. Reconnection is retried forever, quickly.
 * The subscriber resubscribes itself on reconnect (it must know when the subscription is
 * effective again to catch up from the log after it, not before).
 */
const common: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  autoResubscribe: false,
  retryStrategy: (times) => backoffDelayMs(times - 1, 100, 1000),
};

export function createRedisClient(target: RedisTarget, role: 'publisher' | 'subscriber'): RedisClient {
  const connectionName = `relay-${role}`;
  // The publisher's commands of one event-loop turn (a group commit's changes, the owner's
  // replies to them, each forward) leave in one write instead of one syscall each: the socket
  // writes were the forwarding path's largest cost in a --prof of bench:replicas. On one Redis
  // the bus corks the socket for the turn (redis-turn-writes.ts: cheaper than auto-pipelining,
  // and nothing waits for earlier answers); a Cluster auto-pipelines per node. Subscribing is
  // left as it is (a subscriber connection takes no pipelines).
  const enableAutoPipelining = role === 'publisher' && target.kind === 'cluster';
  switch (target.kind) {
    case 'url':
      return new Redis(target.url, { ...common, connectionName, enableAutoPipelining });
    case 'sentinel':
      return new Redis({
        ...common,
        connectionName,
        enableAutoPipelining,
        sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: target.name,
        ...(target.password !== undefined ? { password: target.password, sentinelPassword: target.password } : {}),
      });
    case 'cluster':
      return new Cluster(
        target.nodes.map((n) => ({ host: n.host, port: n.port })),
        {
          lazyConnect: true,
          // SSUBSCRIBE goes to the node that holds each channel's slot (see RedisBus.sharded).
          shardedSubscribers: true,
          enableOfflineQueue: false,
          enableAutoPipelining,
          clusterRetryStrategy: (times) => backoffDelayMs(times - 1, 100, 1000),
          redisOptions: { ...common, connectionName, ...(target.password !== undefined ? { password: target.password } : {}) },
        },
      );
  }
}
