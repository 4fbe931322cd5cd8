import uWS from 'uWebSockets.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import { handleAsync, sendJson, sendText } from './http.js';
import { listen, type Listener } from './listen.js';

/** How long one rendering of the registry answers scrapes. */
const RENDER_REUSE_MS = 1000;

/**
 * Prometheus scrapes /metrics on its own port (METRICS_PORT on METRICS_ADDRESS), so the metrics
 * never share the public listener. They do share the event loop, so a scrape must stay cheap
 * however often it comes: the registry is rendered at most once a second, and scrapes that
 * arrive meanwhile (or while it renders) get that same text.
 */
export async function startMetricsServer(host: string, port: number, metrics: Metrics, log: Logger): Promise<Listener> {
  const render = reusedFor(RENDER_REUSE_MS, () => metrics.registry.metrics());
  const app = uWS.App();
  app.get('/metrics', (res) => {
    handleAsync(
      res,
      async (state) => {
        const body = await render();
        if (!state.aborted) sendText(res, 200, metrics.registry.contentType, body);
      },
      (err) => log.error({ err }, 'metrics collection failed'),
    );
  });
  app.any('/*', (res) => sendJson(res, 404, { error: 'not_found' }));
  return listen(app, host, port, 'METRICS_PORT / METRICS_ADDRESS');
}

/** One call of `produce` in flight at a time, its result reused for `reuseMs` after it settles. */
export function reusedFor<T>(reuseMs: number, produce: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let current: Promise<T> | undefined;
  let settledAt = Number.NEGATIVE_INFINITY;
  let settled = false;
  return () => {
    if (current && (!settled || now() - settledAt < reuseMs)) return current;
    settled = false;
    const attempt = produce();
    current = attempt;
    attempt.then(
      () => {
        settled = true;
        settledAt = now();
      },
      () => {
        // A failure is not reused: the next scrape tries again.
        if (current === attempt) current = undefined;
      },
    );
    return attempt;
  };
}
