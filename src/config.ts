import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_HELLO_LIMITS } from './protocol/limits.js';

/** What the README says about one environment variable. */
export interface VariableDoc {
  readonly group: 'required' | 'optional' | 'tuning' | 'relay';
  /** Used when the variable is unset or empty; undefined: no default. */
  readonly default: string | undefined;
  readonly description: string;
  /** Never echo the value in an error: it may hold credentials. */
  readonly secret?: boolean;
}

const variableDocs = z.registry<VariableDoc>();

/**
 * One environment variable: `schema` parses its raw string, or `doc.default` when it is unset
 * or empty, and throws a ZodError whose message says what is expected.
 */
function variable<Output>(schema: z.ZodType<Output, string | undefined>, doc: VariableDoc): z.ZodType<Output, unknown> {
  const withDefault = z.preprocess((raw) => (raw === undefined || raw === '' ? doc.default : raw), schema);
  variableDocs.add(withDefault, doc);
  return withDefault;
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

/** Redis connections one replica opens: bus publisher and subscriber, role-change publisher and subscriber. */
export const REDIS_CONNECTIONS_PER_REPLICA = 4;

const ENVIRONMENT = z.object({
  // The spec's required variables. Outside production each one has a working local default.
  DATABASE_URL: variable(url(['postgres:', 'postgresql:']).optional(), { group: 'required', default: undefined, secret: true,
    description: 'PostgreSQL connection string. Unset outside production: an embedded PostgreSQL is started with its data in RELAY_DATA_DIR.' }),
  REDIS_URL: variable(url(['redis:', 'rediss:']).optional(), { group: 'required', default: undefined, secret: true,
    description: 'Redis connection string for cross-replica pub/sub (or use REDIS_SENTINELS / REDIS_CLUSTER_NODES instead). Unset outside production: an in-process bus serves a single replica.' }),
  JWT_PUBLIC_KEY_URL: variable(url(['http:', 'https:']).optional(), { group: 'required', default: undefined,
    description: 'JWKS endpoint of the identity service. Unset outside production: development auth (the relay makes its own key, serves its JWKS and mints tokens on loopback).' }),
  BIND_ADDRESS: variable(bindAddress, { group: 'required', default: '0.0.0.0:8081',
    description: 'Address of the WebSocket and health/readiness listener (host:port). Unset in development auth mode: 127.0.0.1:8081, so a development relay is not reachable from the network.' }),
  // The spec's optional variables; Rust-only knobs mapped to their Node equivalents.
  LOG_LEVEL: variable(logLevel, { group: 'optional', default: 'info',
    description: 'Log level (replaces RUST_LOG; RUST_LOG is read as a fallback when it holds a plain level).' }),
  LOG_ERROR_STACKS: variable(flag, { group: 'optional', default: '0',
    description: "Include stack traces in error logs (the spec's RUST_BACKTRACE; RUST_BACKTRACE itself is not read, since base images set it for their own programs)." }),
  UV_THREADPOOL_SIZE: variable(positiveInt(), { group: 'optional', default: '4',
    description: "Size of Node's libuv worker pool (replaces TOKIO_WORKER_THREADS). JavaScript runs on one thread per replica; scale with replicas." }),
  MAX_CONNECTIONS: variable(positiveInt(), { group: 'optional', default: '10000',
    description: 'Maximum concurrent WebSocket connections per replica; further upgrades get HTTP 503.' }),
  METRICS_PORT: variable(port, { group: 'optional', default: '9090',
    description: 'Port of the Prometheus /metrics listener (same host as BIND_ADDRESS).' }),
  METRICS_ADDRESS: variable(metricsHost.optional(), { group: 'optional', default: undefined,
    description: "Host or IP the /metrics listener binds to, e.g. an internal interface or 127.0.0.1 for a sidecar scraper. Default: BIND_ADDRESS's host." }),
  REDIS_POOL_SIZE: variable(positiveInt(), { group: 'optional', default: '50',
    description: `Upper bound on Redis connections per replica. ioredis pipelines every command on one connection, so the relay needs only ${REDIS_CONNECTIONS_PER_REPLICA} (a publisher and a subscriber for changes, presence and forwarding, and the same for role changes; per node on a Redis Cluster); a bound below that is refused at start-up.` }),
  PERMISSION_CACHE_TTL: variable(nonNegativeInt(), { group: 'optional', default: '300',
    description: 'Seconds a document permission lookup is cached.' }),
  OPERATION_HISTORY_TTL: variable(positiveInt(), { group: 'optional', default: '600',
    description: 'Seconds committed ops stay in memory for transforming late changes; older ones are read back from PostgreSQL.' }),
  OPERATION_HISTORY_MAX_MB: variable(positiveInt(), { group: 'optional', default: '16',
    description: 'Per open document, the in-memory history of committed ops also stays under about this many MiB (besides 20,000 changes and OPERATION_HISTORY_TTL); older ones are read back from PostgreSQL.' }),
  // The spec's performance tuning variables.
  CURSOR_THROTTLE_MS: variable(nonNegativeInt(), { group: 'tuning', default: String(DEFAULT_HELLO_LIMITS.cursorThrottleMs),
    description: 'Minimum interval between cursor/presence broadcasts of one connection.' }),
  TYPING_DEBOUNCE_MS: variable(nonNegativeInt(), { group: 'tuning', default: '500',
    description: 'A typing indicator clears after this long without typing.' }),
  OPERATION_BATCH_SIZE: variable(positiveInt(), { group: 'tuning', default: String(DEFAULT_HELLO_LIMITS.maxOps),
    description: 'Maximum ops in one change, and in one group-commit INSERT.' }),
  HEARTBEAT_INTERVAL_SECS: variable(positiveInt(), { group: 'tuning', default: String(DEFAULT_HELLO_LIMITS.heartbeatIntervalSecs),
    description: 'Interval of WebSocket pings to clients and of replica heartbeats.' }),
  HEARTBEAT_TIMEOUT_SECS: variable(positiveInt(), { group: 'tuning', default: '60',
    description: 'A connection silent this long is closed; a replica silent this long is presumed dead and its presence dropped.' }),
  // Our own.
  NODE_ENV: variable(z.enum(['development', 'production', 'test']), { group: 'relay', default: 'development',
    description: 'production requires DATABASE_URL, REDIS_URL (or REDIS_SENTINELS / REDIS_CLUSTER_NODES) and JWT_PUBLIC_KEY_URL.' }),
  DEV_AUTH: variable(flag, { group: 'relay', default: '0',
    description: 'Allow development auth (no JWT_PUBLIC_KEY_URL: the relay mints its own tokens) while DATABASE_URL or Redis is set. Without it such a start is refused, so a deployment that forgot NODE_ENV=production and JWT_PUBLIC_KEY_URL does not hand out tokens for a real database. Not needed for `npm start` with no environment.' }),
  RELAY_DATA_DIR: variable(z.string().trim().min(1), { group: 'relay', default: '.relay-data',
    description: 'Folder for the embedded PostgreSQL data and the development signing key (kept across restarts).' }),
  EMBEDDED_POSTGRES_PORT: variable(port, { group: 'relay', default: '54329',
    description: 'Loopback port of the embedded PostgreSQL (only when DATABASE_URL is unset).' }),
  DB_POOL_SIZE: variable(positiveInt(), { group: 'relay', default: '20',
    description: 'PostgreSQL connections per replica.' }),
  DB_MAX_LIFETIME_SECS: variable(positiveInt(), { group: 'relay', default: '1800',
    description: 'A pooled PostgreSQL connection is replaced after this long.' }),
  DB_IDLE_TIMEOUT_SECS: variable(positiveInt(), { group: 'relay', default: '600',
    description: 'An idle pooled PostgreSQL connection is closed after this long.' }),
  REDIS_SENTINELS: variable(hostPortList.optional(), { group: 'relay', default: undefined,
    description: 'Redis Sentinel addresses (comma-separated host:port) instead of REDIS_URL; the relay asks them for the master of REDIS_SENTINEL_NAME and follows failovers.' }),
  REDIS_SENTINEL_NAME: variable(z.string().trim().min(1), { group: 'relay', default: 'mymaster',
    description: 'Name of the master group the sentinels watch (only with REDIS_SENTINELS).' }),
  REDIS_CLUSTER_NODES: variable(hostPortList.optional(), { group: 'relay', default: undefined,
    description: 'Redis Cluster seed nodes (comma-separated host:port) instead of REDIS_URL; the rest of the cluster is discovered from them.' }),
  REDIS_PASSWORD: variable(z.string().min(1).optional(), { group: 'relay', default: undefined, secret: true,
    description: 'Password of the Redis servers reached through REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL, put it in the URL).' }),
  JWT_ISSUER: variable(z.string().trim().min(1).optional(), { group: 'relay', default: undefined,
    description: 'Required `iss` of tokens, when set.' }),
  JWT_AUDIENCE: variable(csv.optional(), { group: 'relay', default: undefined,
    description: 'Accepted `aud` values (comma-separated), when set.' }),
  JWT_CLOCK_TOLERANCE_SECS: variable(nonNegativeInt(), { group: 'relay', default: '5',
    description: 'Leeway for `exp` and `nbf` against clock skew between the identity service and the relay.' }),
  JWKS_REFRESH_SECS: variable(positiveInt(), { group: 'relay', default: '600',
    description: 'The JWKS is refetched in the background this often; a failed fetch keeps the cached keys (retried every JWKS_REFETCH_COOLDOWN_SECS until one succeeds).' }),
  JWKS_REFETCH_COOLDOWN_SECS: variable(positiveInt(), { group: 'relay', default: '10',
    description: 'A token with an unknown `kid` refetches the JWKS (key rotation without restart), at most once per this many seconds whatever the traffic.' }),
  ACCESS_POLICY: variable(z.enum(['acl', 'open']).optional(), { group: 'relay', default: undefined,
    description: '`acl`: document roles from PostgreSQL decide who may read, edit and manage. `open`: any valid token may edit any document (access is granted upstream). Default: `open` in development mode (no JWT_PUBLIC_KEY_URL, not production), `acl` otherwise.' }),
  ADMIN_SCOPE: variable(z.string().trim().regex(/^\S{1,200}$/, { message: 'must be one scope value without spaces' }), { group: 'relay', default: 'relay:admin',
    description: 'Scope a token must carry to use the management API on every document (owners manage their own documents without it).' }),
  ADMIN_SCOPE_CLAIMS: variable(csv, { group: 'relay', default: 'scope,scp',
    description: 'Claims searched for ADMIN_SCOPE (comma-separated); each may hold a space-separated string or an array.' }),
  HANDSHAKE_TIMEOUT_SECS: variable(positiveInt(), { group: 'relay', default: '15',
    description: 'A connection that has not joined a document this long after the upgrade is closed with 4010.' }),
  RATE_LIMIT_MESSAGES_PER_SEC: variable(positiveInt(), { group: 'relay', default: '200',
    description: 'Sustained messages per second one connection may send; past it messages are dropped with a `rate_limited` error.' }),
  RATE_LIMIT_BURST: variable(positiveInt(), { group: 'relay', default: '400',
    description: 'Messages a connection may send at once above the sustained rate; a client that keeps sending this many more while limited is closed with 4029.' }),
  RATE_LIMIT_BYTES_PER_SEC: variable(positiveInt(), { group: 'relay', default: '2097152',
    description: 'Sustained bytes per second of frames one connection may send (each frame counts 64 bytes more than its length); past it frames are dropped unread with a `rate_limited` error.' }),
  RATE_LIMIT_BYTES_BURST: variable(positiveInt(), { group: 'relay', default: '8388608',
    description: 'Bytes a connection may send at once above the sustained rate (at least MAX_MESSAGE_BYTES); a client that keeps sending this many more while limited is closed with 4029.' }),
  JWT_MAX_LIFETIME_SECS: variable(nonNegativeInt(), { group: 'relay', default: '0',
    description: 'When not 0, tokens whose `exp` lies more than this many seconds after their `iat` (or after now) are refused: a leaked long-lived token is not accepted.' }),
  SNAPSHOT_INTERVAL_OPS: variable(positiveInt(), { group: 'relay', default: '500',
    description: 'A snapshot of a document is written every this many committed ops.' }),
  DOCUMENT_IDLE_SECS: variable(positiveInt(), { group: 'relay', default: '60',
    description: 'A document nobody on this replica has open is unloaded from memory after this long.' }),
  DOCUMENT_LEASE_MS: variable(positiveInt(), { group: 'relay', default: '1500',
    description: 'With Redis, one replica owns each open document and commits its changes (the others forward theirs to it); its lease lives this long and is renewed every fifth of it. A dead owner is replaced within about this long plus one renewal period.' }),
  MAX_MESSAGE_BYTES: variable(positiveInt(), { group: 'relay', default: String(DEFAULT_HELLO_LIMITS.maxMessageBytes),
    description: 'Largest WebSocket frame accepted from a client; larger frames close the connection with 1009.' }),
  MAX_BACKPRESSURE_BYTES: variable(positiveInt(), { group: 'relay', default: '4194304',
    description: 'Bytes queued to one slow client before uWebSockets.js drops its connection (the client sees 1006; it resumes from its clock, nothing is lost).' }),
  SHUTDOWN_DRAIN_SECS: variable(nonNegativeInt(), { group: 'relay', default: '30',
    description: 'On SIGTERM, how long clients are given to leave before the rest are closed.' }),
  MAX_DOCUMENT_CHARS: variable(positiveInt(), { group: 'relay', default: '5000000',
    description: 'Largest document, in characters (UTF-16 code units); a change that would grow a document past it is refused with `document_too_large` and nothing of it is applied.' }),
  MAX_CHANGE_BYTES: variable(positiveInt(), { group: 'relay', default: '1048576',
    description: 'Largest change, as the UTF-8 bytes of its ops in JSON; a larger one is refused with `change_too_large` (the client splits it).' }),
  RECONNECT_MIN_DELAY_MS: variable(nonNegativeInt(), { group: 'relay', default: '500',
    description: 'Lower bound of the randomized reconnect delay the relay tells clients when it shuts down.' }),
  RECONNECT_MAX_DELAY_MS: variable(positiveInt(), { group: 'relay', default: '10000',
    description: 'Upper bound of that delay: spreading reconnects avoids a storm after a deploy.' }),
  GROUP_COMMIT_MAX_DOCUMENTS: variable(nonNegativeInt(), { group: 'tuning', default: '64',
    description: 'Replica-wide group commit: the changes of up to this many documents that arrive while a commit is in flight share the next single statement (commits per second stay bounded however many documents are busy; acks still follow the commit). 0: every document commits on its own.' }),
});

/** The parsed environment: one typed value per variable. */
export type Environment = z.output<typeof ENVIRONMENT>;

/**
 * Every variable the relay reads, in the README's order. The README's configuration table is
 * generated from this list (`npm run docs:config`) and a test checks that the two agree, so
 * they cannot drift.
 */
export const VARIABLES: readonly (VariableDoc & { readonly name: string })[] = Object.entries(ENVIRONMENT.shape).map(([name, schema]) => {
  const doc = variableDocs.get(schema);
  if (!doc) throw new Error(`${name} is declared without variable()`);
  return { name, ...doc };
});

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
  /** 0: no cross-document group commit. */
  readonly groupCommitMaxDocuments: number;
  readonly version: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** Parses every variable; throws a ConfigError naming the first bad one (its value unless secret). */
function parseEnvironment(env: Env): Environment {
  const result = ENVIRONMENT.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue?.path[0] ?? 'the environment');
  const doc = VARIABLES.find((v) => v.name === name);
  const raw = env[name];
  const value = raw === undefined || raw === '' ? doc?.default : raw;
  const shown = doc?.secret || value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  throw new ConfigError(`${name} ${issue?.message ?? 'is invalid'}${shown}`);
}

