import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, REDIS_CONNECTIONS_PER_REPLICA, VARIABLES, configTableMarkdown, isDevAuth, loadConfig } from '../../src/config.js';
import { DEFAULT_HELLO_LIMITS } from '../../src/protocol/limits.js';

describe('configuration', () => {
  it('has the spec defaults when nothing is set', () => {
    const c = loadConfig({ JWT_PUBLIC_KEY_URL: 'https://id.example/jwks.json' });
    expect(c.bind).toEqual({ host: '0.0.0.0', port: 8081 });
    expect(c.metricsHost).toBe('0.0.0.0');
    expect(c.maxConnections).toBe(10000);
    expect(c.metricsPort).toBe(9090);
    expect(c.redisPoolSize).toBe(50);
    expect(c.permissionCacheTtlSecs).toBe(300);
    expect(c.operationHistoryTtlSecs).toBe(600);
    expect(c.cursorThrottleMs).toBe(50);
    expect(c.typingDebounceMs).toBe(500);
    expect(c.operationBatchSize).toBe(100);
    expect(c.heartbeatIntervalSecs).toBe(30);
    expect(c.heartbeatTimeoutSecs).toBe(60);
    expect(c.logLevel).toBe('info');
    expect(isDevAuth(c)).toBe(false);
  });

  it('announces by default the limits the client SDK assumes until hello arrives', () => {
    const c = loadConfig({ JWT_PUBLIC_KEY_URL: 'https://id.example/jwks.json' });
    const announced = { maxOps: c.operationBatchSize, maxMessageBytes: c.maxMessageBytes, cursorThrottleMs: c.cursorThrottleMs, heartbeatIntervalSecs: c.heartbeatIntervalSecs };
    expect(announced).toEqual(DEFAULT_HELLO_LIMITS);
    expect(c.maxMessageBytes).toBe(1_048_576);
  });

  it('with no environment at all runs development auth on loopback only', () => {
    const c = loadConfig({});
    expect(isDevAuth(c)).toBe(true);
    expect(c.bind).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(c.metricsHost).toBe('127.0.0.1');
    expect(loadConfig({ BIND_ADDRESS: '0.0.0.0:9000' }).bind).toEqual({ host: '0.0.0.0', port: 9000 });
  });

  it.each([
    [{ DATABASE_URL: 'postgres://db.prod.internal/relay' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'redis://cache:6379' }, 'REDIS_URL'],
    [{ DATABASE_URL: 'postgres://127.0.0.1/relay', REDIS_SENTINELS: 's1:26379' }, 'DATABASE_URL, REDIS_SENTINELS'],
  ])('refuses development auth next to a real database or Redis unless DEV_AUTH=1 (%j)', (env, named) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(`development auth would mint tokens for the database or Redis in ${named}`);
    expect(isDevAuth(loadConfig({ ...env, DEV_AUTH: '1' }))).toBe(true);
    expect(isDevAuth(loadConfig({ ...env, JWT_PUBLIC_KEY_URL: 'https://id.example/jwks.json' }))).toBe(false);
  });

  it('binds /metrics to METRICS_ADDRESS when set', () => {
    const c = loadConfig({ JWT_PUBLIC_KEY_URL: 'https://id.example/jwks.json', METRICS_ADDRESS: '10.0.0.5' });
    expect(c.bind.host).toBe('0.0.0.0');
    expect(c.metricsHost).toBe('10.0.0.5');
    expect(loadConfig({ METRICS_ADDRESS: '[::1]' }).metricsHost).toBe('::1');
    expect(() => loadConfig({ METRICS_ADDRESS: '10.0.0.5:9090' })).toThrow(/^METRICS_ADDRESS must be a host or IP address without a port/);
  });

  it('refuses a REDIS_POOL_SIZE smaller than the Redis connections a replica opens', () => {
    expect(loadConfig({ REDIS_POOL_SIZE: String(REDIS_CONNECTIONS_PER_REPLICA) }).redisPoolSize).toBe(REDIS_CONNECTIONS_PER_REPLICA);
    expect(() => loadConfig({ REDIS_POOL_SIZE: String(REDIS_CONNECTIONS_PER_REPLICA - 1) })).toThrow(/^REDIS_POOL_SIZE must be at least 4/);
  });

  it("a base image's RUST_BACKTRACE does not switch on stack traces; LOG_ERROR_STACKS does", () => {
    expect(loadConfig({ RUST_BACKTRACE: '1' }).logErrorStacks).toBe(false);
    expect(loadConfig({ RUST_BACKTRACE: 'full' }).logErrorStacks).toBe(false);
    expect(loadConfig({ LOG_ERROR_STACKS: '1' }).logErrorStacks).toBe(true);
  });

  it.each([
    [{ MAX_CONNECTIONS: 'abc' }, /^MAX_CONNECTIONS must be a positive integer \(got "abc"\)$/],
    [{ MAX_CONNECTIONS: '0' }, /^MAX_CONNECTIONS must be a positive integer/],
    [{ BIND_ADDRESS: 'nope' }, /^BIND_ADDRESS must be host:port/],
    [{ BIND_ADDRESS: '0.0.0.0:99999' }, /^BIND_ADDRESS must be host:port/],
    [{ METRICS_PORT: '70000' }, /^METRICS_PORT must be a TCP port/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://u:secret@h/db' }, /^DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\/$/],
    [{ JWT_PUBLIC_KEY_URL: 'not a url' }, /^JWT_PUBLIC_KEY_URL must be a URL/],
    [{ HEARTBEAT_INTERVAL_SECS: '60', HEARTBEAT_TIMEOUT_SECS: '30' }, /^HEARTBEAT_TIMEOUT_SECS must be greater/],
    [{ NODE_ENV: 'production' }, /^DATABASE_URL is required when NODE_ENV=production/],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db' }, /^REDIS_URL is required/],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', REDIS_URL: 'redis://h:6379' }, /^JWT_PUBLIC_KEY_URL is required/],
  ])('rejects %j with a one-line message', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('never echoes a secret value', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u:hunter2@h/db' })).toThrow(ConfigError);
    try {
      loadConfig({ DATABASE_URL: 'mysql://u:hunter2@h/db' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('accepts IPv6 and host names, and maps the Rust-only variables', () => {
    expect(loadConfig({ BIND_ADDRESS: '[::]:8081' }).bind).toEqual({ host: '::', port: 8081 });
    expect(loadConfig({ BIND_ADDRESS: 'localhost:1' }).bind).toEqual({ host: 'localhost', port: 1 });
    const c = loadConfig({ RUST_LOG: 'debug,relay=trace', TOKIO_WORKER_THREADS: '8' });
    expect(c.logLevel).toBe('debug');
    expect(c.uvThreadpoolSize).toBe(8);
  });

  it('production with all three services configured is valid and not dev auth', () => {
    const c = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', REDIS_URL: 'redis://h:6379', JWT_PUBLIC_KEY_URL: 'https://id.example/jwks.json' });
    expect(isDevAuth(c)).toBe(false);
  });

  it('the README configuration table is the one generated from src/config.ts', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(configTableMarkdown());
    for (const v of VARIABLES) expect(readme).toContain(`\`${v.name}\``);
  });
});
