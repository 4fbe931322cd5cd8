import type uWS from 'uWebSockets.js';
import type { Role } from '../auth/access.js';
import type { Principal } from '../auth/verify.js';
import type { DocumentEngine } from '../engine/document.js';
import { CloseCode } from '../protocol/codes.js';
import type { PresenceData, ServerMessage, UserInfo } from '../protocol/messages.js';
import type { RateLimiter } from './rate-limit.js';

/** What uWS keeps per socket: a pointer to our connection object, set in the upgrade. */
export interface SocketData {
  connection: Connection;
}

export interface JoinedDocument {
  readonly engine: DocumentEngine;
  /** Kept current while joined: role changes through the API are pushed; see SessionGuard.recheckAccess. */
  role: Role;
  /** Latest presence the client asked for, not yet broadcast because of the throttle. */
  pendingPresence: { selectionRev: number; selection: { anchor: number; head: number } | null; typing: boolean | undefined; data: PresenceData | undefined } | undefined;
  lastPresenceAt: number;
  presenceTimer: NodeJS.Timeout | undefined;
  typingTimer: NodeJS.Timeout | undefined;
  /** This connection's changes to the document submitted and not yet acked or refused. */
  changesInFlight: number;
}

/**
 * One client connection: who it is, which documents it joined, and a send that never drops a
 * frame silently (a client that cannot keep up is closed and resumes from its clock).
 */
export class Connection {
  readonly docs = new Map<string, JoinedDocument>();
  /** Documents whose join is still loading; a close in between must release them. */
  readonly joining = new Set<string>();
  /**
   * The socket's one lifecycle: upgraded but not yet opened by uWS, open, or closed (by us or
   * by the client). Only an open socket is written to.
   */
  private socket: { readonly phase: 'opening' } | { readonly phase: 'open'; readonly ws: uWS.WebSocket<SocketData> } | { readonly phase: 'closed' } = { phase: 'opening' };
  /** Publishes to this connection's own topic (sendInOrder); set when the socket opens. */
  private publishOwn: ((text: string) => void) | undefined;
  lastSeenAt: number;
  principal: Principal;
  /** Closes the connection (4010) unless it joins a document first. */
  handshakeTimer: NodeJS.Timeout | undefined;
  /** Closes the connection (4001) when its token expires, unless a fresh one arrives. */
  expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly session: string,
    principal: Principal,
    readonly user: UserInfo,
    now: number,
    readonly rate: RateLimiter,
    private readonly onSlowConsumer: (connection: Connection) => void,
  ) {
    this.principal = principal;
    this.lastSeenAt = now;
  }

  /** The socket while it is open. */
  get ws(): uWS.WebSocket<SocketData> | undefined {
    return this.socket.phase === 'open' ? this.socket.ws : undefined;
  }

  /** Not closed: still worth answering. */
  get open(): boolean {
    return this.socket.phase !== 'closed';
  }

  /** uWS closed the socket (either side closed it). */
  detach(): void {
    this.socket = { phase: 'closed' };
  }

  clearTimers(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.handshakeTimer = undefined;
    this.expiryTimer = undefined;
  }

  /**
   * Takes the opened socket. It also subscribes to a topic of its own, so that frames for it
   * alone (acks) can travel through the same uWS topic tree as its documents' changes.
   */
  attach(ws: uWS.WebSocket<SocketData>, app: uWS.TemplatedApp): void {
    this.socket = { phase: 'open', ws };
    const topic = `session/${this.session}`;
    ws.subscribe(topic);
    this.publishOwn = (text) => app.publish(topic, text, false, false);
  }

  /**
   * Sends a message in order with everything already published to this connection's documents
   * (uWS keeps one order across topics), in the same write: uWS drains a subscriber's
   * published frames once per loop iteration, corked, so an ack and the changes committed with
   * it cost one send() syscall instead of two or more. Like document traffic, a client past
   * MAX_BACKPRESSURE_BYTES is dropped by uWS (closeOnBackpressureLimit) and resumes from its clock.
   */
  sendInOrder(message: ServerMessage): void {
    if (!this.ws) return;
    if (!this.publishOwn) {
      this.send(message);
      return;
    }
    this.publishOwn(JSON.stringify(message));
  }

  /** Sends the message; returns its length in UTF-16 units (its bytes, for ASCII). */
  send(message: ServerMessage): number {
    const text = JSON.stringify(message);
    this.sendRaw(text);
    return text.length;
  }

  sendRaw(text: string): void {
    const ws = this.ws;
    if (!ws) return;
    let status = 1;
    ws.cork(() => {
      status = ws.send(text, false, false);
    });
    // 2: uWS dropped the frame because the client's buffer is past the limit.
    if (status === 2) this.onSlowConsumer(this);
  }

  close(code: CloseCode, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.socket = { phase: 'closed' };
    ws.end(code, reason);
  }
}
