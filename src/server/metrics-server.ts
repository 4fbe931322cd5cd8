import uWS from 'uWebSockets.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import { handleAsync, sendJson, sendText } from './http.js';
import { listen, type Listener } from './listen.js';

/** Prometheus scrapes /metrics on its own port, so the metrics never share the public listener. */
export async function startMetricsServer(host: string, port: number, metrics: Metrics, log: Logger): Promise<Listener> {
  const app = uWS.App();
  app.get('/metrics', (res) => {
    handleAsync(
      res,
      async (state) => {
        const body = await metrics.registry.metrics();
        if (!state.aborted) sendText(res, 200, metrics.registry.contentType, body);
      },
      (err) => log.error({ err }, 'metrics collection failed'),
    );
  });
  app.any('/*', (res) => sendJson(res, 404, { error: 'not_found' }));
  return listen(app, host, port);
}
