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

  readonly connectionsActive = this.gauge('materi_websocket_connections_active', 'Active WebSocket connections');

  readonly operationsProcessed = this.counter('materi_operations_processed_total', 'Total operations processed', ['operation_type', 'status']);

  readonly operationLatency = this.histogram(
    'materi_operation_latency_seconds',
    'Operation processing latency, from receipt of a change to its ack after commit',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
  );

  readonly presenceBroadcasts = this.counter('materi_presence_broadcasts_total', 'Total presence broadcast events');

  readonly documentsActive = this.gauge('materi_documents_active', 'Documents loaded in memory on this replica');

  readonly clientsClosed = this.counter(
    'materi_connections_closed_total',
    'Connections closed by the relay, by reason (slow_consumer: the send buffer passed MAX_BACKPRESSURE_BYTES)',
    ['reason'],
  );

  /** Exported so saturation (connections / limit) is one PromQL division, whatever each replica's setting. */
  readonly maxConnections = this.gauge('materi_max_connections', 'MAX_CONNECTIONS of this replica: upgrades past it get HTTP 503');

  readonly postgresErrors = this.counter(
    'materi_postgres_errors_total',
    'Failed PostgreSQL calls of the engine (each is retried; changes stay pending, nothing is lost)',
  );

  readonly redisErrors = this.counter('materi_redis_errors_total', 'Redis connection errors and failed Redis commands, by connection role', ['role']);

  readonly commitRetries = this.counter(
    'materi_commit_retries_total',
    'Op-log commits that failed and are retried: conflict (another replica committed first) or error (PostgreSQL failed)',
    ['reason'],
  );

  readonly commitLatency = this.histogram(
    'materi_commit_latency_seconds',
    'Duration of successful op-log INSERT transactions (one group commit)',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );

  readonly commitBatchOps = this.histogram('materi_commit_batch_ops', 'Ops written by one successful group commit', [1, 2, 5, 10, 20, 50, 100, 200, 500]);

  readonly fanoutLatency = this.histogram(
    'materi_fanout_latency_seconds',
    'From the commit of a change on another replica to its arrival here over Redis (includes clock skew between hosts)',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );

  readonly ownershipTransitions = this.counter(
    'materi_document_ownership_changes_total',
    'Documents this replica started to own (owner), to forward to another owner (follower), or to commit without knowing the owner because Redis did not answer (fallback)',
    ['to'],
  );

  readonly changesRejectedByStore = this.counter(
    'materi_changes_rejected_by_store_total',
    'Changes refused because PostgreSQL will never accept a value in them (the rest of their batch committed)',
  );

  readonly jwksFetchFailures = this.counter('materi_jwks_fetch_failures_total', 'Failed fetches of the JWKS from JWT_PUBLIC_KEY_URL (cached keys stay in use)');

  readonly permissionLookups = this.counter(
    'materi_permission_lookups_total',
    'Role lookups that reached PostgreSQL (permission cache misses: joins, and re-checks of connections to edited documents or after a role change)',
  );

  readonly roleChangesReceived = this.counter(
    'materi_role_changes_received_total',
    'Role changes made through another replica\'s management API, received over the bus',
  );

  private readinessSource: (() => Promise<ReadinessReport>) | undefined;
  /** One readiness check per scrape, shared by the two gauges (the registry collects them concurrently). */
  private readinessRefresh: Promise<void> | undefined;

  readonly ready = this.gauge(
    'materi_ready',
    '1 when /ready would answer 200, 0 otherwise (evaluated at each scrape)',
    { collect: () => this.refreshReadiness() },
  );

  readonly readinessCheck = this.gauge(
    'materi_readiness_check',
    "/ready's checks at each scrape: 1 passing (or in_process), 0 failing",
    { labelNames: ['check'], collect: () => this.refreshReadiness() },
  );

  constructor(options: { readonly maxConnections?: number } = {}) {
    collectDefaultMetrics({ register: this.registry });
    if (options.maxConnections !== undefined) this.maxConnections.set(options.maxConnections);
  }

  /** A metric registered with this relay's registry (every definition is name, help and its shape). */
  private counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string = never>(name: string, help: string, options: { labelNames?: readonly L[]; collect?: () => Promise<void> } = {}): Gauge<L> {
    return new Gauge({ name, help, labelNames: options.labelNames ?? [], registers: [this.registry], ...(options.collect ? { collect: options.collect } : {}) });
  }

  private histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name, help, buckets, registers: [this.registry] });
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
