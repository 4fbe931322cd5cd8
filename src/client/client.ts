import { CloseCode, PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../protocol/codes.js';
import { DEFAULT_HELLO_LIMITS, UUID_PATTERN } from '../protocol/limits.js';
import type { ClientMessage, HelloLimits, ServerMessage, UserInfo } from '../protocol/wire.js';
import { DocumentSession, type DocumentTransport } from './document.js';
import { Emitter } from './emitter.js';
import { silentLogger, type Logger } from './logger.js';
import { Backoff, fullJitter } from '../backoff.js';
import { NetworkWatch } from './network-watch.js';
import { UnauthorizedError, type ClientStatus, type ConnectionState } from './status.js';
import { httpTokenChecker, tokenCheckUrl, type TokenChecker } from './token-check.js';
import { refreshDelayMs, tokenExpiry } from './token.js';

/** The part of the WHATWG WebSocket the client uses: browsers' WebSocket and the `ws` package fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

export interface RelayClientOptions {
  /** `wss://relay.example.com/collab` */
  readonly url: string;
  /** Called for every connection and refresh: return a current token for the user. */
  readonly token: () => string | Promise<string>;
  /** Defaults to globalThis.WebSocket; in Node 20 pass the `ws` package's WebSocket. */
  readonly WebSocket?: WebSocketConstructor;
  /** This client session's actor id (a UUID); made once per RelayClient by default. */
  readonly actor?: string;
  /**
   * Exponential backoff with full jitter: the n-th retry in a row waits a uniform random time
   * in [0, min(maxDelayMs, minDelayMs · 2^n)] (defaults 500 and 30000).
   */
  readonly reconnect?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
  /**
   * How a socket that closed before opening is told apart from a network failure (browsers
   * hide the HTTP status of a refused upgrade). Default: GET `<url>/check-token`; false: never
   * check (a refused token is then retried like a network failure).
   */
  readonly tokenCheck?: TokenChecker | false;
  /** Give up on a connection attempt that has no `hello` after this long (default 15000). */
  readonly connectTimeoutMs?: number;
  /** Defaults to silence; `console` works. Tokens are never logged. */
  readonly logger?: Logger;
}

export interface ClientEvents {
  /** Connected and greeted by a relay. */
  connected: (info: { session: string; user: UserInfo }) => void;
  /** The connection went; `reconnectInMs` is undefined after close(). */
  disconnected: (info: { code: number; reason: string; reconnectInMs: number | undefined }) => void;
  /** Something failed that the client handles itself (a token fetch, a socket error). */
  warning: (message: string) => void;
  /** The connection state or the number of pending edits changed. */
  status: (status: ClientStatus) => void;
  /** The relay refused the token: the client stops retrying until `reconnect()`. */
  unauthorized: (info: { reason: string }) => void;
}

const OPEN = 1;
const MIN_REFRESH_DELAY_MS = 5_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A connection that lasted this long was a success: the next failure backs off from the start. */
const STABLE_CONNECTION_MS = 10_000;

/**
 * A connection to a relay carrying any number of documents. It reconnects by itself after a
 * random delay, rejoins every open document from its revision, and resends the change each
 * had in flight (the relay applies it exactly once).
 */
export class RelayClient extends Emitter<ClientEvents> {
  readonly actor: string;
  private socket: WebSocketLike | undefined;
  private readonly documents = new Map<string, DocumentSession>();
  /** Optional protocol additions the relay announced in `hello`. */
  private features: readonly string[] = [];
  /** The relay's defaults until its `hello` says otherwise. */
  private limits: HelloLimits = DEFAULT_HELLO_LIMITS;
  private greeted = false;
  private closedByUser = false;
  private draining: { reconnectAfterMs: number } | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private lastFrameAt = 0;
  private connecting: Promise<void> | undefined;
  private session: string | undefined;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private readonly network: NetworkWatch;
  private readonly tokenChecker: TokenChecker | undefined;
  private connectionState: ConnectionState = { state: 'connecting' };
  private lastEmitted = '';
  /** Whether the current socket ever opened, and with which token: a refusal is checked only before. */
  private socketOpened = false;
  private socketToken: string | undefined;
  private connectedAt: number | undefined;

