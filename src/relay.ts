import { resolve } from 'node:path';
import uWS from 'uWebSockets.js';
import type { Config } from './config.js';
import { isDevAuth } from './config.js';
import type { Logger } from './log.js';
import { Metrics, instrumentCommits } from './metrics.js';
import { loadOrCreateDevKeys } from './auth/dev-keys.js';
import type { KeySource } from './auth/keys.js';
import { createRemoteKeySource } from './auth/remote-keys.js';
import { connectDatabase, describeDatabaseUrl, pingDatabase, type Sql } from './store/db.js';
import type { RunningPostgres } from './store/embedded-postgres.js';
import { migrateUp } from './store/migrate.js';
import { assertNativeUws, listen, type Listener } from './server/listen.js';
import { startMetricsServer } from './server/metrics-server.js';
import { addHealthRoutes, addNotFound } from './server/routes.js';
import { checkReadiness, type ReadinessProbe } from './server/readiness.js';
import { addDevAuthRoutes } from './server/dev-routes.js';
import { addDemoRoutes } from './server/demo-page.js';
import { CollabServer } from './server/collab.js';
import { BusRouter, Fanout } from './server/fanout.js';
import { PresenceRelay } from './server/presence-relay.js';
import { Forwarder } from './cluster/forwarder.js';
import { DocumentOwnership } from './cluster/ownership.js';
import { DocumentRegistry } from './engine/registry.js';
import { StoreHealth, defaultRetryDelayMs } from './engine/store-health.js';
import { PostgresOpLog } from './store/oplog.js';
import { GroupCommitOpLog } from './store/group-commit.js';
import type { OpLogStore } from './engine/ports.js';
import { DEV_AUDIENCE, DEV_ISSUER } from './auth/dev-keys.js';
import { randomUUID } from 'node:crypto';
import type { Bus } from './bus/bus.js';
import { InProcessBus } from './bus/in-process.js';
import { RedisBus } from './bus/redis.js';
import { createRedisClient, describeRedisTarget, redisTargetOf } from './bus/redis-clients.js';
import { AccessControl } from './auth/access.js';
import type { VerifyOptions } from './auth/verify.js';
import { PermissionStore } from './store/permissions.js';
import { addManagementRoutes } from './server/api.js';
import { createRoleChangeChannel, type RoleChangeChannel } from './bus/revocations.js';

export interface RunningRelay {
  readonly port: number;
  readonly metricsPort: number;
  shutdown(): Promise<void>;
}

/** What startRelay has opened so far, closed in reverse order on shutdown or a failed start. */
type Cleanups = Array<() => Promise<void> | void>;

/** How long closing the pool waits for queries in flight before it ends their connections. */
const DATABASE_CLOSE_TIMEOUT_SECS = 5;
/**
 * "No role" is remembered this briefly (at most the cache TTL): a flood of joins to a document
 * the user cannot see costs one query per few seconds, and a grant made through another replica
 * is seen within seconds even if its role-change message is lost.
 */
const PERMISSION_NEGATIVE_TTL_MS = 5000;
/** Bounds the permission cache's memory on a replica serving many users and documents. */
const PERMISSION_CACHE_MAX_ENTRIES = 100_000;
/** A commit retry streak is logged this often while it lasts: visible without flooding the log. */
const COMMIT_STREAK_REPORT_EVERY_MS = 5000;
/** A health probe slower than this counts as PostgreSQL not answering. */
const COMMIT_PROBE_TIMEOUT_MS = 1000;
/**
 * The most changes a document keeps in memory for rejoins (beside OPERATION_HISTORY_TTL and
 * OPERATION_HISTORY_MAX_MB): a hot document's window stays bounded; older ones come from PostgreSQL.
 */
const HISTORY_MAX_CHANGES = 20_000;

/**
 * The composition root: picks the real or embedded part for each role, wires them, listens.
 * Each role's choice is logged once so an operator can see what this replica runs on.
 */
