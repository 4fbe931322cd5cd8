import type uWS from 'uWebSockets.js';
import type { DevKeys } from '../auth/dev-keys.js';
import type { Logger } from '../log.js';
import { handleAsync, isLoopback, remoteAddress, sendJson } from './http.js';

/** Headers a proxy or sidecar adds: their presence means the loopback peer speaks for someone else. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'x-envoy-external-address', 'via'];

/** A Host a browser sends only for a page it loaded from this machine (not a rebound DNS name). */
const LOCAL_HOST = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?$/i;

/**
 * Why a /dev/token request is refused, or undefined. A loopback peer is not enough: a
 * same-host proxy or mesh sidecar is loopback too (it forwards), and a web page can rebind its
 * own DNS name to 127.0.0.1 (its Host header still names it).
 */
export function devTokenRefusal(address: string, header: (lowerCaseName: string) => string): string | undefined {
  if (!isLoopback(address)) return 'the caller is not on loopback';
  const forwarded = FORWARDING_HEADERS.find((name) => header(name) !== '');
  if (forwarded !== undefined) return `the request came through a proxy (${forwarded} header)`;
  if (!LOCAL_HOST.test(header('host'))) return 'the Host header is not localhost, 127.0.0.1 or [::1]';
  return undefined;
}

/** Pages served from this machine (a front-end dev server such as Vite on :5173). */
const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?$/i;

/**
 * The CORS origin to allow: a local page only. Any origin (`*`) would let every web site a
 * developer visits mint tokens from their running relay.
 */
export function allowedOrigin(origin: string): string | undefined {
  return LOCAL_ORIGIN.test(origin) ? origin : undefined;
}

/**
 * Development auth only: the JWKS of the relay's own key, and a token minting endpoint that
 * answers loopback callers only. Never mounted when JWT_PUBLIC_KEY_URL is set or in production.
 */
export function addDevAuthRoutes(app: uWS.TemplatedApp, keys: DevKeys, log: Logger): void {
  app.get('/.well-known/jwks.json', (res) => sendJson(res, 200, keys.jwks));
  app.options('/dev/token', (res, req) => {
    const origin = allowedOrigin(req.getHeader('origin'));
    res.cork(() => {
      res.writeStatus('204 No Content');
      if (origin) res.writeHeader('access-control-allow-origin', origin).writeHeader('access-control-allow-methods', 'GET').writeHeader('vary', 'Origin');
      res.end();
    });
  });
  app.get('/dev/token', (res, req) => {
    const origin = allowedOrigin(req.getHeader('origin'));
    const cors: Record<string, string> = origin ? { 'access-control-allow-origin': origin, vary: 'Origin' } : { vary: 'Origin' };
    const user = req.getQuery('user') || `user-${Math.random().toString(36).slice(2, 8)}`;
    const name = req.getQuery('name') || user;
    const ttl = Number(req.getQuery('ttl') || 3600);
    // e.g. scope=relay:admin, to try the management API locally.
    const scope = req.getQuery('scope') || undefined;
    const refusal = devTokenRefusal(remoteAddress(res), (header) => req.getHeader(header));
    if (refusal !== undefined) {
      log.warn({ reason: refusal }, 'development token refused');
      sendJson(res, 403, { error: 'forbidden', message: `development tokens are minted for local callers only: ${refusal}` }, cors);
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
