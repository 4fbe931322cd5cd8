/**
 * Entry point: read the configuration, start the relay, stop it cleanly on SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config.js';
import { createLogger, wantsPrettyLogs } from './log.js';
import { startRelay } from './relay.js';
import { ListenError } from './server/listen.js';
import { EmbeddedPostgresMissing } from './store/embedded-postgres.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let config;
try {
  config = loadConfig(process.env, version);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`relay: configuration error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
// libuv reads this when its pool first starts, which has not happened yet.
process.env.UV_THREADPOOL_SIZE = String(config.uvThreadpoolSize);

const log = createLogger(config.logLevel, config.logErrorStacks, wantsPrettyLogs(config.nodeEnv, process.stdout.isTTY));
let relay: Awaited<ReturnType<typeof startRelay>>;
try {
  relay = await startRelay(config, log);
} catch (err) {
  // A taken address or a production install without DATABASE_URL: one line says what to change.
  if (err instanceof ListenError || err instanceof EmbeddedPostgresMissing) {
    log.flush();
    process.stderr.write(`relay: ${err.message}\n`);
    process.exit(1);
  }
  log.fatal({ err }, 'relay failed to start');
  process.exit(1);
}

let stopping = false;
const stop = (signal: string) => {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal }, 'shutting down');
  relay.shutdown().then(
    () => {
      log.info('shutdown complete');
      log.flush();
      process.exit(0);
    },
    (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'));
