import { randomUUID } from 'node:crypto';
import type uWS from 'uWebSockets.js';
import { z } from 'zod';
import { atLeast, type AccessControl, type Role } from '../auth/access.js';
import type { KeySource } from '../auth/keys.js';
import { AuthError, hasScope, verifyToken, type Principal, type VerifyOptions } from '../auth/verify.js';
import type { DocumentRegistry } from '../engine/registry.js';
import type { Logger } from '../log.js';
import { ROLES, type DocumentRecord, type Member, type PermissionStore } from '../store/permissions.js';
import { handleAsync, readBody, sendJson } from './http.js';

export interface ManagementDeps {
  readonly keys: KeySource;
  readonly verify: VerifyOptions;
  readonly adminScope: string;
  readonly adminScopeClaims: readonly string[];
  readonly store: PermissionStore;
  readonly access: AccessControl;
  readonly registry: DocumentRegistry;
  /**
   * Applies a role change (already in PostgreSQL, cache entry invalidated) to this replica's
   * connections at once and tells the other replicas (src/bus/revocations.ts).
   */
  readonly roleChanged: (docId: string, userId: string) => void;
  readonly log: Logger;
}

export const API_PREFIX = '/api/v1/documents';
const MAX_BODY_BYTES = 64 * 1024;

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** PostgreSQL text cannot hold NUL: refuse it here (400) rather than fail in the database (500). */
const noNul = (s: string) => !s.includes('\u0000');
const userId = z.string().min(1).max(256).refine(noNul, 'must not contain NUL characters');
const createBody = z.strictObject({
  id: z.string().regex(uuid, 'id must be a UUID').optional(),
  title: z.string().max(500).refine(noNul, 'must not contain NUL characters').optional(),
  owner: userId.optional(),
});
const grantBody = z.strictObject({ role: z.enum(ROLES as [Role, ...Role[]]) });

/** A refusal that becomes an HTTP error response. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Caller {
  readonly principal: Principal;
  readonly admin: boolean;
}

/** What a route handler gets: the authenticated caller, the path parameters, the body if it takes one. */
interface RouteContext {
  readonly caller: Caller;
  readonly params: string[];
  readonly body: Promise<Buffer> | undefined;
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
}

interface RouteShape {
  readonly withBody: boolean;
  readonly params: number;
}

/**
 * The management API for the product's backend: create documents, read their content, and
 * manage members. Callers are admins (ADMIN_SCOPE, any document) or a document's owners (their
 * document's members only). Routes are documented in docs/security.md.
 */
export function addManagementRoutes(app: uWS.TemplatedApp, deps: ManagementDeps): void {
  const api = new ManagementApi(deps);
  app.post(API_PREFIX, route(deps, (ctx) => api.createDocument(ctx), { withBody: true, params: 0 }));
  app.get(`${API_PREFIX}/:id`, route(deps, (ctx) => api.readDocument(ctx), { withBody: false, params: 1 }));
  app.get(`${API_PREFIX}/:id/members`, route(deps, (ctx) => api.listMembers(ctx), { withBody: false, params: 1 }));
  app.put(`${API_PREFIX}/:id/members/:user`, route(deps, (ctx) => api.grantRole(ctx), { withBody: true, params: 2 }));
  app.del(`${API_PREFIX}/:id/members/:user`, route(deps, (ctx) => api.revokeRole(ctx), { withBody: false, params: 2 }));
}

/**
 * A uWS handler around `handler`: authenticates the caller, turns an ApiError into its error
 * response, and writes the reply unless the client has gone.
 */