  constructor(private readonly options: RelayClientOptions) {
    super();
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. the `ws` package in Node)');
    this.WebSocketImpl = impl;
    this.actor = options.actor ?? globalThis.crypto.randomUUID();
    if (!UUID_PATTERN.test(this.actor)) throw new TypeError('options.actor must be a UUID');
    this.minDelayMs = options.reconnect?.minDelayMs ?? 500;
    this.maxDelayMs = Math.max(this.minDelayMs, options.reconnect?.maxDelayMs ?? 30_000);
    this.logger = options.logger ?? silentLogger;
    this.backoff = new Backoff(this.minDelayMs, this.maxDelayMs);
    const checkUrl = tokenCheckUrl(options.url);
    this.tokenChecker = options.tokenCheck === false ? undefined : (options.tokenCheck ?? (checkUrl ? httpTokenChecker(checkUrl) : undefined));
    this.network = new NetworkWatch({ online: () => this.onOnline(), offline: () => this.onOffline() });
  }

  /** What to show the user: the connection state and the local edits not yet acknowledged. */
  get status(): ClientStatus {
    let pending = 0;
    for (const doc of this.documents.values()) pending += doc.pendingEdits;
    return { ...this.connectionState, pending };
  }

  /** True while a relay connection is up and greeted. */
  get connected(): boolean {
    return this.greeted && this.socket?.readyState === OPEN;
  }

  /** The relay's session id of the current connection. */
  get sessionId(): string | undefined {
    return this.session;
  }

  /**
   * Opens (joins) a document; resolves once its content is here. Rejects when the relay
   * refuses (`forbidden`, `too_many_documents`); temporary failures are retried.
   */
  async open(documentId: string): Promise<DocumentSession> {
    if (this.closedByUser) throw new Error('the client is closed');
    if (this.connectionState.state === 'unauthorized') throw new UnauthorizedError(this.connectionState.reason);
    if (!UUID_PATTERN.test(documentId)) throw new TypeError(`document ids are UUIDs, got "${documentId.slice(0, 40)}"`);
    // The relay answers in lower case; the same spelling keeps the routing of its replies simple.
    const docId = documentId.toLowerCase();
    let doc = this.documents.get(docId);
    if (!doc) {
      const created = new DocumentSession(docId, this.actor, this.transport());
      this.documents.set(docId, created);
      created.on('closed', () => {
        if (this.documents.get(docId) === created) this.documents.delete(docId);
        this.emitStatus();
      });
      created.on('pending', () => this.emitStatus());
      if (this.connected) this.send(created.joinMessage());
      doc = created;
    }
    void this.ensureConnected();
    await doc.waitJoined();
    return doc;
  }

  /** Leaves a document, like its handle's close() (pending edits are dropped: await whenSynced() first to keep them). */
  leave(docId: string): void {
    this.documents.get(docId.toLowerCase())?.close();
  }

  /** Closes the connection for good. */
  close(): void {
    this.closedByUser = true;
    this.network.dispose();
    this.clearTimers();
    for (const doc of [...this.documents.values()]) doc.close();
    this.documents.clear();
    this.socket?.close(CloseCode.normal, 'client closed');
    this.setState({ state: 'closed' });
  }

  /**
   * Connects now instead of waiting for the next retry: for a "reconnect now" button, and after
   * `unauthorized` once the user has logged in again (the token provider must then return a
   * good token).
   */
  reconnect(): void {
    if (this.closedByUser) return;
    if (this.connectionState.state === 'unauthorized') this.setState({ state: 'connecting' });
    this.backoff.reset();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    void this.ensureConnected();
  }

  /** For tests and "reconnect now" buttons: drops the connection as a network failure would. */
  dropConnection(): void {
    this.dropSocket('dropped by the client');
  }

  // ---- connection --------------------------------------------------------------------------

  private transport(): DocumentTransport {
    // Getters, so documents always see the current connection and limits.
    const client = this;
    return {
      send: (message) => client.send(message),
      get connected() {
        return client.connected && !client.draining;
      },
      get maxOps() {
        return client.limits.maxOps;
      },
      get maxMessageBytes() {
        return client.limits.maxMessageBytes;
      },
      get cursorThrottleMs() {
        return client.limits.cursorThrottleMs;
      },
      get joinContent() {
        return client.features.includes('join_content');
      },
      get packedJoin() {
        return client.features.includes('packed_join');
      },
      retryDelayMs: () => fullJitter(Math.min(client.maxDelayMs, client.minDelayMs * 4)),
      reconnect: (reason) => client.dropSocket(reason),
      logger: client.logger,
    };
  }

  /** Closes the current socket; onClose then schedules the reconnect. */
  private dropSocket(reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.logger.info('dropping the connection to reconnect', { reason });
    socket.close(4000, reason.slice(0, 120));
  }

  private send(message: ClientMessage): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  private ensureConnected(): Promise<void> {
    if (this.closedByUser || this.socket || this.reconnectTimer || this.connectionState.state === 'unauthorized') return Promise.resolve();
    if (!this.network.online) {
      this.setState({ state: 'offline' });
      return Promise.resolve();
    }
    if (!this.connecting) this.setState({ state: 'connecting' });
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    let token: string;
    try {
      token = await this.options.token();
    } catch (err) {
      this.warn(`token provider failed: ${err instanceof Error ? err.message : String(err)}`);
      this.scheduleReconnect(this.backoff.next());
      return;
    }
    if (this.closedByUser || this.connectionState.state === 'unauthorized') return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.options.url, [PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`]);
    } catch (err) {
      this.warn(`cannot open a WebSocket: ${err instanceof Error ? err.message : String(err)}`);
      this.scheduleReconnect(this.backoff.next());
      return;
    }
    this.socket = socket;
    this.greeted = false;
    this.draining = undefined;
    this.socketOpened = false;
    this.socketToken = token;
    socket.onopen = () => {
      if (socket === this.socket) this.socketOpened = true;
    };
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    socket.onerror = () => undefined; // a close event follows
    socket.onclose = (event) => this.onClose(socket, event.code, event.reason);
    // A handshake into a black hole never fails by itself; without this we would wait forever.
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      if (this.socket === socket && !this.greeted) this.abandon(socket, 'no hello from the relay in time');
    }, this.options.connectTimeoutMs ?? 15_000);
    this.scheduleRefresh(token);
  }

  /**
   * Gives up on a socket that is stuck: its close event may take long or never come (a dead
   * TCP peer), so the reconnect does not wait for it.
   */
  private abandon(socket: WebSocketLike, reason: string): void {
    this.warn(reason);
    socket.onclose = null;
    try {
      socket.close(4000, reason);
    } catch {
      // Closing a socket that is still connecting may throw in some implementations; it is abandoned anyway.
    }
    this.onClose(socket, 1006, reason);
  }

  private warn(message: string): void {
    this.logger.warn(message);
    this.emit('warning', message);
  }

  private onMessage(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
    let message: ServerMessage;
    try {
      message = JSON.parse(text) as ServerMessage;
    } catch {
      this.warn('the relay sent a frame that is not JSON');
      return;
    }
    switch (message.type) {
      case 'hello':
        this.greeted = true;
        if (this.connectTimer) clearTimeout(this.connectTimer);
        this.connectTimer = undefined;
        this.session = message.session;
        this.limits = message.limits;
        this.features = message.features ?? [];
        this.logger.info('connected to the relay', { session: message.session });
        this.connectedAt = Date.now();
        this.setState({ state: 'connected' });
        this.startPings(socket);
        this.emit('connected', { session: message.session, user: message.user });
        for (const doc of this.documents.values()) this.send(doc.joinMessage());
        return;
      case 'shutdown':
        // Finish what is in flight, then leave for another replica after the advised delay.
        this.draining = { reconnectAfterMs: message.reconnect_after_ms };
        this.closeWhenIdle(socket);
        return;
      case 'auth_ok':
      case 'pong':
        return;
      case 'error':
        if (message.doc === undefined) {
          if (message.code === 'rate_limited') {
            // The relay dropped frames without saying which: any change in flight may be lost.
            this.warn(`rate limited: ${message.message}`);
            for (const doc of this.documents.values()) doc.rateLimited();
          } else {
            this.warn(message.ref === 'auth' ? `token refresh refused: ${message.message}` : `${message.code}: ${message.message}`);
          }
          return;
        }
        break;
      default:
        break;
    }
    if ('doc' in message && typeof message.doc === 'string') {
      this.documents.get(message.doc)?.handle(message);
      if ((message.type === 'ack' || message.type === 'error') && this.draining && socket === this.socket) this.closeWhenIdle(socket);
    }
  }

  /** Only changes in flight are waited for; buffered edits are sent to the next relay. */
  private closeWhenIdle(socket: WebSocketLike): void {
    if ([...this.documents.values()].some((d) => d.joined && d.changeInFlight)) return;
    socket.close(CloseCode.normal, 'moving to another relay');
  }

  private onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.greeted = false;
    this.stopPings();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.refreshTimer = undefined;
    this.connectTimer = undefined;
    for (const doc of this.documents.values()) doc.connectionLost();
    if (this.connectedAt !== undefined && Date.now() - this.connectedAt >= STABLE_CONNECTION_MS) this.backoff.reset();
    this.connectedAt = undefined;
    if (this.closedByUser || !this.network.online) {
      this.emit('disconnected', { code, reason, reconnectInMs: undefined });
      if (!this.closedByUser) this.setState({ state: 'offline' });
      return;
    }
    const refusedToken = !this.socketOpened ? this.socketToken : undefined;
    if (refusedToken !== undefined && this.tokenChecker) {
      void this.checkRefusal(refusedToken, code, reason);
      return;
    }
    this.reconnectAfterClose(code, reason);
  }

  /** The socket never opened: was it the token? A 401 from the check ends the retries. */
  private async checkRefusal(token: string, code: number, reason: string): Promise<void> {
    const verdict = this.tokenChecker ? await this.tokenChecker(token) : { valid: undefined };
    if (this.closedByUser || this.socket) return;
    if (verdict.valid === false) {
      this.logger.warn('the relay refused the token', { reason: verdict.reason });
      this.emit('disconnected', { code, reason, reconnectInMs: undefined });
      this.setState({ state: 'unauthorized', reason: verdict.reason });
      const error = new UnauthorizedError(verdict.reason);
      for (const doc of this.documents.values()) doc.failJoin(error);
      this.emit('unauthorized', { reason: verdict.reason });
      return;
    }
    this.reconnectAfterClose(code, reason);
  }

  private reconnectAfterClose(code: number, reason: string): void {
    let delay: number;
    if (this.draining) delay = this.draining.reconnectAfterMs;
    else if (code === CloseCode.tokenExpired) delay = Math.min(this.minDelayMs, 1000);
    else delay = this.backoff.next();
    this.draining = undefined;
    this.logger.info('disconnected from the relay', { code, reason, reconnectInMs: delay });
    this.emit('disconnected', { code, reason, reconnectInMs: delay });
    this.scheduleReconnect(delay);
  }

  private onOffline(): void {
    if (this.closedByUser || this.connectionState.state === 'unauthorized') return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = this.socket;
    // Waiting for a heartbeat to notice would take up to three intervals.
    if (socket) this.abandon(socket, 'the browser went offline');
    else this.setState({ state: 'offline' });
  }

  private onOnline(): void {
    if (this.closedByUser || this.connectionState.state === 'unauthorized') return;
    this.reconnect();
  }

  private setState(state: ConnectionState): void {
    this.connectionState = state;
    this.emitStatus();
  }

  /** Emits the status when it differs from the last one emitted. */
  private emitStatus(): void {
    const status = this.status;
    const key = JSON.stringify(status);
    if (key === this.lastEmitted) return;
    this.lastEmitted = key;
    this.emit('status', status);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.closedByUser || this.reconnectTimer) return;
    this.setState({ state: 'reconnecting', at: Date.now() + delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.ensureConnected();
    }, delayMs);
  }

  /** Sends a fresh token before the current one expires, so the relay never closes us with 4001. */
  private scheduleRefresh(token: string): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const exp = tokenExpiry(token);
    if (exp === undefined) return;
    // At least a few seconds, so a provider that keeps returning an expiring token cannot make
    // a busy loop; at most what setTimeout can count (longer overflows and fires at once).
    const delay = Math.max(MIN_REFRESH_DELAY_MS, refreshDelayMs(exp, Date.now()));
    if (delay > MAX_TIMER_MS) {
      this.refreshTimer = setTimeout(() => this.scheduleRefresh(token), MAX_TIMER_MS);
      return;
    }
    this.refreshTimer = setTimeout(() => {
      void (async () => {
        try {
          const fresh = await this.options.token();
          if (this.send({ type: 'auth', token: fresh })) this.scheduleRefresh(fresh);
        } catch (err) {
          this.warn(`token refresh failed: ${err instanceof Error ? err.message : String(err)}`);
          // Try again while the current token lasts; if it runs out the relay closes with 4001 and we reconnect.
          if (this.socket) this.scheduleRefresh(token);
        }
      })();
    }, delay);
  }

  /**
   * Keep-alive through proxies, and a watchdog: the relay answers every ping, so a connection
   * silent for three intervals is dead (a sleeping laptop, a changed network) even if the
   * browser has not noticed; it is abandoned and replaced. Three, not two: background tabs
   * may run timers only once a minute, which stretches a 30 s interval to 60 s.
   */
  private startPings(socket: WebSocketLike): void {
    this.stopPings();
    const intervalMs = Math.max(1, this.limits.heartbeatIntervalSecs) * 1000;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > 3 * intervalMs) {
        this.abandon(socket, 'the relay stopped answering');
        return;
      }
      this.send({ type: 'ping' });
    }, intervalMs);
  }

  private stopPings(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private clearTimers(): void {
    this.stopPings();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.reconnectTimer = undefined;
    this.refreshTimer = undefined;
    this.connectTimer = undefined;
  }
}