/** Reads and validates the whole configuration; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env, version = '0.0.0'): Config {
  const effective = withSpecAliases(env);
  const values = parseEnvironment(effective);
  const redisWays = checkRequiredServices(values);
  const devAuth = values.NODE_ENV !== 'production' && values.JWT_PUBLIC_KEY_URL === undefined;
  if (devAuth) refuseAccidentalDevAuth(values, redisWays);
  checkCombinations(values);
  // A development relay listens on loopback unless told otherwise.
  const bindUnset = effective.BIND_ADDRESS === undefined || effective.BIND_ADDRESS === '';
  const bind: BindAddress = devAuth && bindUnset ? { host: '127.0.0.1', port: 8081 } : values.BIND_ADDRESS;
  const nodeEnv = values.NODE_ENV;
  const { RECONNECT_MIN_DELAY_MS: reconnectMinDelayMs, RECONNECT_MAX_DELAY_MS: reconnectMaxDelayMs, RATE_LIMIT_BYTES_BURST: rateLimitBytesBurst } = values;
  const { HEARTBEAT_INTERVAL_SECS: heartbeatIntervalSecs, HEARTBEAT_TIMEOUT_SECS: heartbeatTimeoutSecs } = values;

  return {
    nodeEnv,
    databaseUrl: values.DATABASE_URL,
    redisUrl: values.REDIS_URL,
    jwtPublicKeyUrl: values.JWT_PUBLIC_KEY_URL,
    bind,
    logLevel: values.LOG_LEVEL,
    logErrorStacks: values.LOG_ERROR_STACKS,
    uvThreadpoolSize: values.UV_THREADPOOL_SIZE,
    maxConnections: values.MAX_CONNECTIONS,
    metricsPort: values.METRICS_PORT,
    metricsHost: values.METRICS_ADDRESS ?? bind.host,
    redisPoolSize: values.REDIS_POOL_SIZE,
    redisSentinels: values.REDIS_SENTINELS,
    redisSentinelName: values.REDIS_SENTINEL_NAME,
    redisClusterNodes: values.REDIS_CLUSTER_NODES,
    redisPassword: values.REDIS_PASSWORD,
    permissionCacheTtlSecs: values.PERMISSION_CACHE_TTL,
    operationHistoryTtlSecs: values.OPERATION_HISTORY_TTL,
    operationHistoryMaxMb: values.OPERATION_HISTORY_MAX_MB,
    cursorThrottleMs: values.CURSOR_THROTTLE_MS,
    typingDebounceMs: values.TYPING_DEBOUNCE_MS,
    operationBatchSize: values.OPERATION_BATCH_SIZE,
    heartbeatIntervalSecs,
    heartbeatTimeoutSecs,
    dataDir: values.RELAY_DATA_DIR,
    embeddedPostgresPort: values.EMBEDDED_POSTGRES_PORT,
    dbPoolSize: values.DB_POOL_SIZE,
    dbMaxLifetimeSecs: values.DB_MAX_LIFETIME_SECS,
    dbIdleTimeoutSecs: values.DB_IDLE_TIMEOUT_SECS,
    jwtIssuer: values.JWT_ISSUER,
    jwtAudience: values.JWT_AUDIENCE,
    jwtClockToleranceSecs: values.JWT_CLOCK_TOLERANCE_SECS,
    jwksRefreshSecs: values.JWKS_REFRESH_SECS,
    jwksRefetchCooldownSecs: values.JWKS_REFETCH_COOLDOWN_SECS,
    // Development mode has no upstream to grant access, so everyone may edit there by default.
    accessPolicy: values.ACCESS_POLICY ?? (nodeEnv !== 'production' && values.JWT_PUBLIC_KEY_URL === undefined ? 'open' : 'acl'),
    adminScope: values.ADMIN_SCOPE,
    adminScopeClaims: values.ADMIN_SCOPE_CLAIMS,
    handshakeTimeoutSecs: values.HANDSHAKE_TIMEOUT_SECS,
    rateLimitPerSec: values.RATE_LIMIT_MESSAGES_PER_SEC,
    rateLimitBurst: values.RATE_LIMIT_BURST,
    rateLimitBytesPerSec: values.RATE_LIMIT_BYTES_PER_SEC,
    rateLimitBytesBurst,
    jwtMaxLifetimeSecs: values.JWT_MAX_LIFETIME_SECS,
    snapshotIntervalOps: values.SNAPSHOT_INTERVAL_OPS,
    documentIdleSecs: values.DOCUMENT_IDLE_SECS,
    documentLeaseMs: values.DOCUMENT_LEASE_MS,
    maxMessageBytes: values.MAX_MESSAGE_BYTES,
    maxBackpressureBytes: values.MAX_BACKPRESSURE_BYTES,
    shutdownDrainSecs: values.SHUTDOWN_DRAIN_SECS,
    reconnectMinDelayMs,
    maxDocumentChars: values.MAX_DOCUMENT_CHARS,
    maxChangeBytes: values.MAX_CHANGE_BYTES,
    reconnectMaxDelayMs,
    groupCommitMaxDocuments: values.GROUP_COMMIT_MAX_DOCUMENTS,
    version,
  };
}

/** The spec's Rust-era names, read where our own variable is unset. */
function withSpecAliases(env: Env): Env {
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
  return effective;
}

