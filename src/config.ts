import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Every environment variable the relay reads, with its default and meaning. The README's
 * configuration table is generated from this list (`npm run docs:config`) and a test checks
 * that the two agree, so they cannot drift.
 */
export interface VariableSpec {
  readonly name: string;
  readonly group: 'required' | 'optional' | 'tuning' | 'relay';
  readonly default: string | undefined;
  readonly description: string;
  /** Parses the raw string (or the default). Throws a ZodError whose message says what is expected. */
  readonly schema: z.ZodType<unknown>;
  /** Never echo the value in an error: it may hold credentials. */
  readonly secret?: boolean;
}

const positiveInt = (what = 'a positive integer') =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { message: `must be ${what}` })
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n > 0, { message: `must be ${what}` });

const nonNegativeInt = (what = 'a whole number >= 0') =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { message: `must be ${what}` })
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n), { message: `must be ${what}` });

const port = z
  .string()
  .trim()
  .regex(/^\d+$/, { message: 'must be a TCP port (1-65535)' })
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65535, { message: 'must be a TCP port (1-65535)' });

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((s) => ['0', '1', 'true', 'false', 'yes', 'no'].includes(s), { message: 'must be 0/1/true/false' })
  .transform((s) => s === '1' || s === 'true' || s === 'yes');

const hostnamePattern = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface BindAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, where host is an IPv4 address, `[IPv6]`, or a host name that contains a dot or is `localhost`. */
const bindAddress = z.string().trim().transform((raw, ctx): BindAddress => {
  const expected = 'must be host:port, e.g. 0.0.0.0:8081 or [::]:8081';
  const match = /^(\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw);
  const host = match?.[2] ?? match?.[3];
  const portNumber = Number(match?.[4]);
  const hostValid =
    host !== undefined &&
    (isIP(host) !== 0 || host === 'localhost' || (host.includes('.') && hostnamePattern.test(host) && !/^[\d.]+$/.test(host)));
  if (!match || !hostValid || !(portNumber >= 0 && portNumber <= 65535)) {
    ctx.addIssue({ code: 'custom', message: expected });
    return z.NEVER;
  }
  return { host: host, port: portNumber };
});

/** A host for a listener: an IP address, `[IPv6]`, `localhost`, or a dotted host name. */
const metricsHost = z.string().trim().transform((raw, ctx): string => {
  const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(host) !== 0 || host === 'localhost' || (host.includes('.') && hostnamePattern.test(host) && !/^[\d.]+$/.test(host))) return host;
  ctx.addIssue({ code: 'custom', message: 'must be a host or IP address without a port, e.g. 127.0.0.1 or 10.0.0.5' });
  return z.NEVER;
});

const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine(
      (s) => {
        try {
          return protocols.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
    );

const logLevel = z
  .string()
  .trim()
  .toLowerCase()
  .refine((s) => ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(s), {
    message: 'must be one of fatal, error, warn, info, debug, trace, silent',
  });

const csv = z
  .string()
  .trim()
  .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0));

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const hostPortList = z.string().trim().transform((raw, ctx): HostPort[] => {
  const list: HostPort[] = [];
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const match = /^(\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(part);
    const host = match?.[2] ?? match?.[3];
    const portNumber = Number(match?.[4]);
    if (!match || host === undefined || !(portNumber >= 1 && portNumber <= 65535)) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of host:port, e.g. redis-a:26379,redis-b:26379' });
      return z.NEVER;
    }
    list.push({ host, port: portNumber });
  }
  if (list.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
    return z.NEVER;
  }
  return list;
});

