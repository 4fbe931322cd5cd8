import { CloseCode, PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../protocol/codes.js';
import type { ServerMessage, UserInfo } from '../protocol/messages.js';
import { DocumentSession, type DocumentTransport } from './document.js';
import { Emitter } from './emitter.js';
import { randomDelay, refreshDelayMs, tokenExpiry } from './token.js';

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
  /** Reconnect delays are drawn uniformly from [minDelayMs, maxDelayMs] (defaults 500, 10000). */
  readonly reconnect?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
}

export interface ClientEvents {
  /** Connected and greeted by a relay. */
  connected: (info: { session: string; user: UserInfo }) => void;
  /** The connection went; `reconnectInMs` is undefined after close(). */
  disconnected: (info: { code: number; reason: string; reconnectInMs: number | undefined }) => void;
  /** Something failed that the client handles itself (a token fetch, a socket error). */
  warning: (message: string) => void;
}

const OPEN = 1;

/**
 * A connection to a relay carrying any number of documents. It reconnects by itself after a
 * random delay, rejoins every open document from its revision, and resends the change each
 * had in flight (the relay applies it exactly once).
 */
export class RelayClient extends Emitter<ClientEvents> {
  readonly actor: string;
  private socket: WebSocketLike | undefined;
  private readonly documents = new Map<string, DocumentSession>();
  private limits = { maxOps: 100, cursorThrottleMs: 50, heartbeatIntervalSecs: 30 };
  private greeted = false;
  private closedByUser = false;
  private draining: { reconnectAfterMs: number } | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private connecting: Promise<void> | undefined;
  private session: string | undefined;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: RelayClientOptions) {
    super();
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. the `ws` package in Node)');
    this.WebSocketImpl = impl;
    this.actor = options.actor ?? globalThis.crypto.randomUUID();
    this.minDelayMs = options.reconnect?.minDelayMs ?? 500;
    this.maxDelayMs = Math.max(this.minDelayMs, options.reconnect?.maxDelayMs ?? 10_000);
  }

  /** True while a relay connection is up and greeted. */
  get connected(): boolean {
    return this.greeted && this.socket?.readyState === OPEN;
  }

  /** The relay's session id of the current connection. */
  get sessionId(): string | undefined {
    return this.session;
  }

  /** Opens (joins) a document; resolves once its content is here. Rejects on `forbidden`. */
  async open(docId: string): Promise<DocumentSession> {
    if (this.closedByUser) throw new Error('the client is closed');
    let doc = this.documents.get(docId);
    if (!doc) {
      doc = new DocumentSession(docId, this.actor, this.transport());
      this.documents.set(docId, doc);
      doc.on('closed', () => this.documents.delete(docId));
      if (this.connected) this.send(doc.joinMessage());
    }
    void this.ensureConnected();
    try {
      await doc.waitJoined();
    } catch (err) {
      this.documents.delete(docId);
      throw err;
    }
    return doc;
  }

  /** Leaves a document (its pending edits are dropped: call whenSynced() first to keep them). */
  leave(docId: string): void {
    const doc = this.documents.get(docId);
    if (!doc) return;
    this.documents.delete(docId);
    if (this.connected) this.send({ type: 'leave', doc: docId });
    doc.markClosed();
  }

  /** Closes the connection for good. */
  close(): void {
    this.closedByUser = true;
    this.clearTimers();
    for (const doc of this.documents.values()) doc.markClosed();
    this.documents.clear();
    this.socket?.close(CloseCode.normal, 'client closed');
  }

  /** For tests and "reconnect now" buttons: drops the connection as a network failure would. */
  dropConnection(): void {
    this.socket?.close(4000, 'dropped by the client');
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
      get cursorThrottleMs() {
        return client.limits.cursorThrottleMs;
      },
    };
  }

  private send(message: object): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  private ensureConnected(): Promise<void> {
    if (this.closedByUser || this.socket || this.reconnectTimer) return Promise.resolve();
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
      this.emit('warning', `token provider failed: ${err instanceof Error ? err.message : String(err)}`);
      this.scheduleReconnect(randomDelay(this.minDelayMs, this.maxDelayMs));
      return;
    }
    if (this.closedByUser) return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.options.url, [PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`]);
    } catch (err) {
      this.emit('warning', `cannot open a WebSocket: ${err instanceof Error ? err.message : String(err)}`);
      this.scheduleReconnect(randomDelay(this.minDelayMs, this.maxDelayMs));
      return;
    }
    this.socket = socket;
    this.greeted = false;
    this.draining = undefined;
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    socket.onerror = () => undefined; // a close event follows
    socket.onclose = (event) => this.onClose(socket, event.code, event.reason);
    this.scheduleRefresh(token);
  }

  private onMessage(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
    let message: ServerMessage;
    try {
      message = JSON.parse(text) as ServerMessage;
    } catch {
      this.emit('warning', 'the relay sent a frame that is not JSON');
      return;
    }
    switch (message.type) {
      case 'hello':
        this.greeted = true;
        this.session = message.session;
        this.limits = message.limits;
        this.startPings();
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
        if (message.doc === undefined && message.ref === 'auth') this.emit('warning', `token refresh refused: ${message.message}`);
        if (message.doc === undefined && message.code !== 'rate_limited') {
          this.emit('warning', `${message.code}: ${message.message}`);
          return;
        }
        if (message.doc === undefined) {
          for (const doc of this.documents.values()) doc.handle(message);
          return;
        }
        break;
      default:
        break;
    }
    if ('doc' in message && typeof message.doc === 'string') {
      this.documents.get(message.doc)?.handle(message);
      if (message.type === 'ack' && this.draining) this.closeWhenIdle(socket);
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
    for (const doc of this.documents.values()) doc.connectionLost();
    if (this.closedByUser) {
      this.emit('disconnected', { code, reason, reconnectInMs: undefined });
      return;
    }
    let delay: number;
    if (this.draining) delay = this.draining.reconnectAfterMs;
    else if (code === CloseCode.tokenExpired) delay = Math.min(this.minDelayMs, 1000);
    else delay = randomDelay(this.minDelayMs, this.maxDelayMs);
    this.draining = undefined;
    this.emit('disconnected', { code, reason, reconnectInMs: delay });
    this.scheduleReconnect(delay);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.closedByUser || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.ensureConnected();
    }, delayMs);
  }

  /** Sends a fresh token before the current one expires, so the relay never closes us with 4001. */
  private scheduleRefresh(token: string): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    const exp = tokenExpiry(token);
    if (exp === undefined) return;
    this.refreshTimer = setTimeout(() => {
      void (async () => {
        try {
          const fresh = await this.options.token();
          if (this.send({ type: 'auth', token: fresh })) this.scheduleRefresh(fresh);
        } catch (err) {
          this.emit('warning', `token refresh failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      })();
    }, refreshDelayMs(exp, Date.now()));
  }

  private startPings(): void {
    this.stopPings();
    this.pingTimer = setInterval(() => this.send({ type: 'ping' }), Math.max(1, this.limits.heartbeatIntervalSecs) * 1000);
  }

  private stopPings(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private clearTimers(): void {
    this.stopPings();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.reconnectTimer = undefined;
    this.refreshTimer = undefined;
  }
}