/** One way to reach Redis at most, and every real service in production; returns the Redis variables set. */
function checkRequiredServices(values: Environment): Array<'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_CLUSTER_NODES'> {
  // A URL, sentinels, or cluster nodes; two would leave it ambiguous.
  const redisWays = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((name) => values[name] !== undefined);
  if (redisWays.length > 1) throw new ConfigError(`set only one of ${redisWays.join(', ')}`);
  if (values.NODE_ENV !== 'production') return redisWays;
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_PUBLIC_KEY_URL'] as const) {
    if (name === 'REDIS_URL' && redisWays.length > 0) continue;
    if (values[name] === undefined) {
      throw new ConfigError(`${name} is required when NODE_ENV=production (embedded defaults are for development only)`);
    }
  }
  return redisWays;
}

/** Values that are each valid but cannot work together. */
function checkCombinations(values: Environment): void {
  if (values.REDIS_POOL_SIZE < REDIS_CONNECTIONS_PER_REPLICA) {
    throw new ConfigError(`REDIS_POOL_SIZE must be at least ${REDIS_CONNECTIONS_PER_REPLICA}, the Redis connections a replica opens (got ${values.REDIS_POOL_SIZE})`);
  }
  if (values.RECONNECT_MAX_DELAY_MS < values.RECONNECT_MIN_DELAY_MS) {
    throw new ConfigError(`RECONNECT_MAX_DELAY_MS must be >= RECONNECT_MIN_DELAY_MS (got ${values.RECONNECT_MAX_DELAY_MS} < ${values.RECONNECT_MIN_DELAY_MS})`);
  }
  // A frame of the largest size must fit in the byte budget, or it could never be sent.
  if (values.RATE_LIMIT_BYTES_BURST < values.MAX_MESSAGE_BYTES + 64) {
    throw new ConfigError(`RATE_LIMIT_BYTES_BURST must be at least MAX_MESSAGE_BYTES + 64 (got ${values.RATE_LIMIT_BYTES_BURST})`);
  }
  if (values.HEARTBEAT_TIMEOUT_SECS <= values.HEARTBEAT_INTERVAL_SECS) {
    throw new ConfigError(`HEARTBEAT_TIMEOUT_SECS must be greater than HEARTBEAT_INTERVAL_SECS (got ${values.HEARTBEAT_TIMEOUT_SECS} <= ${values.HEARTBEAT_INTERVAL_SECS})`);
  }
}

/**
 * Development auth next to a real database or Redis is how a deployment that forgot
 * NODE_ENV=production and JWT_PUBLIC_KEY_URL would end up minting admin tokens for production
 * data: it needs DEV_AUTH=1. With nothing external (plain `npm start`) nothing is at stake.
 */
function refuseAccidentalDevAuth(values: Environment, redisWays: readonly string[]): void {
  if (values.DEV_AUTH === true) return;
  const external = [...(values.DATABASE_URL !== undefined ? ['DATABASE_URL'] : []), ...redisWays];
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
  const groups: Record<VariableDoc['group'], string> = {
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
