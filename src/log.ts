import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Anything that could carry a credential is redacted by path, and tokens
 * are never passed to the logger in the first place (see auth/).
 */
export function createLogger(level: string, errorStacks: boolean): Logger {
  return pino({
    level,
    base: { service: 'relay' },
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'databaseUrl', 'redisUrl', 'password', '*.password'],
      censor: '[redacted]',
    },
    serializers: {
      err: (err: unknown) => {
        if (err instanceof Error) {
          const code = (err as { code?: unknown }).code;
          return { type: err.name, message: err.message, ...(code !== undefined ? { code } : {}), ...(errorStacks ? { stack: err.stack } : {}) };
        }
        return { message: String(err) };
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
