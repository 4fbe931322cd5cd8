import { createRequire } from 'node:module';
import { pino, type Logger, type TransportSingleOptions } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Anything that could carry a credential is redacted by path, and tokens
 * are never passed to the logger in the first place (see auth/). `pretty` asks for lines a
 * person reads on a terminal instead; it is honoured only where pino-pretty is installed (a
 * devDependency: a production image keeps JSON whatever it is told).
 */
export function createLogger(level: string, errorStacks: boolean, pretty = false): Logger {
  return pino({
    level,
    ...(pretty ? prettyTransport() : {}),
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

/** Whether logs go to a person: a terminal, outside production. */
export function wantsPrettyLogs(nodeEnv: string, stdoutIsTty: boolean | undefined): boolean {
  return nodeEnv !== 'production' && stdoutIsTty === true;
}

function prettyTransport(): { transport?: TransportSingleOptions } {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
  } catch {
    return {};
  }
  return { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } };
}