export const VARIABLES: readonly VariableSpec[] = [
  // The spec's required variables. Outside production each one has a working local default.
  { name: 'DATABASE_URL', group: 'required', default: undefined, secret: true, schema: url(['postgres:', 'postgresql:']).optional(),
    description: 'PostgreSQL connection string. Unset outside production: an embedded PostgreSQL is started with its data in RELAY_DATA_DIR.' },
  { name: 'REDIS_URL', group: 'required', default: undefined, secret: true, schema: url(['redis:', 'rediss:']).optional(),
    description: 'Redis connection string for cross-replica pub/sub (or use REDIS_SENTINELS / REDIS_CLUSTER_NODES instead). Unset outside production: an in-process bus serves a single replica.' },
  { name: 'JWT_PUBLIC_KEY_URL', group: 'required', default: undefined, schema: url(['http:', 'https:']).optional(),
    description: 'JWKS endpoint of the identity service. Unset outside production: development auth (the relay makes its own key, serves its JWKS and mints tokens on loopback).' },
  { name: 'BIND_ADDRESS', group: 'required', default: '0.0.0.0:8081', schema: bindAddress,
    description: 'Address of the WebSocket and health/readiness listener (host:port). Unset in development auth mode: 127.0.0.1:8081, so a development relay is not reachable from the network.' },
  // The spec's optional variables; Rust-only knobs mapped to their Node equivalents.
  { name: 'LOG_LEVEL', group: 'optional', default: 'info', schema: logLevel,
    description: 'Log level (replaces RUST_LOG; RUST_LOG is read as a fallback when it holds a plain level).' },
  { name: 'LOG_ERROR_STACKS', group: 'optional', default: '0', schema: flag,
    description: "Include stack traces in error logs (the spec's RUST_BACKTRACE; RUST_BACKTRACE itself is not read, since base images set it for their own programs)." },
  { name: 'UV_THREADPOOL_SIZE', group: 'optional', default: '4', schema: positiveInt(),
    description: "Size of Node's libuv worker pool (replaces TOKIO_WORKER_THREADS). JavaScript runs on one thread per replica; scale with replicas." },
  { name: 'MAX_CONNECTIONS', group: 'optional', default: '10000', schema: positiveInt(),
    description: 'Maximum concurrent WebSocket connections per replica; further upgrades get HTTP 503.' },
  { name: 'METRICS_PORT', group: 'optional', default: '9090', schema: port,
    description: 'Port of the Prometheus /metrics listener (same host as BIND_ADDRESS).' },
  { name: 'METRICS_ADDRESS', group: 'optional', default: undefined, schema: metricsHost.optional(),
    description: "Host or IP the /metrics listener binds to, e.g. an internal interface or 127.0.0.1 for a sidecar scraper. Default: BIND_ADDRESS's host." },
  { name: 'REDIS_POOL_SIZE', group: 'optional', default: '50', schema: positiveInt(),
    description: 'Upper bound on Redis connections per replica (ioredis pipelines commands; the relay uses one publisher and one subscriber connection within this bound).' },
  { name: 'PERMISSION_CACHE_TTL', group: 'optional', default: '300', schema: nonNegativeInt(),
    description: 'Seconds a document permission lookup is cached.' },
  { name: 'OPERATION_HISTORY_TTL', group: 'optional', default: '600', schema: positiveInt(),
    description: 'Seconds committed ops stay in memory for transforming late changes; older ones are read back from PostgreSQL.' },
  { name: 'OPERATION_HISTORY_MAX_MB', group: 'optional', default: '16', schema: positiveInt(),
    description: 'Per open document, the in-memory history of committed ops also stays under about this many MiB (besides 20,000 changes and OPERATION_HISTORY_TTL); older ones are read back from PostgreSQL.' },
  // The spec's performance tuning variables.
  { name: 'CURSOR_THROTTLE_MS', group: 'tuning', default: '50', schema: nonNegativeInt(),
    description: 'Minimum interval between cursor/presence broadcasts of one connection.' },
  { name: 'TYPING_DEBOUNCE_MS', group: 'tuning', default: '500', schema: nonNegativeInt(),
    description: 'A typing indicator clears after this long without typing.' },
  { name: 'OPERATION_BATCH_SIZE', group: 'tuning', default: '100', schema: positiveInt(),
    description: 'Maximum ops in one change, and in one group-commit INSERT.' },
  { name: 'HEARTBEAT_INTERVAL_SECS', group: 'tuning', default: '30', schema: positiveInt(),
    description: 'Interval of WebSocket pings to clients and of replica heartbeats.' },
  { name: 'HEARTBEAT_TIMEOUT_SECS', group: 'tuning', default: '60', schema: positiveInt(),
    description: 'A connection silent this long is closed; a replica silent this long is presumed dead and its presence dropped.' },
  // Our own.
  { name: 'NODE_ENV', group: 'relay', default: 'development', schema: z.enum(['development', 'production', 'test']),
    description: 'production requires DATABASE_URL, REDIS_URL (or REDIS_SENTINELS / REDIS_CLUSTER_NODES) and JWT_PUBLIC_KEY_URL.' },
  { name: 'DEV_AUTH', group: 'relay', default: '0', schema: flag,
    description: 'Allow development auth (no JWT_PUBLIC_KEY_URL: the relay mints its own tokens) while DATABASE_URL or Redis is set. Without it such a start is refused, so a deployment that forgot NODE_ENV=production and JWT_PUBLIC_KEY_URL does not hand out tokens for a real database. Not needed for `npm start` with no environment.' },
  { name: 'RELAY_DATA_DIR', group: 'relay', default: '.relay-data', schema: z.string().trim().min(1),
    description: 'Folder for the embedded PostgreSQL data and the development signing key (kept across restarts).' },
  { name: 'EMBEDDED_POSTGRES_PORT', group: 'relay', default: '54329', schema: port,
    description: 'Loopback port of the embedded PostgreSQL (only when DATABASE_URL is unset).' },
  { name: 'DB_POOL_SIZE', group: 'relay', default: '20', schema: positiveInt(),
    description: 'PostgreSQL connections per replica.' },
  { name: 'DB_MAX_LIFETIME_SECS', group: 'relay', default: '1800', schema: positiveInt(),
    description: 'A pooled PostgreSQL connection is replaced after this long.' },
  { name: 'DB_IDLE_TIMEOUT_SECS', group: 'relay', default: '600', schema: positiveInt(),
    description: 'An idle pooled PostgreSQL connection is closed after this long.' },
  { name: 'REDIS_SENTINELS', group: 'relay', default: undefined, schema: hostPortList.optional(),
    description: 'Redis Sentinel addresses (comma-separated host:port) instead of REDIS_URL; the relay asks them for the master of REDIS_SENTINEL_NAME and follows failovers.' },
  { name: 'REDIS_SENTINEL_NAME', group: 'relay', default: 'mymaster', schema: z.string().trim().min(1),
    description: 'Name of the master group the sentinels watch (only with REDIS_SENTINELS).' },
  { name: 'REDIS_CLUSTER_NODES', group: 'relay', default: undefined, schema: hostPortList.optional(),
    description: 'Redis Cluster seed nodes (comma-separated host:port) instead of REDIS_URL; the rest of the cluster is discovered from them.' },
  { name: 'REDIS_PASSWORD', group: 'relay', default: undefined, secret: true, schema: z.string().min(1).optional(),
    description: 'Password of the Redis servers reached through REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL, put it in the URL).' },
  { name: 'JWT_ISSUER', group: 'relay', default: undefined, schema: z.string().trim().min(1).optional(),
    description: 'Required `iss` of tokens, when set.' },
  { name: 'JWT_AUDIENCE', group: 'relay', default: undefined, schema: csv.optional(),
    description: 'Accepted `aud` values (comma-separated), when set.' },
  { name: 'JWT_CLOCK_TOLERANCE_SECS', group: 'relay', default: '5', schema: nonNegativeInt(),
    description: 'Leeway for `exp` and `nbf` against clock skew between the identity service and the relay.' },
  { name: 'JWKS_REFRESH_SECS', group: 'relay', default: '600', schema: positiveInt(),
    description: 'The JWKS is refetched in the background this often; a failed fetch keeps the cached keys (retried every JWKS_REFETCH_COOLDOWN_SECS until one succeeds).' },
  { name: 'JWKS_REFETCH_COOLDOWN_SECS', group: 'relay', default: '10', schema: positiveInt(),
    description: 'A token with an unknown `kid` refetches the JWKS (key rotation without restart), at most once per this many seconds whatever the traffic.' },
  { name: 'ACCESS_POLICY', group: 'relay', default: undefined, schema: z.enum(['acl', 'open']).optional(),
    description: '`acl`: document roles from PostgreSQL decide who may read, edit and manage. `open`: any valid token may edit any document (access is granted upstream). Default: `open` in development mode (no JWT_PUBLIC_KEY_URL, not production), `acl` otherwise.' },
  { name: 'ADMIN_SCOPE', group: 'relay', default: 'relay:admin', schema: z.string().trim().regex(/^\S{1,200}$/, { message: 'must be one scope value without spaces' }),
    description: 'Scope a token must carry to use the management API on every document (owners manage their own documents without it).' },
  { name: 'ADMIN_SCOPE_CLAIMS', group: 'relay', default: 'scope,scp', schema: csv,
    description: 'Claims searched for ADMIN_SCOPE (comma-separated); each may hold a space-separated string or an array.' },
  { name: 'HANDSHAKE_TIMEOUT_SECS', group: 'relay', default: '15', schema: positiveInt(),
    description: 'A connection that has not joined a document this long after the upgrade is closed with 4010.' },
  { name: 'RATE_LIMIT_MESSAGES_PER_SEC', group: 'relay', default: '200', schema: positiveInt(),
    description: 'Sustained messages per second one connection may send; past it messages are dropped with a `rate_limited` error.' },
  { name: 'RATE_LIMIT_BURST', group: 'relay', default: '400', schema: positiveInt(),
    description: 'Messages a connection may send at once above the sustained rate; a client that keeps sending this many more while limited is closed with 4029.' },
  { name: 'RATE_LIMIT_BYTES_PER_SEC', group: 'relay', default: '2097152', schema: positiveInt(),
    description: 'Sustained bytes per second of frames one connection may send (each frame counts 64 bytes more than its length); past it frames are dropped unread with a `rate_limited` error.' },
  { name: 'RATE_LIMIT_BYTES_BURST', group: 'relay', default: '8388608', schema: positiveInt(),
    description: 'Bytes a connection may send at once above the sustained rate (at least MAX_MESSAGE_BYTES); a client that keeps sending this many more while limited is closed with 4029.' },
  { name: 'JWT_MAX_LIFETIME_SECS', group: 'relay', default: '0', schema: nonNegativeInt(),
    description: 'When not 0, tokens whose `exp` lies more than this many seconds after their `iat` (or after now) are refused: a leaked long-lived token is not accepted.' },
  { name: 'SNAPSHOT_INTERVAL_OPS', group: 'relay', default: '500', schema: positiveInt(),
    description: 'A snapshot of a document is written every this many committed ops.' },
  { name: 'DOCUMENT_IDLE_SECS', group: 'relay', default: '60', schema: positiveInt(),
    description: 'A document nobody on this replica has open is unloaded from memory after this long.' },
  { name: 'DOCUMENT_LEASE_MS', group: 'relay', default: '1500', schema: positiveInt(),
    description: 'With Redis, one replica owns each open document and commits its changes (the others forward theirs to it); its lease lives this long and is renewed every fifth of it. A dead owner is replaced within about this long plus one renewal period.' },
  { name: 'MAX_MESSAGE_BYTES', group: 'relay', default: '1048576', schema: positiveInt(),
    description: 'Largest WebSocket frame accepted from a client; larger frames close the connection with 1009.' },
  { name: 'MAX_BACKPRESSURE_BYTES', group: 'relay', default: '4194304', schema: positiveInt(),
    description: 'Bytes queued to one slow client before uWebSockets.js drops its connection (the client sees 1006; it resumes from its clock, nothing is lost).' },
  { name: 'SHUTDOWN_DRAIN_SECS', group: 'relay', default: '30', schema: nonNegativeInt(),
    description: 'On SIGTERM, how long clients are given to leave before the rest are closed.' },
  { name: 'MAX_DOCUMENT_CHARS', group: 'relay', default: '5000000', schema: positiveInt(),
    description: 'Largest document, in characters (UTF-16 code units); a change that would grow a document past it is refused with `document_too_large` and nothing of it is applied.' },
  { name: 'MAX_CHANGE_BYTES', group: 'relay', default: '1048576', schema: positiveInt(),
    description: 'Largest change, as the UTF-8 bytes of its ops in JSON; a larger one is refused with `change_too_large` (the client splits it).' },
  { name: 'RECONNECT_MIN_DELAY_MS', group: 'relay', default: '500', schema: nonNegativeInt(),
    description: 'Lower bound of the randomized reconnect delay the relay tells clients when it shuts down.' },
  { name: 'RECONNECT_MAX_DELAY_MS', group: 'relay', default: '10000', schema: positiveInt(),
    description: 'Upper bound of that delay: spreading reconnects avoids a storm after a deploy.' },
];