export async function startRelay(config: Config, log: Logger): Promise<RunningRelay> {
  const startedAt = Date.now();
  assertNativeUws();
  const metrics = new Metrics({ maxConnections: config.maxConnections });
  const cleanups: Cleanups = [];

  try {
    const sql = await openDatabase(config, log, cleanups);
    const app = uWS.App();
    const { keys, verify } = await setUpAuth(app, config, metrics, log);
    cleanups.push(() => keys.close());

    // Tags this process's presence in Redis, so its sessions can be dropped if it dies.
    const replicaId = randomUUID();
    const bus = createBus(config, replicaId, log, metrics);
    const permissions = new PermissionStore(sql);
    const access = createAccessControl(config, permissions, metrics, log);
    const storeHealth = createStoreHealth(sql, metrics, log);
    cleanups.push(() => storeHealth.close());
    const { registry, ownership } = createDocuments({ config, app, bus, sql, replicaId, storeHealth, metrics, log });
    const presence = new PresenceRelay({ app, config, metrics, bus, replicaId, registry, now: Date.now });
    const collab = new CollabServer(app, { config, keys, verify, metrics, log, replicaId, bus, access, registry, presence, ownership });
    collab.listen();
    await bus.start(new BusRouter({ registry, presence, ownership }));
    cleanups.push(() => bus.close());
    const roleChanges = await startRoleChanges(config, replicaId, access, collab, metrics, log);
    cleanups.push(() => roleChanges.close());
    // Runs before the bus closes: leases are given up, so other replicas take over at once.
    cleanups.push(() => ownership.stop());

    let shuttingDown = false;
    addHttpRoutes({ app, config, metrics, log, sql, storeHealth, bus, keys, verify, permissions, access, registry, collab, roleChanges, startedAt, isShuttingDown: () => shuttingDown });

    const { port, metricsPort } = await listenForClients(app, config, metrics, log, cleanups, startedAt);
    return {
      port,
      metricsPort,
      shutdown: async () => {
        // Readiness fails first so the load balancer stops sending new clients here.
        shuttingDown = true;
        log.info({ connections: collab.connectionCount, drain_secs: config.shutdownDrainSecs }, 'draining clients');
        await collab.shutdown(config.shutdownDrainSecs * 1000);
        // Leases go before the documents close: forwarders turn to the replicas that take over.
        await ownership.stop();
        registry.close();
        await runCleanups(cleanups, log);
      },
    };
  } catch (err) {
    await runCleanups(cleanups, log);
    throw err;
  }
}

/**
 * The configured PostgreSQL, or an embedded one kept in the data folder; migrated outside
 * production (there the operator runs migrations), then connected through a pool.
 */
async function openDatabase(config: Config, log: Logger, cleanups: Cleanups): Promise<Sql> {
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    databaseUrl = await startEmbeddedDatabase(config, log, cleanups);
  } else {
    log.info({ role: 'database', kind: 'external', target: describeDatabaseUrl(databaseUrl) }, 'database: PostgreSQL');
  }
  if (config.nodeEnv !== 'production') {
    const applied = await migrateUp(databaseUrl, { info: (msg) => log.debug({ component: 'migrate' }, msg) });
    log.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
  }
  const sql: Sql = connectDatabase(databaseUrl, {
    max: config.dbPoolSize,
    maxLifetimeSecs: config.dbMaxLifetimeSecs,
    idleTimeoutSecs: config.dbIdleTimeoutSecs,
  });
  cleanups.push(() => sql.end({ timeout: DATABASE_CLOSE_TIMEOUT_SECS }));
  return sql;
}

/** Starts the embedded PostgreSQL in the data folder; returns its URL. */
async function startEmbeddedDatabase(config: Config, log: Logger, cleanups: Cleanups): Promise<string> {
  const dir = resolve(config.dataDir, 'postgres');
  // Loaded only here: embedded-postgres is a devDependency, absent from production installs.
  const { startEmbeddedPostgres } = await import('./store/embedded-postgres.js');
  const embedded: RunningPostgres = await startEmbeddedPostgres({
    dir,
    port: config.embeddedPostgresPort,
    database: 'relay',
    onLog: (line) => log.debug({ component: 'embedded-postgres' }, line.trim()),
    ownProcessGroup: true,
  });
  cleanups.push(() => embedded.stop());
  log.info({ role: 'database', kind: 'embedded', dir: embedded.dir, port: config.embeddedPostgresPort }, 'database: embedded PostgreSQL');
  return embedded.url;
}

