import type uWS from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { checkReadiness, type ReadinessProbe } from './readiness.js';
import { handleAsync, sendJson } from './http.js';

export interface HealthSource {
  readonly version: string;
  readonly startedAt: number;
  activeConnections(): number;
  activeDocuments(): number;
  isShuttingDown(): boolean;
}

/** GET /health (liveness: the process answers) and GET /ready (dependencies usable). */
export function addHealthRoutes(app: uWS.TemplatedApp, source: HealthSource, probe: ReadinessProbe, log: Logger): void {
  app.get('/health', (res) => {
    sendJson(res, 200, {
      status: 'healthy',
      version: source.version,
      uptime_seconds: Math.floor((Date.now() - source.startedAt) / 1000),
      active_connections: source.activeConnections(),
      active_documents: source.activeDocuments(),
    });
  });
  app.get('/ready', (res) => {
    handleAsync(
      res,
      async (state) => {
        const report = await checkReadiness(probe, source.isShuttingDown());
        if (!state.aborted) sendJson(res, report.status === 'ready' ? 200 : 503, report);
      },
      (err) => log.error({ err }, 'readiness check failed'),
    );
  });
}

export function addNotFound(app: uWS.TemplatedApp): void {
  app.any('/*', (res, req) => {
    sendJson(res, 404, { error: 'not_found', path: req.getUrl().slice(0, 200) });
  });
}
