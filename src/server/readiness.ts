export type CheckValue = 'ok' | 'error' | 'in_process';

export interface ReadinessProbe {
  database(): Promise<boolean>;
  /**
   * False while commits to the op log are failing (a retry streak). The database check is `ok`
   * only when this holds too: `SELECT 1` can answer while every commit fails.
   */
  commitsHealthy?: () => boolean;
  /** undefined when no Redis is configured: a single replica uses the in-process bus. */
  redis: (() => Promise<boolean>) | undefined;
  jwtKeys(): boolean;
}

export interface ReadinessReport {
  readonly status: 'ready' | 'not_ready';
  readonly checks: { readonly database: CheckValue; readonly redis: CheckValue; readonly jwt_keys: CheckValue };
}

/** The spec's /ready: every check must pass; a replica that is shutting down is never ready. */
export async function checkReadiness(probe: ReadinessProbe, shuttingDown: boolean): Promise<ReadinessReport> {
  const [database, redis] = await Promise.all([
    probe.database().catch(() => false),
    probe.redis ? probe.redis().catch(() => false) : Promise.resolve<'in_process'>('in_process'),
  ]);
  const checks = {
    database: database && (probe.commitsHealthy?.() ?? true) ? 'ok' : 'error',
    redis: redis === 'in_process' ? 'in_process' : redis ? 'ok' : 'error',
    jwt_keys: probe.jwtKeys() ? 'ok' : 'error',
  } as const;
  const healthy = !shuttingDown && Object.values(checks).every((v) => v !== 'error');
  return { status: healthy ? 'ready' : 'not_ready', checks };
}
