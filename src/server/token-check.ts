import type uWS from 'uWebSockets.js';
import { AuthError, verifyToken, type VerifyOptions } from '../auth/verify.js';
import type { KeySource } from '../auth/keys.js';
import type { Logger } from '../log.js';
import { handleAsync, sendJson } from './http.js';

/**
 * GET /collab/check-token: verifies the bearer token the way an upgrade does and answers 200
 * or 401. Browsers cannot read the status of a refused WebSocket upgrade, so the client SDK
 * asks here after a socket closed before opening, to stop retrying a token that can never
 * work. Open to any origin (the answer reveals nothing the caller does not hold already).
 */
export function addTokenCheckRoute(app: uWS.TemplatedApp, keys: KeySource, verify: VerifyOptions, log: Logger): void {
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization', 'access-control-max-age': '600' };
  app.options('/collab/check-token', (res) => {
    res.cork(() => {
      res.writeStatus('204 No Content');
      for (const [k, v] of Object.entries({ ...cors, 'access-control-allow-methods': 'GET' })) res.writeHeader(k, v);
      res.end();
    });
  });
  app.get('/collab/check-token', (res, req) => {
    const token = /^Bearer (\S+)$/i.exec(req.getHeader('authorization'))?.[1];
    if (!token) {
      sendJson(res, 401, { error: 'unauthorized', message: 'send Authorization: Bearer <token>' }, cors);
      return;
    }
    handleAsync(
      res,
      async (state) => {
        try {
          await verifyToken(token, keys, verify);
          if (!state.aborted) sendJson(res, 200, { valid: true }, cors);
        } catch (err) {
          const reason = err instanceof AuthError ? err.reason : 'verification failed';
          if (!state.aborted) sendJson(res, 401, { error: 'unauthorized', message: reason }, cors);
        }
      },
      (err) => log.warn({ err }, 'token check failed'),
    );
  });
}