export interface Config {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly jwtPublicKeyUrl: string | undefined;
  readonly bind: BindAddress;
  readonly logLevel: string;
  readonly logErrorStacks: boolean;
  readonly uvThreadpoolSize: number;
  readonly maxConnections: number;
  readonly metricsPort: number;
  /** Where /metrics listens: METRICS_ADDRESS, or BIND_ADDRESS's host. */
  readonly metricsHost: string;
  readonly redisPoolSize: number;
  readonly redisSentinels: readonly HostPort[] | undefined;
  readonly redisSentinelName: string;
  readonly redisClusterNodes: readonly HostPort[] | undefined;
  readonly redisPassword: string | undefined;
  readonly permissionCacheTtlSecs: number;
  readonly operationHistoryTtlSecs: number;
  readonly operationHistoryMaxMb: number;
  readonly cursorThrottleMs: number;
  readonly typingDebounceMs: number;
  readonly operationBatchSize: number;
  readonly heartbeatIntervalSecs: number;
  readonly heartbeatTimeoutSecs: number;
  readonly dataDir: string;
  readonly embeddedPostgresPort: number;
  readonly dbPoolSize: number;
  readonly dbMaxLifetimeSecs: number;
  readonly dbIdleTimeoutSecs: number;
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: readonly string[] | undefined;
  readonly jwtClockToleranceSecs: number;
  readonly jwksRefreshSecs: number;
  readonly jwksRefetchCooldownSecs: number;
  readonly accessPolicy: 'acl' | 'open';
  readonly adminScope: string;
  readonly adminScopeClaims: readonly string[];
  readonly handshakeTimeoutSecs: number;
  readonly rateLimitPerSec: number;
  readonly rateLimitBurst: number;
  readonly rateLimitBytesPerSec: number;
  readonly rateLimitBytesBurst: number;
  /** 0: no limit. */
  readonly jwtMaxLifetimeSecs: number;
  readonly snapshotIntervalOps: number;
  readonly documentIdleSecs: number;
  readonly documentLeaseMs: number;
  readonly maxMessageBytes: number;
  readonly maxBackpressureBytes: number;
  readonly shutdownDrainSecs: number;
  readonly reconnectMinDelayMs: number;
  readonly maxDocumentChars: number;
  readonly maxChangeBytes: number;
  readonly reconnectMaxDelayMs: number;
  readonly version: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function parseVariable(spec: VariableSpec, env: Env): unknown {
  const raw = env[spec.name];
  const value = raw === undefined || raw === '' ? spec.default : raw;
  const result = spec.schema.safeParse(value);
  if (!result.success) {
    const reason = result.error.issues[0]?.message ?? 'is invalid';
    const shown = spec.secret || value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    throw new ConfigError(`${spec.name} ${reason}${shown}`);
  }
  return result.data;
}

/** Reads and validates the whole configuration; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env, version = '0.0.0'): Config {
  const effective: Record<string, string | undefined> = { ...env };
  // RUST_LOG can hold filters such as "info,relay=debug": take its first plain level only.
  if (effective.LOG_LEVEL === undefined && env.RUST_LOG !== undefined) {
    const first = env.RUST_LOG.split(',')[0]?.trim().toLowerCase();
    if (first && !first.includes('=')) effective.LOG_LEVEL = first;
  }
  // RUST_BACKTRACE is deliberately not mapped to LOG_ERROR_STACKS: base images set it for
  // their own programs, and it must not switch on stack traces in our logs.
  if (effective.UV_THREADPOOL_SIZE === undefined && env.TOKIO_WORKER_THREADS !== undefined) {
    effective.UV_THREADPOOL_SIZE = env.TOKIO_WORKER_THREADS;
  }

  const values = new Map<string, unknown>();
  for (const spec of VARIABLES) values.set(spec.name, parseVariable(spec, effective));
  const get = <T>(name: string): T => values.get(name) as T;

  const nodeEnv = get<Config['nodeEnv']>('NODE_ENV');
  // One way to reach Redis: a URL, sentinels, or cluster nodes; two would leave it ambiguous.
  const redisWays = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].filter((name) => values.get(name) !== undefined);
  if (redisWays.length > 1) throw new ConfigError(`set only one of ${redisWays.join(', ')}`);
  if (nodeEnv === 'production') {
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_PUBLIC_KEY_URL']) {
      if (name === 'REDIS_URL' && redisWays.length > 0) continue;
      if (values.get(name) === undefined) {
        throw new ConfigError(`${name} is required when NODE_ENV=production (embedded defaults are for development only)`);
      }
    }
  }
  const devAuth = nodeEnv !== 'production' && values.get('JWT_PUBLIC_KEY_URL') === undefined;
  if (devAuth) refuseAccidentalDevAuth(values, redisWays);
  // A development relay listens on loopback unless told otherwise.
  const bindUnset = effective.BIND_ADDRESS === undefined || effective.BIND_ADDRESS === '';
  const bind: BindAddress = devAuth && bindUnset ? { host: '127.0.0.1', port: 8081 } : get<BindAddress>('BIND_ADDRESS');
  const reconnectMinDelayMs = get<number>('RECONNECT_MIN_DELAY_MS');
  const reconnectMaxDelayMs = get<number>('RECONNECT_MAX_DELAY_MS');
  if (reconnectMaxDelayMs < reconnectMinDelayMs) {
    throw new ConfigError(`RECONNECT_MAX_DELAY_MS must be >= RECONNECT_MIN_DELAY_MS (got ${reconnectMaxDelayMs} < ${reconnectMinDelayMs})`);
  }
  // A frame of the largest size must fit in the byte budget, or it could never be sent.
  const rateLimitBytesBurst = get<number>('RATE_LIMIT_BYTES_BURST');
  if (rateLimitBytesBurst < get<number>('MAX_MESSAGE_BYTES') + 64) {
    throw new ConfigError(`RATE_LIMIT_BYTES_BURST must be at least MAX_MESSAGE_BYTES + 64 (got ${rateLimitBytesBurst})`);
  }
  const heartbeatIntervalSecs = get<number>('HEARTBEAT_INTERVAL_SECS');
  const heartbeatTimeoutSecs = get<number>('HEARTBEAT_TIMEOUT_SECS');
  if (heartbeatTimeoutSecs <= heartbeatIntervalSecs) {
    throw new ConfigError(`HEARTBEAT_TIMEOUT_SECS must be greater than HEARTBEAT_INTERVAL_SECS (got ${heartbeatTimeoutSecs} <= ${heartbeatIntervalSecs})`);
  }

  return {
    nodeEnv,
    databaseUrl: get('DATABASE_URL'),
    redisUrl: get('REDIS_URL'),
    jwtPublicKeyUrl: get('JWT_PUBLIC_KEY_URL'),
    bind,
    logLevel: get('LOG_LEVEL'),
    logErrorStacks: get('LOG_ERROR_STACKS'),
    uvThreadpoolSize: get('UV_THREADPOOL_SIZE'),
    maxConnections: get('MAX_CONNECTIONS'),
    metricsPort: get('METRICS_PORT'),
    metricsHost: get<string | undefined>('METRICS_ADDRESS') ?? bind.host,
    redisPoolSize: get('REDIS_POOL_SIZE'),
    redisSentinels: get('REDIS_SENTINELS'),
    redisSentinelName: get('REDIS_SENTINEL_NAME'),
    redisClusterNodes: get('REDIS_CLUSTER_NODES'),
    redisPassword: get('REDIS_PASSWORD'),
    permissionCacheTtlSecs: get('PERMISSION_CACHE_TTL'),
    operationHistoryTtlSecs: get('OPERATION_HISTORY_TTL'),
    operationHistoryMaxMb: get('OPERATION_HISTORY_MAX_MB'),
    cursorThrottleMs: get('CURSOR_THROTTLE_MS'),
    typingDebounceMs: get('TYPING_DEBOUNCE_MS'),
    operationBatchSize: get('OPERATION_BATCH_SIZE'),
    heartbeatIntervalSecs,
    heartbeatTimeoutSecs,
    dataDir: get('RELAY_DATA_DIR'),
    embeddedPostgresPort: get('EMBEDDED_POSTGRES_PORT'),
    dbPoolSize: get('DB_POOL_SIZE'),
    dbMaxLifetimeSecs: get('DB_MAX_LIFETIME_SECS'),
    dbIdleTimeoutSecs: get('DB_IDLE_TIMEOUT_SECS'),
    jwtIssuer: get('JWT_ISSUER'),
    jwtAudience: get('JWT_AUDIENCE'),
    jwtClockToleranceSecs: get('JWT_CLOCK_TOLERANCE_SECS'),
    jwksRefreshSecs: get('JWKS_REFRESH_SECS'),
    jwksRefetchCooldownSecs: get('JWKS_REFETCH_COOLDOWN_SECS'),
    // Development mode has no upstream to grant access, so everyone may edit there by default.
    accessPolicy: get<'acl' | 'open' | undefined>('ACCESS_POLICY') ?? (nodeEnv !== 'production' && get('JWT_PUBLIC_KEY_URL') === undefined ? 'open' : 'acl'),
    adminScope: get('ADMIN_SCOPE'),
    adminScopeClaims: get('ADMIN_SCOPE_CLAIMS'),
    handshakeTimeoutSecs: get('HANDSHAKE_TIMEOUT_SECS'),
    rateLimitPerSec: get('RATE_LIMIT_MESSAGES_PER_SEC'),
    rateLimitBurst: get('RATE_LIMIT_BURST'),
    rateLimitBytesPerSec: get('RATE_LIMIT_BYTES_PER_SEC'),
    rateLimitBytesBurst,
    jwtMaxLifetimeSecs: get('JWT_MAX_LIFETIME_SECS'),
    snapshotIntervalOps: get('SNAPSHOT_INTERVAL_OPS'),
    documentIdleSecs: get('DOCUMENT_IDLE_SECS'),
    documentLeaseMs: get('DOCUMENT_LEASE_MS'),
    maxMessageBytes: get('MAX_MESSAGE_BYTES'),
    maxBackpressureBytes: get('MAX_BACKPRESSURE_BYTES'),
    shutdownDrainSecs: get('SHUTDOWN_DRAIN_SECS'),
    reconnectMinDelayMs,
    maxDocumentChars: get('MAX_DOCUMENT_CHARS'),
    maxChangeBytes: get('MAX_CHANGE_BYTES'),
    reconnectMaxDelayMs,
    version,
  };
}

/**
 * Development auth next to a real database or Redis is how a deployment that forgot
 * NODE_ENV=production and JWT_PUBLIC_KEY_URL would end up minting admin tokens for production
 * data: it needs DEV_AUTH=1. With nothing external (plain `npm start`) nothing is at stake.
 */
function refuseAccidentalDevAuth(values: ReadonlyMap<string, unknown>, redisWays: readonly string[]): void {
  if (values.get('DEV_AUTH') === true) return;
  const external = [...(values.get('DATABASE_URL') !== undefined ? ['DATABASE_URL'] : []), ...redisWays];
  if (external.length === 0) return;
  throw new ConfigError(
    `JWT_PUBLIC_KEY_URL is unset, so development auth would mint tokens for the database or Redis in ${external.join(', ')}: set JWT_PUBLIC_KEY_URL and NODE_ENV=production, or DEV_AUTH=1 to allow development auth with them`,
  );
}

/** Development mode: no JWKS URL and not production. */
export function isDevAuth(config: Config): boolean {
  return config.jwtPublicKeyUrl === undefined && config.nodeEnv !== 'production';
}

/** The README's configuration table, generated from VARIABLES. */
export function configTableMarkdown(): string {
  const groups: Record<VariableSpec['group'], string> = {
    required: 'required in production',
    optional: 'optional',
    tuning: 'performance tuning',
    relay: 'relay',
  };
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  const rows = VARIABLES.map(
    (v) => `| \`${v.name}\` | ${v.default === undefined ? '—' : `\`${v.default}\``} | ${groups[v.group]} | ${escape(v.description)} |`,
  );
  return ['| variable | default | kind | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
