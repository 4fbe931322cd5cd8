import { randomInt, randomUUID } from 'node:crypto';
import uWS from 'uWebSockets.js';
import { atLeast, type AccessControl, type Role } from '../auth/access.js';
import { SignatureBudget } from '../auth/signature-budget.js';
import { AuthError, verifyTokenNow, type Principal, type Verification, type VerifyOptions } from '../auth/verify.js';
import { changeToWire } from './change-wire.js';
import { topicOf, type PresenceRelay } from './presence-relay.js';
import { SessionGuard } from './session-guard.js';
import type { KeySource } from '../auth/keys.js';
import type { Bus } from '../bus/bus.js';
import type { DocumentOwnership } from '../cluster/ownership.js';
import type { Config } from '../config.js';
import type { DocumentEngine, SubmitOrigin } from '../engine/document.js';
import type { EngineError } from '../engine/errors.js';
import type { CommittedChange } from '../engine/ports.js';
import { JoinBase } from '../engine/join-base.js';
import type { DocumentRegistry } from '../engine/registry.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { CloseCode, ErrorCode } from '../protocol/codes.js';
import { decodeClientMessage } from '../protocol/decode.js';
import type { ChangeMessage, ClientMessage, JoinMessage } from '../protocol/messages.js';
import { Connection, type JoinedDocument, type SocketData } from './connection.js';
import { sendJson } from './http.js';
import { RateLimiter } from './rate-limit.js';
import { readUpgradeRequest } from './upgrade.js';
import { UserBudgets } from './user-budgets.js';
import { addTokenCheckRoute } from './token-check.js';
import { userInfoFrom } from './user-info.js';

const MAX_DOCUMENTS_PER_CONNECTION = 100;

export interface CollabDeps {
  readonly config: Config;
  readonly keys: KeySource;
  readonly verify: VerifyOptions;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** This process's id, recorded with presence so a dead replica's entries can be dropped. */
  readonly replicaId: string;
  readonly bus: Bus;
  readonly access: AccessControl;
  readonly registry: DocumentRegistry;
  readonly presence: PresenceRelay;
  /** Where a client's change goes: committed here, or forwarded to the document's owner. */
  readonly ownership: DocumentOwnership;
  readonly now?: () => number;
}


/**
 * The connection manager and protocol handler of `/collab`: authenticates upgrades, joins
 * clients to document engines, and turns messages into submissions (committed here or
 * forwarded to the document's owner: cluster/ownership.ts) and presence. Committed changes
 * are fanned out by server/fanout.ts, the registry's commit listener.
 */
export class CollabServer {
  private readonly connections = new Set<Connection>();
  private accepting = true;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private accessTimer: NodeJS.Timeout | undefined;
  private readonly presenceRelay: PresenceRelay;
  private readonly guard: SessionGuard;
  private readonly userBudgets: UserBudgets;
  /** Upgrades verified and under way: they count against MAX_CONNECTIONS before they open. */
  private upgrading = 0;
  /** Failed signature checks the event loop absorbs before checks move off it. */
  private readonly signatureBudget = new SignatureBudget();
  private readonly registry: DocumentRegistry;
  private readonly now: () => number;

  constructor(
    private readonly app: uWS.TemplatedApp,
    private readonly deps: CollabDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.userBudgets = new UserBudgets({ bytesPerSec: deps.config.rateLimitBytesPerSec, bytesBurst: deps.config.rateLimitBytesBurst });
    this.presenceRelay = deps.presence;
    this.registry = deps.registry;
    this.guard = new SessionGuard({
      keys: deps.keys,
      verify: deps.verify,
      access: deps.access,
      metrics: deps.metrics,
      log: deps.log,
      now: this.now,
      connections: () => this.connections,
      evict: (connection, docId) => this.leave(connection, docId, true),
    });
  }