/**
 * Where tokens are checked against: the identity service's JWKS, or the development key (whose
 * token and demo routes are added to `app`), with the issuer and audience they must carry.
 */
async function setUpAuth(app: uWS.TemplatedApp, config: Config, metrics: Metrics, log: Logger): Promise<{ keys: KeySource; verify: VerifyOptions }> {
  let keys: KeySource;
  if (isDevAuth(config)) {
    const devKeys = await loadOrCreateDevKeys(resolve(config.dataDir, 'dev-signing-key.json'));
    addDevAuthRoutes(app, devKeys, log);
    addDemoRoutes(app, log);
    keys = devKeys;
    log.info({ role: 'auth', kind: 'development' }, 'auth: development key (tokens from GET /dev/token on loopback)');
    warnDevelopmentAuth(config, log);
  } else {
    keys = await createRemoteKeySource(
      { url: config.jwtPublicKeyUrl ?? '', cooldownMs: config.jwksRefetchCooldownSecs * 1000, refreshMs: config.jwksRefreshSecs * 1000, onFetchError: () => metrics.jwksFetchFailures.inc() },
      log,
    );
    log.info({ role: 'auth', kind: 'remote', jwks: config.jwtPublicKeyUrl, keys_loaded: keys.hasKeys() }, 'auth: remote JWKS');
  }
  const verify: VerifyOptions = isDevAuth(config)
    ? { issuer: config.jwtIssuer ?? DEV_ISSUER, audience: config.jwtAudience ?? [DEV_AUDIENCE], clockToleranceSecs: config.jwtClockToleranceSecs, maxLifetimeSecs: config.jwtMaxLifetimeSecs }
    : { issuer: config.jwtIssuer, audience: config.jwtAudience, clockToleranceSecs: config.jwtClockToleranceSecs, maxLifetimeSecs: config.jwtMaxLifetimeSecs };
  return { keys, verify };
}

/** Who may open which document: stored roles behind a cache, under ACCESS_POLICY. */
function createAccessControl(config: Config, permissions: PermissionStore, metrics: Metrics, log: Logger): AccessControl {
  const access = new AccessControl(permissions, {
    policy: config.accessPolicy,
    ttlMs: config.permissionCacheTtlSecs * 1000,
    negativeTtlMs: PERMISSION_NEGATIVE_TTL_MS,
    maxEntries: PERMISSION_CACHE_MAX_ENTRIES,
    onLookup: () => metrics.permissionLookups.inc(),
  });
  log.info({ role: 'access', policy: config.accessPolicy, cache_ttl_secs: config.permissionCacheTtlSecs }, `access policy: ${config.accessPolicy}`);
  return access;
}

/** Commit-path health: retry streaks logged, early retry when PostgreSQL answers, readiness. */
function createStoreHealth(sql: Sql, metrics: Metrics, log: Logger): StoreHealth {
  return new StoreHealth({
    log: log.child({ component: 'op-log' }),
    reportEveryMs: COMMIT_STREAK_REPORT_EVERY_MS,
    probe: () => pingDatabase(sql, COMMIT_PROBE_TIMEOUT_MS),
    onFailure: () => metrics.postgresErrors.inc(),
  });
}

