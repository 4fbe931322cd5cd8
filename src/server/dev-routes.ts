import type uWS from 'uWebSockets.js';
import type { DevKeys } from '../auth/dev-keys.js';
import type { Logger } from '../log.js';
import { handleAsync, isLoopback, remoteAddress, sendJson } from './http.js';

/**
 * Development auth only: the JWKS of the relay's own key, and a token minting endpoint that
 * answers loopback callers only. Never mounted when JWT_PUBLIC_KEY_URL is set or in production.
 */
export function addDevAuthRoutes(app: uWS.TemplatedApp, keys: DevKeys, log: Logger): void {
  app.get('/.well-known/jwks.json', (res) => sendJson(res, 200, keys.jwks));
  // A front-end dev server on another port (Vite on :5173) may fetch tokens: any origin, no credentials.
  const cors = { 'access-control-allow-origin': '*' };
  app.options('/dev/token', (res) => {
    res.cork(() => res.writeStatus('204 No Content').writeHeader('access-control-allow-origin', '*').writeHeader('access-control-allow-methods', 'GET').end());
  });
  app.get('/dev/token', (res, req) => {
    const user = req.getQuery('user') || `user-${Math.random().toString(36).slice(2, 8)}`;
    const name = req.getQuery('name') || user;
    const ttl = Number(req.getQuery('ttl') || 3600);
    // e.g. scope=relay:admin, to try the management API locally.
    const scope = req.getQuery('scope') || undefined;
    const address = remoteAddress(res);
    if (!isLoopback(address)) {
      sendJson(res, 403, { error: 'forbidden', message: 'development tokens are minted for loopback callers only' }, cors);
      return;
    }
    if (!/^[\w.@:-]{1,128}$/.test(user) || !(ttl >= 1 && ttl <= 86400) || (scope !== undefined && !/^[\w.:/ -]{1,200}$/.test(scope))) {
      sendJson(res, 400, { error: 'bad_request', message: 'user must match [\\w.@:-]{1,128}, ttl be 1..86400 seconds, and scope be space-separated scope values' }, cors);
      return;
    }
    handleAsync(
      res,
      async (state) => {
        const token = await keys.mint({ sub: user, name: name.slice(0, 100), ttlSecs: ttl, ...(scope !== undefined ? { extra: { scope } } : {}) });
        if (!state.aborted) sendJson(res, 200, { token, user, expires_in: ttl }, cors);
      },
      (err) => log.error({ err }, 'minting a development token failed'),
    );
  });
}
