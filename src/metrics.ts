import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The spec's metric names and label sets. No per-document label anywhere: document ids are
 * unbounded and would blow up the time-series count.
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
    name: 'relay_documents_active',
    help: 'Documents loaded in memory on this replica',
    registers: [this.registry],
  });

  readonly clientsClosed = new Counter({
    name: 'relay_connections_closed_total',
    help: 'Connections closed by the relay, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  // Op-log health (engine-store): changes the op log refused for good, and retry streaks.
  readonly changesRejectedByStore = new Counter({
    name: 'relay_changes_rejected_by_store_total',
    help: 'Changes refused because PostgreSQL will never accept a value in them (the rest of their batch committed)',
    registers: [this.registry],
  });

  readonly commitRetries = new Counter({
    name: 'relay_commit_retries_total',
    help: 'Op-log calls that failed because PostgreSQL was unavailable and were retried',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
