import type uWS from 'uWebSockets.js';
import type { Role } from '../auth/access.js';
import type { Principal } from '../auth/verify.js';
import type { DocumentEngine } from '../engine/document.js';
import { CloseCode } from '../protocol/codes.js';
import type { ServerMessage, UserInfo } from '../protocol/messages.js';
import type { RateLimiter } from './rate-limit.js';

/** What uWS keeps per socket: a pointer to our connection object, set in the upgrade. */
export interface SocketData {
  connection: Connection;
}

export interface JoinedDocument {
  readonly engine: DocumentEngine;
  /** Re-checked while joined: a grant or revoke applies within PERMISSION_CACHE_TTL. */
  role: Role;
  /** Latest presence the client asked for, not yet broadcast because of the throttle. */
  pendingPresence: { selectionRev: number; selection: { anchor: number; head: number } | null; typing: boolean | undefined } | undefined;
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
  ws: uWS.WebSocket<SocketData> | undefined;
  open = true;
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

  clearTimers(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.handshakeTimer = undefined;
    this.expiryTimer = undefined;
  }

  /** Sends the message; returns its length in UTF-16 units (its bytes, for ASCII). */
  send(message: ServerMessage): number {
    const text = JSON.stringify(message);
    this.sendRaw(text);
    return text.length;
  }

  sendRaw(text: string): void {
    const ws = this.ws;
    if (!this.open || !ws) return;
    let status = 1;
    ws.cork(() => {
      status = ws.send(text, false, false);
    });
    // 2: uWS dropped the frame because the client's buffer is past the limit.
    if (status === 2) this.onSlowConsumer(this);
  }

  close(code: CloseCode, reason: string): void {
    const ws = this.ws;
    if (!this.open || !ws) return;
    this.open = false;
    ws.end(code, reason);
  }
}
