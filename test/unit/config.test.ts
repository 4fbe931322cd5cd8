import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, VARIABLES, configTableMarkdown, isDevAuth, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('has the spec defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.bind).toEqual({ host: '0.0.0.0', port: 8081 });
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
    expect(isDevAuth(c)).toBe(true);
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
    const c = loadConfig({ RUST_LOG: 'debug,relay=trace', RUST_BACKTRACE: '1', TOKIO_WORKER_THREADS: '8' });
    expect(c.logLevel).toBe('debug');
    expect(c.logErrorStacks).toBe(true);
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