function route(deps: ManagementDeps, handler: (ctx: RouteContext) => Promise<Reply>, shape: RouteShape): (res: uWS.HttpResponse, req: uWS.HttpRequest) => void {
  return (res: uWS.HttpResponse, req: uWS.HttpRequest) => {
    // uWS invalidates req at the first await: read everything now.
    const authorization = req.getHeader('authorization');
    const params = Array.from({ length: shape.params }, (_, i) => req.getParameter(i) ?? '');
    const body = shape.withBody ? readBody(res, MAX_BODY_BYTES) : undefined;
    // A rejected body nobody awaited yet must not become an unhandled rejection.
    body?.catch(() => undefined);
    handleAsync(
      res,
      async (state) => {
        let reply: Reply;
        try {
          const caller = await authenticate(authorization, deps);
          reply = await handler({ caller, params, body });
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          reply = { status: err.status, body: { error: err.code, message: err.message } };
        }
        if (state.aborted) return;
        sendReply(res, reply);
      },
      (err) => deps.log.error({ err }, 'management API request failed'),
    );
  };
}

function sendReply(res: uWS.HttpResponse, reply: Reply): void {
  if (reply.status === 204) {
    res.cork(() => res.writeStatus('204 No Content').end());
  } else {
    sendJson(res, reply.status, reply.body ?? {}, reply.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
  }
}

/** The routes' handlers, one method a route, and the checks they share. */
class ManagementApi {
  constructor(private readonly deps: ManagementDeps) {}

  /** POST /api/v1/documents (admins only). */
  async createDocument({ caller, body }: RouteContext): Promise<Reply> {
    const { deps } = this;
    if (!caller.admin) throw new ApiError(403, 'forbidden', `creating documents needs the ${deps.adminScope} scope`);
    const input = parse(createBody, await jsonBody(body));
    const created = await deps.store.createDocument({ id: (input.id ?? randomUUID()).toLowerCase(), title: input.title ?? null, createdBy: caller.principal.userId, owner: input.owner });
    if (!created) throw new ApiError(409, 'conflict', 'a document with this id exists');
    if (input.owner !== undefined) {
      deps.access.invalidate(created.id, input.owner);
      // Other replicas may have cached "no role" from a join tried before the creation.
      deps.roleChanged(created.id, input.owner);
    }
    deps.log.info({ doc: created.id, by: caller.principal.userId }, 'document created');
    return { status: 201, body: { ...documentJson(created), revision: 0 } };
  }

  /** GET /api/v1/documents/:id: the document with its current content. */
  async readDocument({ caller, params }: RouteContext): Promise<Reply> {
    const { registry } = this.deps;
    const doc = await this.authorize(caller, params[0], 'viewer');
    const engine = registry.peek(doc.id);
    if (engine) return { status: 200, body: { ...documentJson(doc), revision: engine.headRev, content: engine.state } };
    // Not loaded here: load it like a join would (the registry unloads it again when idle).
    const loaded = await registry.acquire(doc.id);
    try {
      return { status: 200, body: { ...documentJson(doc), revision: loaded.headRev, content: loaded.state } };
    } finally {
      registry.release(doc.id);
    }
  }

  /** GET /api/v1/documents/:id/members */
  async listMembers({ caller, params }: RouteContext): Promise<Reply> {
    const doc = await this.authorize(caller, params[0], 'owner');
    return { status: 200, body: { document: doc.id, members: (await this.deps.store.members(doc.id)).map(memberJson) } };
  }

  /** PUT /api/v1/documents/:id/members/:user */
  async grantRole({ caller, params, body }: RouteContext): Promise<Reply> {
    const { deps } = this;
    const doc = await this.authorize(caller, params[0], 'owner');
    const user = userParam(params[1]);
    const { role } = parse(grantBody, await jsonBody(body));
    if (role !== 'owner') await this.keepAnOwner(doc.id, user);
    const member = await deps.store.grant(doc.id, user, role, caller.principal.userId);
    deps.access.invalidate(doc.id, user);
    deps.roleChanged(doc.id, user);
    deps.log.info({ doc: doc.id, user, role, by: caller.principal.userId }, 'role granted');
    return { status: 200, body: memberJson(member) };
  }

  /** DELETE /api/v1/documents/:id/members/:user */
  async revokeRole({ caller, params }: RouteContext): Promise<Reply> {
    const { deps } = this;
    const doc = await this.authorize(caller, params[0], 'owner');
    const user = userParam(params[1]);
    await this.keepAnOwner(doc.id, user);
    const had = await deps.store.revoke(doc.id, user);
    deps.access.invalidate(doc.id, user);
    deps.roleChanged(doc.id, user);
    if (!had) throw new ApiError(404, 'not_found', 'that user has no role on this document');
    deps.log.info({ doc: doc.id, user, by: caller.principal.userId }, 'role revoked');
    return { status: 204 };
  }

  /** A document keeps at least one owner: removing or demoting the last one is a 409. */
  private async keepAnOwner(docId: string, user: string): Promise<void> {
    const owners = (await this.deps.store.members(docId)).filter((m) => m.role === 'owner');
    if (owners.length === 1 && owners[0]?.userId === user) {
      throw new ApiError(409, 'last_owner', 'this is the last owner of the document: grant another owner first');
    }
  }

  /**
   * Admins see every document (404 for a missing one); other callers need `needed` on it and
   * get 403 otherwise, so they cannot probe which documents exist.
   */
  private async authorize(caller: Caller, rawId: string | undefined, needed: Role): Promise<DocumentRecord> {
    const { deps } = this;
    const id = rawId?.toLowerCase() ?? '';
    if (!uuid.test(id)) throw new ApiError(400, 'bad_request', 'the document id must be a UUID');
    if (!caller.admin) {
      // Straight from PostgreSQL, not the cache: a revoked owner must not manage for another TTL.
      const stored = await deps.store.roleOf(id, caller.principal.userId);
      // Under the open policy any valid token may read; managing still needs a stored owner.
      const role = deps.access.policy === 'open' && needed === 'viewer' ? (stored ?? 'viewer') : stored;
      if (!atLeast(role, needed)) throw new ApiError(403, 'forbidden', needed === 'owner' ? 'only owners and admins manage a document' : 'you have no role on this document');
    }
    const doc = await deps.store.document(id);
    if (!doc) throw new ApiError(404, 'not_found', 'no such document');
    return doc;
  }
}

async function authenticate(authorization: string, deps: ManagementDeps): Promise<Caller> {
  const match = /^Bearer ([^\s]+)$/i.exec(authorization.trim());
  if (!match?.[1]) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token>');
  try {
    const principal = await verifyToken(match[1], deps.keys, deps.verify);
    return { principal, admin: hasScope(principal, deps.adminScope, deps.adminScopeClaims) };
  } catch (err) {
    const reason = err instanceof AuthError ? err.reason : 'verification failed';
    deps.log.info({ reason }, 'management request refused: bad token');
    throw new ApiError(401, 'unauthorized', reason);
  }
}

async function jsonBody(body: Promise<Buffer> | undefined): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = (await body) ?? Buffer.alloc(0);
  } catch {
    throw new ApiError(413, 'too_large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  }
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new ApiError(400, 'bad_request', 'the body is not JSON');
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ApiError(400, 'bad_request', issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid body');
  }
  return result.data;
}

function userParam(raw: string | undefined): string {
  let user: string;
  try {
    user = decodeURIComponent(raw ?? '');
  } catch {
    throw new ApiError(400, 'bad_request', 'the user id is not valid percent-encoding');
  }
  if (!userId.safeParse(user).success) throw new ApiError(400, 'bad_request', 'the user id must be 1-256 characters');
  return user;
}

function documentJson(doc: DocumentRecord) {
  return { id: doc.id, title: doc.title, created_by: doc.createdBy, created_at: doc.createdAt.toISOString() };
}

function memberJson(member: Member) {
  return { user_id: member.userId, role: member.role, granted_by: member.grantedBy, granted_at: member.grantedAt.toISOString() };
}
