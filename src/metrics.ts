import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RevisionConflict, type OpLogStore } from './engine/ports.js';
import type { ReadinessReport } from './server/readiness.js';

/** Every metric of the relay carries this prefix (the seed's names start with it). */
export const METRIC_PREFIX = 'materi_';

/**
 * The relay's metrics. The seed's four names and label sets are kept exactly; everything else
 * uses the same prefix. No per-document label anywhere: document ids are unbounded and would
 * blow up the time-series count. The alert rules in prometheus/ and the dashboard in grafana/
 * use these names; test/deploy checks them against a real Prometheus.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly connectionsActive = new Gauge({
    name: 'materi_websocket_connections_active',
    help: 'Active WebSocket connections',
    registers: [this.registry],
  });

  readonly operationsProcessed = new Counter({
    name: 'materi_operations_processed_total',
    help: 'Total operations processed',
    labelNames: ['operation_type', 'status'] as const,
    registers: [this.registry],
  });

  readonly operationLatency = new Histogram({
    name: 'materi_operation_latency_seconds',
    help: 'Operation processing latency, from receipt of a change to its ack after commit',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
    registers: [this.registry],
  });

  readonly presenceBroadcasts = new Counter({
    name: 'materi_presence_broadcasts_total',
    help: 'Total presence broadcast events',
    registers: [this.registry],
  });

  readonly documentsActive = new Gauge({
    name: 'materi_documents_active',
    help: 'Documents loaded in memory on this replica',
    registers: [this.registry],
  });

  readonly clientsClosed = new Counter({
    name: 'materi_connections_closed_total',
    help: 'Connections closed by the relay, by reason (slow_consumer: the send buffer passed MAX_BACKPRESSURE_BYTES)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Exported so saturation (connections / limit) is one PromQL division, whatever each replica's setting. */
  readonly maxConnections = new Gauge({
    name: 'materi_max_connections',
    help: 'MAX_CONNECTIONS of this replica: upgrades past it get HTTP 503',
    registers: [this.registry],
  });

  readonly postgresErrors = new Counter({
    name: 'materi_postgres_errors_total',
    help: 'Failed PostgreSQL calls of the engine (each is retried; changes stay pending, nothing is lost)',
    registers: [this.registry],
  });

  readonly redisErrors = new Counter({
    name: 'materi_redis_errors_total',
    help: 'Redis connection errors and failed Redis commands, by connection role',
    labelNames: ['role'] as const,
    registers: [this.registry],
  });

  readonly commitRetries = new Counter({
    name: 'materi_commit_retries_total',
    help: 'Op-log commits that failed and are retried: conflict (another replica committed first) or error (PostgreSQL failed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly commitLatency = new Histogram({
    name: 'materi_commit_latency_seconds',
    help: 'Duration of successful op-log INSERT transactions (one group commit)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly commitBatchOps = new Histogram({
    name: 'materi_commit_batch_ops',
    help: 'Ops written by one successful group commit',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [this.registry],
  });

  readonly fanoutLatency = new Histogram({
    name: 'materi_fanout_latency_seconds',
    help: 'From the commit of a change on another replica to its arrival here over Redis (includes clock skew between hosts)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly ownershipTransitions = new Counter({
    name: 'materi_document_ownership_changes_total',
    help: 'Documents this replica started to own (owner), to forward to another owner (follower), or to commit without knowing the owner because Redis did not answer (fallback)',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });

  readonly changesRejectedByStore = new Counter({
    name: 'materi_changes_rejected_by_store_total',
    help: 'Changes refused because PostgreSQL will never accept a value in them (the rest of their batch committed)',
    registers: [this.registry],
  });

  readonly jwksFetchFailures = new Counter({
    name: 'materi_jwks_fetch_failures_total',
    help: 'Failed fetches of the JWKS from JWT_PUBLIC_KEY_URL (cached keys stay in use)',
    registers: [this.registry],
  });

  readonly permissionLookups = new Counter({
    name: 'materi_permission_lookups_total',
    help: 'Role lookups that reached PostgreSQL (permission cache misses: joins, and re-checks of connections to edited documents or after a role change)',
    registers: [this.registry],
  });

  readonly roleChangesReceived = new Counter({
    name: 'materi_role_changes_received_total',
    help: 'Role changes made through another replica\'s management API, received over the bus',
    registers: [this.registry],
  });

  private readinessSource: (() => Promise<ReadinessReport>) | undefined;
  /** One readiness check per scrape, shared by the two gauges (the registry collects them concurrently). */
  private readinessRefresh: Promise<void> | undefined;

  readonly ready = new Gauge({
    name: 'materi_ready',
    help: '1 when /ready would answer 200, 0 otherwise (evaluated at each scrape)',
    registers: [this.registry],
    collect: () => this.refreshReadiness(),
  });

  readonly readinessCheck = new Gauge({
    name: 'materi_readiness_check',
    help: "/ready's checks at each scrape: 1 passing (or in_process), 0 failing",
    labelNames: ['check'] as const,
    registers: [this.registry],
    collect: () => this.refreshReadiness(),
  });

  constructor(options: { readonly maxConnections?: number } = {}) {
    collectDefaultMetrics({ register: this.registry });
    if (options.maxConnections !== undefined) this.maxConnections.set(options.maxConnections);
  }

  /** The readiness gauges are evaluated at scrape time, so they are current whoever probes /ready. */
  trackReadiness(source: () => Promise<ReadinessReport>): void {
    this.readinessSource = source;
  }

  private refreshReadiness(): Promise<void> {
    this.readinessRefresh ??= this.collectReadiness().finally(() => {
      this.readinessRefresh = undefined;
    });
    return this.readinessRefresh;
  }

  private async collectReadiness(): Promise<void> {
    if (!this.readinessSource) return;
    const report = await this.readinessSource().catch((): undefined => undefined);
    this.ready.set(report?.status === 'ready' ? 1 : 0);
    if (!report) return;
    for (const [check, value] of Object.entries(report.checks)) this.readinessCheck.set({ check }, value === 'error' ? 0 : 1);
  }
}

/**
 * Times the op log's commits and counts the failed ones (the engine retries every failed
 * append), by wrapping `append` of the given store; the engine itself stays unaware.
 */
export function instrumentCommits<T extends Pick<OpLogStore, 'append'>>(store: T, metrics: Metrics): T {
  const append = store.append.bind(store);
  store.append = async (docId, changes) => {
    const started = performance.now();
    try {
      await append(docId, changes);
    } catch (err) {
      metrics.commitRetries.inc({ reason: err instanceof RevisionConflict ? 'conflict' : 'error' });
      throw err;
    }
    metrics.commitLatency.observe((performance.now() - started) / 1000);
    metrics.commitBatchOps.observe(changes.reduce((n, change) => n + change.ops.length, 0));
  };
  return store;
}
