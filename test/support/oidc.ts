import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';
import { freePort } from './ports.js';

export const RESOURCE = 'urn:relay';
export const AUDIENCE = 'relay';
export const ADMIN_SCOPE = 'relay:admin';
const SECRET = 'test-client-secret-which-is-long-enough';

interface KeyPair {
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export interface TestIdp {
  readonly issuer: string;
  readonly jwksUrl: string;
  /** GET /jwks requests served so far. */
  jwksRequests(): number;
  /**
   * An access token (a JWT) from the provider's token endpoint, through the client credentials
   * grant: each test user is a client, so `sub` is the user id.
   */
  token(user: string, options?: { scope?: string; ttlSecs?: number }): Promise<string>;
  /** Signs a token of our own making with the provider's current key, for hostile variations. */
  sign(payload: JWTPayload, options?: { kid?: string; alg?: string }): Promise<string>;
  readonly currentKid: string;
  readonly publicJwk: JWK;
  /** Publishes a new signing key (the old one stays in the JWKS) and signs with it from now on. */
  rotate(): Promise<void>;
  /** Stops answering (connection refused), as when the identity service is down. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** The relay's settings that make it verify tokens against `idp`'s keys, issuer and audience. */
export function verifiedBy(idp: Pick<TestIdp, 'jwksUrl' | 'issuer'>): { JWT_PUBLIC_KEY_URL: string; JWT_ISSUER: string; JWT_AUDIENCE: string } {
  return { JWT_PUBLIC_KEY_URL: idp.jwksUrl, JWT_ISSUER: idp.issuer, JWT_AUDIENCE: AUDIENCE };
}

/**
 * A real OpenID provider (panva's oidc-provider) on a loopback port, issuing JWT access tokens
 * for the `urn:relay` resource (audience `relay`) through the client credentials grant. Key
 * rotation replaces the provider instance on the same port, as a redeploy of the identity
 * service would; the relay is not touched.
 */
export async function startTestIdp(users: readonly string[], admins: readonly string[] = []): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const keys: KeyPair[] = [await newKey()];
  let provider = buildProvider(issuer, keys, users, admins);
  let server: Server | undefined;
  let jwksRequests = 0;

  const listen = async () => {
    const s = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith('/jwks')) jwksRequests++;
      void provider.callback()(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  const close = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();

  const idp: TestIdp = {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    jwksRequests: () => jwksRequests,
    get currentKid() {
      return keys[0]?.publicJwk.kid ?? '';
    },
    get publicJwk() {
      return keys[0]?.publicJwk ?? {};
    },
    token: async (user, options = {}) => {
      const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: user, client_secret: SECRET, resource: RESOURCE });
      if (options.scope) body.set('scope', options.scope);
      if (options.ttlSecs !== undefined) body.set('ttl', String(options.ttlSecs));
      const post = () => fetch(`${issuer}/token`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      // After a restart of the provider the first request can hit a pooled socket it closed.
      const res = await post().catch(post);
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!res.ok || !json.access_token) throw new Error(`token endpoint: HTTP ${res.status} ${json.error ?? ''} ${json.error_description ?? ''}`);
      return json.access_token;
    },
    sign: async (payload, options = {}) => {
      const key = keys[0];
      if (!key) throw new Error('no key');
      const privateKey = await importJWK(key.privateJwk, 'ES256');
      return new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'ES256', kid: options.kid ?? key.publicJwk.kid ?? '', typ: 'at+jwt' }).sign(privateKey);
    },
    rotate: async () => {
      keys.unshift(await newKey());
      await close();
      provider = buildProvider(issuer, keys, users, admins);
      await listen();
    },
    stop: close,
    start: listen,
  };
  return idp;
}

async function newKey(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
  };
}

function buildProvider(issuer: string, keys: readonly KeyPair[], users: readonly string[], admins: readonly string[]): Provider {
  const provider = new Provider(issuer, {
    scopes: ['openid', ADMIN_SCOPE],
    clients: users.map((user) => ({
      client_id: user,
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      // Only the product's backend may ask for the admin scope.
      scope: admins.includes(user) ? ADMIN_SCOPE : 'openid',
      id_token_signed_response_alg: 'ES256',
    })),
    // The first key signs; the others stay published so tokens they signed keep verifying.
    jwks: { keys: keys.map((k) => k.privateJwk) },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: ADMIN_SCOPE,
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    // A `ttl` form field (a test-only convenience) shortens one token's life.
    ttl: {
      ClientCredentials: (ctx) => {
        const requested = Number((ctx.oidc.body as Record<string, unknown> | undefined)?.ttl);
        return Number.isFinite(requested) && requested > 0 ? requested : 600;
      },
    },
  });
  return provider;
}