  /** Applies role changes now (the management API calls it after a grant or revocation). */
  recheckAccess(filter?: { docId: string; userId: string }): Promise<void> {
    return this.guard.recheckAccess(filter);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Serves `/collab` on the app. */
  listen(): void {
    const { config } = this.deps;
    this.app.ws<SocketData>('/collab', {
      // uWS drops the TCP connection without a close frame (1006) past its own limit, so it gets
      // a ceiling of twice ours and we close frames over ours cleanly with 1009.
      maxPayloadLength: config.maxMessageBytes * 2,
      maxBackpressure: config.maxBackpressureBytes,
      // A frame that would be dropped for backpressure closes the socket instead: a client
      // that silently missed an op would diverge; a closed one resumes from its clock.
      closeOnBackpressureLimit: 1,
      // Our own heartbeat (HEARTBEAT_*) decides liveness; uWS's idle timeout is a backstop.
      idleTimeout: 0,
      sendPingsAutomatically: false,
      compression: uWS.DISABLED,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.opened(ws),
      message: (ws, message) => this.received(ws, message),
      pong: (ws) => {
        ws.getUserData().connection.lastSeenAt = this.now();
      },
      close: (ws, code, message) => {
        // uWebSockets.js fails a connection whose text frame is not UTF-8 itself, before our
        // message handler runs and without a close frame (RFC 6455 7.1.7 allows that): the
        // client sees 1006. We can only count and log it.
        const reason = Buffer.from(message).toString();
        if (code === 1006 && reason === 'Received invalid UTF-8') {
          this.deps.metrics.clientsClosed.inc({ reason: 'invalid_utf8' });
          this.deps.log.info({ session: ws.getUserData().connection.session }, 'connection failed: a text frame was not valid UTF-8');
        }
        this.closed(ws, code, reason);
      },
    });
    addTokenCheckRoute(this.app, this.deps.keys, this.deps.verify, this.deps.log);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), config.heartbeatIntervalSecs * 1000);
    this.heartbeatTimer.unref();
    // Joined connections are re-checked often enough that a revocation takes effect within
    // about the cache TTL; between cache expiries a pass costs only in-memory lookups.
    const accessCheckMs = Math.max(1000, Math.min(10_000, (config.permissionCacheTtlSecs * 1000) / 4));
    this.accessTimer = setInterval(() => void this.guard.recheckAccess(), accessCheckMs);
    this.accessTimer.unref();
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  /**
   * Refusals answer at once; a token whose key is held is verified synchronously and the
   * socket upgraded here, inside uWS's upgrade handler, before it returns: uWS has the socket
   * corked and notices the upgrade itself. Only a token whose key must be fetched first (an
   * unknown `kid`: key rotation), or whose signature is checked off the event loop during a
   * flood of forged tokens (SignatureBudget), upgrades later, inside `res.cork()`; there this uWebSockets.js
   * build (20.30) can still close the new WebSocket at once (1006): when the upgrade's realloc
   * keeps the socket's address, cork() misses the upgrade and reads the HTTP state from memory
   * that is now the WebSocket (uNetworking/uWebSockets#1928, fixed upstream after this build).
   * Uncorked, this build warns on every write, so that rare path keeps the cork.
   */
  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const request = readUpgradeRequest(res, req);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const refuse = (status: number, error: string, message: string) => {
      if (!aborted) sendJson(res, status, { error, message });
    };
    if (!this.accepting) {
      refuse(503, 'unavailable', 'the relay is shutting down; reconnect to another replica');
      return;
    }
    if (this.connections.size + this.upgrading >= this.deps.config.maxConnections) {
      this.deps.metrics.clientsClosed.inc({ reason: 'max_connections' });
      refuse(503, 'unavailable', 'this relay is at its connection limit');
      return;
    }
    if (request.offeredProtocols && request.protocol === '') {
      refuse(400, 'bad_request', 'offer the relay.v1 subprotocol');
      return;
    }
    if (!request.token) {
      refuse(401, 'unauthorized', 'a token is required (bearer.<jwt> subprotocol entry or access_token query parameter)');
      return;
    }
    const refuseToken = (err: unknown) => {
      const reason = err instanceof AuthError ? err.reason : 'verification failed';
      this.deps.log.info({ reason, remote: request.remoteAddress }, 'upgrade refused: bad token');
      refuse(401, 'unauthorized', reason);
    };
    let verification: Verification;
    try {
      verification = verifyTokenNow(request.token, this.deps.keys, this.deps.verify, this.signatureBudget);
    } catch (err) {
      refuseToken(err);
      return;
    }
    const upgrade = (connection: Connection) => res.upgrade<SocketData>({ connection }, request.key, request.protocol, request.extensions, context);
    if ('principal' in verification) {
      this.admit(verification.principal, res, upgrade);
      return;
    }
    // Verifications in flight count too: a burst of upgrades must not overshoot the limit
    // while their keys are fetched or their signatures checked off the event loop.
    this.upgrading++;
    verification.pending.then(
      (principal) => {
        this.upgrading--;
        if (aborted) return;
        if (!this.accepting || this.connections.size + this.upgrading >= this.deps.config.maxConnections) {
          this.deps.metrics.clientsClosed.inc({ reason: 'max_connections' });
          refuse(503, 'unavailable', 'this relay cannot take the connection now');
          return;
        }
        res.cork(() => this.admit(principal, res, upgrade));
      },
      (err: unknown) => {
        this.upgrading--;
        refuseToken(err);
      },
    );
  }

  /** Upgrades a verified client, unless its user is cooling down after a flood (429). */
  private admit(principal: Principal, res: uWS.HttpResponse, upgrade: (connection: Connection) => void): void {
    const now = this.now();
    const coolingMs = this.userBudgets.coolingDown(principal.userId, now);
    if (coolingMs > 0) {
      this.deps.metrics.clientsClosed.inc({ reason: 'flood_cooldown' });
      sendJson(res, 429, { error: 'rate_limited', message: 'closed for flooding; wait before reconnecting' }, { 'retry-after': String(Math.ceil(coolingMs / 1000)) });
      return;
    }
    const { config } = this.deps;
    const limits = { messagesPerSec: config.rateLimitPerSec, messageBurst: config.rateLimitBurst, bytesPerSec: config.rateLimitBytesPerSec, bytesBurst: config.rateLimitBytesBurst };
    const rate = new RateLimiter(limits, now, this.userBudgets.acquire(principal.userId, now));
    upgrade(new Connection(randomUUID(), principal, userInfoFrom(principal), now, rate, (c) => this.slowConsumer(c)));
  }

  private opened(ws: uWS.WebSocket<SocketData>): void {
    const connection = ws.getUserData().connection;
    connection.attach(ws, this.app);
    this.connections.add(connection);
    this.deps.metrics.connectionsActive.set(this.connections.size);
    const { config } = this.deps;
    connection.handshakeTimer = setTimeout(() => {
      connection.handshakeTimer = undefined;
      this.deps.metrics.clientsClosed.inc({ reason: 'handshake_timeout' });
      connection.close(CloseCode.handshakeTimeout, 'no join within the handshake timeout');
    }, config.handshakeTimeoutSecs * 1000);
    this.guard.scheduleExpiry(connection);
    this.deps.log.debug({ session: connection.session, user: connection.principal.userId }, 'client connected');
    connection.send({
      type: 'hello',
      protocol: 1,
      session: connection.session,
      user: connection.user,
      limits: {
        maxOps: config.operationBatchSize,
        maxMessageBytes: config.maxMessageBytes,
        cursorThrottleMs: config.cursorThrottleMs,
        heartbeatIntervalSecs: config.heartbeatIntervalSecs,
      },
      features: ['join_content', 'packed_join'],
    });
  }

  private closed(ws: uWS.WebSocket<SocketData>, code: number, reason: string): void {
    const connection = ws.getUserData().connection;
    connection.detach();
    connection.clearTimers();
    this.connections.delete(connection);
    this.userBudgets.release(connection.principal.userId, this.now());
    this.deps.metrics.connectionsActive.set(this.connections.size);
    // The close code and reason as uWS reports them (ours, the client's, or 1006 when the TCP
    // connection ended without a close frame): what tells a client's leaving from a failure.
    this.deps.log.debug({ session: connection.session, user: connection.principal.userId, docs: connection.docs.size, code, reason }, 'client disconnected');
    for (const docId of [...connection.docs.keys()]) this.leave(connection, docId, false);
  }

  private slowConsumer(connection: Connection): void {
    this.deps.metrics.clientsClosed.inc({ reason: 'slow_consumer' });
    this.deps.log.info({ session: connection.session }, 'closing a client that cannot keep up');
    connection.close(CloseCode.slowConsumer, 'too slow to keep up; reconnect and resume');
  }

  private rateLimited(connection: Connection, decision: 'limited' | 'close'): void {
    const { config } = this.deps;
    const budget = connection.rate.exceeded;
    if (decision === 'close') {
      this.deps.metrics.clientsClosed.inc({ reason: 'rate_limited' });
      const cooldownMs = this.userBudgets.flooded(connection.principal.userId, this.now());
      this.deps.log.info({ session: connection.session, user: connection.principal.userId, budget, cooldown_ms: cooldownMs }, 'closing a client that floods messages');
      connection.close(CloseCode.rateLimited, budget === 'bytes' ? 'byte rate limit exceeded' : 'message rate limit exceeded');
      return;
    }
    if (connection.rate.firstDrop) {
      this.deps.log.info({ session: connection.session, user: connection.principal.userId, budget }, 'rate limit reached: dropping messages');
      const limit = budget === 'bytes' ? `${config.rateLimitBytesPerSec} bytes` : `${config.rateLimitPerSec} messages`;
      connection.send({
        type: 'error',
        code: ErrorCode.rateLimited,
        message: `more than ${limit} per second: messages are dropped until the rate falls; resend anything unacknowledged`,
      });
    }
  }

  private heartbeat(): void {
    const deadline = this.now() - this.deps.config.heartbeatTimeoutSecs * 1000;
    for (const connection of this.connections) {
      if (connection.lastSeenAt < deadline) {
        this.deps.metrics.clientsClosed.inc({ reason: 'heartbeat_timeout' });
        connection.close(CloseCode.heartbeatTimeout, 'no heartbeat');
      } else {
        connection.ws?.ping();
      }
    }
  }

  // ---- messages ------------------------------------------------------------------------------

  private received(ws: uWS.WebSocket<SocketData>, data: ArrayBuffer): void {
    const connection = ws.getUserData().connection;
    connection.lastSeenAt = this.now();
    if (data.byteLength > this.deps.config.maxMessageBytes) {
      this.deps.metrics.clientsClosed.inc({ reason: 'message_too_big' });
      connection.close(CloseCode.messageTooBig, `frames are limited to ${this.deps.config.maxMessageBytes} bytes`);
      return;
    }
    // Bytes before decoding: a flood should cost as little as possible.
    const now = this.now();
    const bytes = connection.rate.takeBytes(data.byteLength, now);
    if (bytes !== 'ok') {
      this.rateLimited(connection, bytes);
      return;
    }
    const decoded = decodeClientMessage(Buffer.from(data).toString('utf8'));
    if (decoded.ok && this.withinFlowControl(connection, decoded.message)) {
      connection.rate.passed();
    } else {
      const counted = connection.rate.takeMessage(now, data.byteLength);
      if (counted !== 'ok') {
        this.rateLimited(connection, counted);
        return;
      }
    }
    if (!decoded.ok) {
      connection.send({ type: 'error', code: decoded.code, message: decoded.message, ...(decoded.ref ? { ref: decoded.ref } : {}), ...(decoded.doc ? { doc: decoded.doc } : {}) });
      return;
    }
    this.dispatch(connection, decoded.message);
  }

  /**
   * A change to a joined document with none of this connection's changes to it in flight: the
   * protocol's own flow control (one change per round trip) limits these, so they cost only
   * bytes, not messages. A second change sent before the first was answered counts.
   */
  private withinFlowControl(connection: Connection, message: ClientMessage): boolean {
    if (message.type !== 'change') return false;
    const joined = connection.docs.get(message.doc);
    return joined !== undefined && joined.changesInFlight === 0;
  }

  private dispatch(connection: Connection, message: ClientMessage): void {
    switch (message.type) {
      case 'join':
        this.startJoin(connection, message);
        return;
      case 'leave':
        if (connection.docs.has(message.doc)) {
          this.leave(connection, message.doc, true);
          connection.send({ type: 'left', doc: message.doc });
        } else {
          connection.send({ type: 'error', code: ErrorCode.notJoined, message: 'this connection has not joined that document', doc: message.doc, ref: 'leave' });
        }
        return;
      case 'change':
        this.onChangeMessage(connection, message);
        return;
      case 'presence':
        this.presenceRelay.received(connection, message);
        return;
      case 'auth':
        void this.guard.reauthenticate(connection, message.token);
        return;
      case 'ping':
        connection.send(message.id === undefined ? { type: 'pong' } : { type: 'pong', id: message.id });
        return;
    }
  }

  /**
   * Joins (or rejoins) a document: role first, then the engine, then what the client missed,
   * then, in one synchronous step, the reply and the topic subscription.
   */
  private async join(connection: Connection, message: JoinMessage, wasJoined = false): Promise<void> {
    const docId = message.doc;
    if (!this.mayStartJoining(connection, docId)) return;
    const rejoin = wasJoined || connection.docs.has(docId);
    if (connection.docs.has(docId)) this.leave(connection, docId, true);
    const refuse = joinRefusal(connection, docId, rejoin);
    connection.joining.add(docId);
    // The role is known before the document is loaded: without one, nothing of the document
    // (not even whether it exists) reaches the client.
    const role = await this.roleForJoin(connection, docId, refuse);
    if (!role) return;
    if (!connection.open) {
      connection.joining.delete(docId);
      return;
    }
    const engine = await this.engineForJoin(connection, docId, refuse);
    if (!engine) return;
    await this.mergeRemotePresence(engine, docId);
    // A rejoin whose missed changes outweigh the content gets the content, if the client takes it.
    const from = message.acceptContent === true && message.rev !== undefined && engine.prefersContent(message.rev) ? undefined : message.rev;
    let missed = from === undefined ? undefined : await this.readMissedChanges(engine, from, docId);
    connection.joining.delete(docId);
    if (!connection.open) {
      this.registry.release(docId);
      return;
    }
    if (from !== undefined && missed === undefined) {
      this.registry.release(docId);
      const ahead = from > engine.headRev;
      refuse(
        ahead ? ErrorCode.badClock : ErrorCode.unavailable,
        ahead ? `clock claims revision ${from} but the document is at ${engine.headRev}` : 'missed changes could not be read; try again',
      );
      return;
    }
    // From here on everything is synchronous: the reply and the topic subscription describe
    // the same revision, so the client neither misses nor repeats a change.
    if (missed) {
      const caughtUp = catchUp(engine, missed, from ?? 0);
      if (!caughtUp) {
        this.registry.release(docId);
        this.startJoin(connection, message, rejoin);
        return;
      }
      missed = caughtUp;
    }
    const reply = missed ?? (message.packed === true ? engine.packedJoinBase() : undefined) ?? 'content';
    if (!this.contentBuilds(engine, docId, reply === 'content')) {
      this.registry.release(docId);
      refuse(ErrorCode.unavailable, 'the document could not be loaded; try again');
      return;
    }
    this.enterDocument(connection, docId, engine, role, reply);
  }

  /** Refuses a join the relay or the connection cannot take now; true when it may go on. */
  private mayStartJoining(connection: Connection, docId: string): boolean {
    if (!this.accepting) {
      connection.send({ type: 'error', code: ErrorCode.unavailable, message: 'the relay is shutting down; reconnect', doc: docId, ref: 'join' });
      return false;
    }
    if (connection.joining.has(docId)) return false;
    if (connection.docs.size + connection.joining.size >= MAX_DOCUMENTS_PER_CONNECTION && !connection.docs.has(docId)) {
      connection.send({ type: 'error', code: ErrorCode.tooManyDocuments, message: `at most ${MAX_DOCUMENTS_PER_CONNECTION} documents per connection`, doc: docId, ref: 'join' });
      return false;
    }
    return true;
  }

  /** The user's role on the document; undefined (the join refused and ended) without one. */
  private async roleForJoin(connection: Connection, docId: string, refuse: JoinRefusal): Promise<Role | undefined> {
    let role: Role | undefined;
    try {
      role = await this.deps.access.effectiveRole(docId, connection.principal.userId);
    } catch (err) {
      connection.joining.delete(docId);
      this.deps.log.warn({ err, doc: docId }, 'permission lookup failed');
      refuse(ErrorCode.unavailable, 'permissions could not be checked; try again');
      return undefined;
    }
    if (!role) {
      connection.joining.delete(docId);
      refuse(ErrorCode.forbidden, 'you have no role on this document');
    }
    return role;
  }

  /** The document's engine, loaded if need be; undefined (the join refused and ended) if it cannot be. */
  private async engineForJoin(connection: Connection, docId: string, refuse: JoinRefusal): Promise<DocumentEngine | undefined> {
    try {
      return await this.registry.acquire(docId);
    } catch (err) {
      connection.joining.delete(docId);
      this.deps.log.warn({ err, doc: docId }, 'loading a document failed');
      refuse(ErrorCode.unavailable, 'the document could not be loaded; try again');
      return undefined;
    }
  }

  /**
   * False when the document's content cannot be built from its snapshot and log (a damaged
   * database; logged): built now when the reply needs it, else only a failed build counts
   * (a packed first join is answered before the tree is built).
   */
  private contentBuilds(engine: DocumentEngine, docId: string, needed: boolean): boolean {
    const problem = needed ? engine.buildContentNow() : engine.brokenBecause;
    if (problem) this.deps.log.error({ doc: docId, reason: problem.message }, 'a document could not be built from its snapshot and log');
    return problem === undefined;
  }

  /** Runs a join; one that throws (a defect) is logged and the client told (joinFailed). */
  private startJoin(connection: Connection, message: JoinMessage, wasJoined = false): void {
    this.join(connection, message, wasJoined).catch((err: unknown) => this.joinFailed(connection, message.doc, err));
  }

  /** A join that threw (a defect): the client is told, and the joining mark is cleared. */
  private joinFailed(connection: Connection, docId: string, err: unknown): void {
    this.deps.log.error({ err, doc: docId, session: connection.session }, 'joining a document failed');
    connection.joining.delete(docId);
    if (connection.docs.has(docId) || !connection.open) return;
    connection.send({ type: 'error', code: ErrorCode.internal, message: 'the join failed; try again', doc: docId, ref: 'join' });
  }

  /** Adds the presence of other replicas' clients; without it the join goes on, showing only this replica's. */
  private async mergeRemotePresence(engine: DocumentEngine, docId: string): Promise<void> {
    try {
      await this.presenceRelay.mergeStored(engine, await this.deps.bus.presenceOf(docId));
    } catch (err) {
      this.deps.log.warn({ err, doc: docId }, 'could not read presence of other replicas');
    }
  }

  /** The changes after revision `from`; undefined when they could not be read. */
  private async readMissedChanges(engine: DocumentEngine, from: number, docId: string): Promise<CommittedChange[] | undefined> {
    try {
      return await engine.changesSince(from);
    } catch (err) {
      this.deps.log.warn({ err, doc: docId }, 'reading missed changes failed');
      return undefined;
    }
  }

  /**
   * Records the join, subscribes the socket to the document and sends `joined` (the missed
   * changes, or the content, or the packed snapshot and the changes since when the client takes
   * that and it is smaller) with everyone's presence, all in one cork.
   */
  private enterDocument(connection: Connection, docId: string, engine: DocumentEngine, role: Role, reply: CommittedChange[] | JoinBase | 'content'): void {
    const joined: JoinedDocument = { engine, role, pendingPresence: undefined, lastPresenceAt: 0, presenceTimer: undefined, typingTimer: undefined, changesInFlight: 0 };
    connection.docs.set(docId, joined);
    if (connection.handshakeTimer) {
      clearTimeout(connection.handshakeTimer);
      connection.handshakeTimer = undefined;
    }
    const ws = connection.ws;
    if (!ws) return;
    const missed = Array.isArray(reply) ? reply : undefined;
    const packed = reply instanceof JoinBase ? reply : undefined;
    this.deps.log.debug({ session: connection.session, user: connection.principal.userId, doc: docId, role: joined.role, rev: engine.headRev, replay: missed?.length, snapshot: packed?.rev }, 'joined a document');
    ws.cork(() => {
      ws.subscribe(topicOf(docId));
      const presence = this.presenceRelay.announce(ws, connection, docId, engine);
      const frame = { type: 'joined', doc: docId, rev: engine.headRev, role: joined.role, presence } as const;
      let bytes: number;
      if (missed) {
        bytes = connection.send({ ...frame, changes: missed.map(changeToWire) });
      } else if (packed) {
        // The snapshot's JSON is kept per snapshot (JoinBase): spliced in, not re-serialized.
        const text = `${JSON.stringify({ ...frame, changes: packed.changes.map(changeToWire) }).slice(0, -1)},"snapshot":${packed.snapshotJson}}`;
        connection.sendRaw(text);
        bytes = text.length;
      } else {
        // The content's JSON is kept per revision by the engine: spliced in, not re-serialized.
        const text = `${JSON.stringify(frame).slice(0, -1)},"content":${engine.stateJson}}`;
        connection.sendRaw(text);
        bytes = text.length;
      }
      connection.rate.charge(bytes, Date.now());
    });
    // A cold load leaves the tree to build (DeferredContent): now that the frame is out.
    engine.buildContentSoon();
  }

  private leave(connection: Connection, docId: string, stillOpen: boolean): void {
    const joined = connection.docs.get(docId);
    if (!joined) return;
    this.deps.log.debug({ session: connection.session, user: connection.principal.userId, doc: docId }, 'left a document');
    this.presenceRelay.withdraw(connection, docId, joined.engine);
    connection.docs.delete(docId);
    if (stillOpen) connection.ws?.unsubscribe(topicOf(docId));
    this.registry.release(docId);
  }

  private onChangeMessage(connection: Connection, message: ChangeMessage): void {
    const joined = connection.docs.get(message.doc);
    if (!joined) {
      connection.send({ type: 'error', code: ErrorCode.notJoined, message: 'join the document before sending changes', doc: message.doc, seq: message.clock.seq, ref: 'change' });
      return;
    }
    const receivedAt = performance.now();
    const { metrics } = this.deps;
    const countOps = (status: 'success' | 'error') => {
      for (const op of message.ops) metrics.operationsProcessed.inc({ operation_type: op.type, status });
      if (message.ops.length === 0) metrics.operationsProcessed.inc({ operation_type: 'none', status });
    };
    if (!atLeast(joined.role, 'editor')) {
      countOps('error');
      connection.send({ type: 'error', code: ErrorCode.forbidden, message: `a ${joined.role} cannot change this document`, doc: message.doc, seq: message.clock.seq, ref: 'change' });
      return;
    }
    joined.changesInFlight++;
    let answered = false;
    const settle = () => {
      if (answered) return;
      answered = true;
      joined.changesInFlight--;
    };
    const origin: SubmitOrigin = {
      publishAsAuthor: (docId, text) => {
        const ws = connection.ws;
        if (!ws || !connection.open || !connection.docs.has(docId)) return false;
        ws.cork(() => ws.publish(topicOf(docId), text, false, false));
        return true;
      },
      acked: (ack, duplicate) => {
        settle();
        if (!duplicate) {
          countOps('success');
          metrics.operationLatency.observe((performance.now() - receivedAt) / 1000);
        }
        connection.sendInOrder({ type: 'ack', doc: message.doc, seq: ack.seq, rev: ack.rev, count: ack.count });
      },
      rejected: (error: EngineError) => {
        settle();
        countOps('error');
        connection.send({ type: 'error', code: error.code, message: error.message, doc: message.doc, seq: message.clock.seq, ref: 'change' });
      },
    };
    this.deps.ownership.submit(
      joined.engine,
      { actor: message.clock.actor, seq: message.clock.seq, baseRev: message.clock.rev, ops: message.ops, userId: connection.principal.userId },
      origin,
    );
  }

  // ---- shutdown ------------------------------------------------------------------------------

  /**
   * Stops accepting, tells every client to reconnect elsewhere after a random delay, waits
   * for them to go (up to the drain time) while their in-flight changes commit, then closes
   * the rest.
   */
  async shutdown(drainMs: number): Promise<void> {
    this.accepting = false;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.accessTimer) clearInterval(this.accessTimer);
    const { reconnectMinDelayMs, reconnectMaxDelayMs } = this.deps.config;
    for (const connection of this.connections) {
      connection.send({ type: 'shutdown', reconnect_after_ms: randomInt(reconnectMinDelayMs, reconnectMaxDelayMs + 1) });
    }
    const deadline = this.now() + drainMs;
    while (this.connections.size > 0 && this.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await this.registry.drain(Math.max(1000, deadline - this.now()));
    for (const connection of [...this.connections]) connection.close(CloseCode.serviceRestart, 'relay restarting; reconnect');
    // Give uWS a moment to flush the close frames.
    await new Promise((r) => setTimeout(r, 50));
  }
}

type JoinRefusal = (code: ErrorCode, text: string) => void;

/**
 * Refuses a join with an error. A refused rejoin has left the document: the client is told
 * so, after the error, and receives nothing more of it until it joins again.
 */
function joinRefusal(connection: Connection, docId: string, rejoin: boolean): JoinRefusal {
  return (code, text) => {
    connection.send({ type: 'error', code, message: text, doc: docId, ref: 'join' });
    if (rejoin) connection.send({ type: 'left', doc: docId, reason: 'rejoin_refused' });
  };
}

/**
 * `missed` (read from the store up to some revision) followed by the changes committed since,
 * from the engine's in-memory window; undefined when the window no longer reaches back that far.
 */
function catchUp(engine: DocumentEngine, missed: CommittedChange[], from: number): CommittedChange[] | undefined {
  // Changes committed after the read resolved are in the in-memory window.
  const last = missed[missed.length - 1];
  const end = last ? last.rev + last.ops.length : from;
  const more = end === engine.headRev ? [] : engine.committedSince(end);
  if (!more) return undefined;
  return [...missed, ...more];
}
