import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import uWS from 'uWebSockets.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import { handleAsync, sendJson, statusLine } from './http.js';
import { listen, type Listener } from './listen.js';

/** How long one rendering of the registry answers scrapes. */
const RENDER_REUSE_MS = 1000;

const gzipAsync = promisify(gzip);

/** One rendering of the registry, encoded once for every scrape that reuses it. */
interface Rendering {
  readonly plain: Buffer;
  /** Prometheus asks for gzip: about a tenth of the bytes to write per scrape. */
  readonly gzipped: Buffer;
}

/**
 * Prometheus scrapes /metrics on its own port (METRICS_PORT on METRICS_ADDRESS), so the metrics
 * never share the public listener. They do share the event loop, so a scrape must stay cheap
 * however often it comes: the registry is rendered at most once a second, and scrapes that
 * arrive meanwhile (or while it renders) get that same text, already encoded to bytes (and
 * gzipped for scrapers that accept it), so a scrape costs one write of a ready buffer.
 */
export async function startMetricsServer(host: string, port: number, metrics: Metrics, log: Logger): Promise<Listener> {
  const render = reusedFor(RENDER_REUSE_MS, async (): Promise<Rendering> => {
    const plain = Buffer.from(await metrics.registry.metrics());
    return { plain, gzipped: await gzipAsync(plain) };
  });
  const app = uWS.App();
  app.get('/metrics', (res, req) => {
    // uWS invalidates req at the first await.
    const gzipAccepted = /\bgzip\b/.test(req.getHeader('accept-encoding'));
    handleAsync(
      res,
      async (state) => {
        const rendering = await render();
        if (state.aborted) return;
        res.cork(() => {
          res.writeStatus(statusLine(200)).writeHeader('content-type', metrics.registry.contentType);
          if (gzipAccepted) res.writeHeader('content-encoding', 'gzip');
          res.end(gzipAccepted ? rendering.gzipped : rendering.plain);
        });
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