interface DocumentParts {
  readonly config: Config;
  readonly app: uWS.TemplatedApp;
  readonly bus: Bus;
  readonly sql: Sql;
  readonly replicaId: string;
  readonly storeHealth: StoreHealth;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/**
 * The document engines (the registry) and who owns each document across replicas. They refer
 * to each other: a document loaded here is subscribed on the bus and its lease sought; the
 * owner hands changes to the engine it finds in the registry.
 */
function createDocuments({ config, app, bus, sql, replicaId, storeHealth, metrics, log }: DocumentParts): { registry: DocumentRegistry; ownership: DocumentOwnership } {
  // Fan-out of commits (the registry's listener); changes made to documents another replica
  // owns go through the forwarder.
  const forwarder = new Forwarder({ bus, now: Date.now });
  const opLog = instrumentCommits(opLogFor(new PostgresOpLog(sql), config.groupCommitMaxDocuments), metrics);
  const registry = new DocumentRegistry(opLog, new Fanout({ app, bus, forwarder }), {
    maxOps: config.operationBatchSize,
    historyTtlMs: config.operationHistoryTtlSecs * 1000,
    historyMaxChanges: HISTORY_MAX_CHANGES,
    historyMaxBytes: config.operationHistoryMaxMb * 2 ** 20,
    snapshotIntervalOps: config.snapshotIntervalOps,
    maxDocumentChars: config.maxDocumentChars,
    maxChangeBytes: config.maxChangeBytes,
    idleUnloadMs: config.documentIdleSecs * 1000,
    now: Date.now,
    retryDelayMs: defaultRetryDelayMs,
    onStoreError: (doc, err, attempt) => log.debug({ err, doc, attempt }, 'op log call failed; retrying'),
    health: storeHealth,
    onBatchCommitted: (doc, batch) => log.debug({ doc, ...batch }, 'committed a batch'),
    onChangeRejectedByStore: (doc, err) => {
      metrics.changesRejectedByStore.inc();
      log.warn({ doc, sql_state: err.sqlState, reason: err.message }, 'change refused: PostgreSQL will never accept a value in it; the rest of its batch committed');
    },
    onLoad: (doc) => {
      bus.subscribe(doc);
      ownership.open(doc);
      metrics.documentsActive.set(registry.size);
    },
    onUnload: (doc) => {
      bus.unsubscribe(doc);
      ownership.close(doc);
      metrics.documentsActive.set(registry.size);
    },
  });
  const ownership = new DocumentOwnership({
    replicaId,
    bus,
    leases: bus.leases,
    forwarder,
    engineOf: (doc) => registry.peek(doc),
    log: log.child({ component: 'ownership' }),
    now: Date.now,
    onTransition: (to) => metrics.ownershipTransitions.inc({ to }),
  });
  return { registry, ownership };
}

/**
 * Role changes made through other replicas: the cached role is dropped and this replica's
 * connections to the document re-checked; a gap in the stream forgets every cached role.
 */
async function startRoleChanges(config: Config, replicaId: string, access: AccessControl, collab: CollabServer, metrics: Metrics, log: Logger): Promise<RoleChangeChannel> {
  const roleChanges = createRoleChangeChannel(config, replicaId, log.child({ component: 'role-changes' }), () => metrics.redisErrors.inc({ role: 'role_changes' }));
  await roleChanges.start({
    changed: ({ docId, userId }) => {
      metrics.roleChangesReceived.inc();
      access.invalidate(docId, userId);
      void collab.recheckAccess({ docId, userId });
    },
    missed: () => access.forgetAll(),
  });
  return roleChanges;
}

interface HttpParts {
  readonly app: uWS.TemplatedApp;
  readonly config: Config;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly sql: Sql;
  readonly storeHealth: StoreHealth;
  readonly bus: Bus;
  readonly keys: KeySource;
  readonly verify: VerifyOptions;
  readonly permissions: PermissionStore;
  readonly access: AccessControl;
  readonly registry: DocumentRegistry;
  readonly collab: CollabServer;
  readonly roleChanges: RoleChangeChannel;
  readonly startedAt: number;
  readonly isShuttingDown: () => boolean;
}

/**
 * The HTTP side: health and readiness (also exported as a metric), the management API (whose
 * role changes reach this replica's connections at once and the others through the bus), and
 * a 404 for everything else.
 */
function addHttpRoutes({ app, config, metrics, log, sql, storeHealth, bus, keys, verify, permissions, access, registry, collab, roleChanges, startedAt, isShuttingDown }: HttpParts): void {
  const readinessProbe: ReadinessProbe = { database: () => pingDatabase(sql), commitsHealthy: () => storeHealth.healthy, redis: bus.ping, jwtKeys: () => keys.hasKeys() };
  addHealthRoutes(
    app,
    {
      version: config.version,
      startedAt,
      activeConnections: () => collab.connectionCount,
      activeDocuments: () => registry.size,
      isShuttingDown,
    },
    readinessProbe,
    log,
  );
  metrics.trackReadiness(() => checkReadiness(readinessProbe, isShuttingDown()));
  addManagementRoutes(app, {
    keys,
    verify,
    adminScope: config.adminScope,
    adminScopeClaims: config.adminScopeClaims,
    store: permissions,
    access,
    registry,
    roleChanged: (docId, userId) => {
      void collab.recheckAccess({ docId, userId });
      roleChanges.publish({ docId, userId });
    },
    log,
  });
  addNotFound(app);
}

/** Opens the client port and the metrics port, last, once every route is in place. */
async function listenForClients(app: uWS.TemplatedApp, config: Config, metrics: Metrics, log: Logger, cleanups: Cleanups, startedAt: number): Promise<{ port: number; metricsPort: number }> {
  const listener: Listener = await listen(app, config.bind.host, config.bind.port);
  cleanups.push(() => listener.close());
  const metricsListener = await startMetricsServer(config.metricsHost, config.metricsPort, metrics, log);
  cleanups.push(() => metricsListener.close());
  log.info({ port: listener.port, metrics_port: metricsListener.port, version: config.version, startup_ms: Date.now() - startedAt }, 'relay listening');
  if (isDevAuth(config)) log.info(`open ${browserUrl(config.bind.host, listener.port)}`);
  return { port: listener.port, metricsPort: metricsListener.port };
}

/** Where a person on this machine reaches a relay bound to `host`. */
function browserUrl(host: string, port: number): string {
  const local = host === '0.0.0.0' || host === '::' || host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const shown = local ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}/`;
}

const DEV_AUTH_WARNING_EVERY_MS = 15 * 60 * 1000;

/**
 * Development auth lets any loopback caller mint any token, admin included: say so at start and
 * again every quarter of an hour, so it is never on unnoticed.
 */
function warnDevelopmentAuth(config: Config, log: Logger): void {
  const warn = () =>
    log.warn(
      { role: 'auth', kind: 'development', bind: config.bind.host },
      'DEVELOPMENT AUTH IS ON: any local caller can mint tokens (admin included) at /dev/token; never expose this relay. Set JWT_PUBLIC_KEY_URL and NODE_ENV=production for real use',
    );
  warn();
  setInterval(warn, DEV_AUTH_WARNING_EVERY_MS).unref();
}

/**
 * Redis when it is configured, in-process otherwise. The heartbeat is refreshed and checked
 * at least three times per HEARTBEAT_TIMEOUT_SECS and lives the timeout minus one period, so
 * a dead replica's presence goes everywhere within HEARTBEAT_TIMEOUT_SECS of its death.
 */
function createBus(config: Config, replicaId: string, log: Logger, metrics: Metrics): Bus {
  const target = redisTargetOf(config);
  if (!target) {
    log.info({ role: 'bus', kind: 'in-process' }, 'bus: in-process (single replica, no Redis)');
    return new InProcessBus();
  }
  const livenessPeriodMs = Math.min(config.heartbeatIntervalSecs * 1000, (config.heartbeatTimeoutSecs * 1000) / 3);
  log.info({ role: 'bus', kind: 'redis', mode: target.kind, target: describeRedisTarget(target), replica: replicaId }, 'bus: Redis pub/sub');
  return new RedisBus({
    replicaId,
    publisher: createRedisClient(target, 'publisher'),
    subscriber: createRedisClient(target, 'subscriber'),
    livenessPeriodMs,
    heartbeatTtlMs: config.heartbeatTimeoutSecs * 1000 - livenessPeriodMs,
    log: log.child({ component: 'bus' }),
    onError: (role) => metrics.redisErrors.inc({ role }),
    onRemoteChange: (change) => metrics.fanoutLatency.observe(Math.max(0, Date.now() - change.committedAt) / 1000),
    sharded: target.kind === 'cluster',
    leaseTtlMs: config.documentLeaseMs,
  });
}

/** Closes in reverse order of opening: listeners, then pools, then the embedded database. */
async function runCleanups(cleanups: Cleanups, log: Logger): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      log.warn({ err }, 'error during cleanup');
    }
  }
  cleanups.length = 0;
}

/** The op log the engines commit to: replica-wide group commit unless GROUP_COMMIT_MAX_DOCUMENTS is 0. */
function opLogFor(log: PostgresOpLog, maxDocuments: number): OpLogStore {
  return maxDocuments > 0 ? new GroupCommitOpLog(log, { maxDocuments }) : log;
}
