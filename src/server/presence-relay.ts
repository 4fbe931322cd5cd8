import type uWS from 'uWebSockets.js';
import type { Bus, RemotePresence } from '../bus/bus.js';
import type { Config } from '../config.js';
import { PRESENCE_MAX_LAG_OPS, type DocumentEngine } from '../engine/document.js';
import { transformSelection } from '../ot/index.js';
import type { DocumentRegistry } from '../engine/registry.js';
import type { Metrics } from '../metrics.js';
import { ErrorCode } from '../protocol/codes.js';
import type { PresenceMessage, PresenceState, ServerMessage } from '../protocol/messages.js';
import type { Connection, JoinedDocument, SocketData } from './connection.js';

export const topicOf = (docId: string): string => `doc/${docId}`;

export interface PresenceDeps {
  readonly app: uWS.TemplatedApp;
  readonly config: Pick<Config, 'cursorThrottleMs' | 'typingDebounceMs'>;
  readonly metrics: Metrics;
  readonly bus: Bus;
  readonly replicaId: string;
  readonly registry: Pick<DocumentRegistry, 'peek' | 'engines'>;
  readonly now: () => number;
}

/**
 * Who is where in each document: throttles each connection's cursor updates (the last one in
 * a window is always sent), debounces typing, moves selections to the head revision, and
 * shares all of it with local clients (the document's topic) and other replicas (the bus).
 */
export class PresenceRelay {
  constructor(private readonly deps: PresenceDeps) {}

  /** A joiner appears to others with no selection yet; returns who was already there. */
  announce(ws: uWS.WebSocket<SocketData>, connection: Connection, docId: string, engine: DocumentEngine): PresenceState[] {
    const others = engine.presence.list().filter((p) => p.session !== connection.session);
    const entry = engine.presence.set(connection.session, connection.user, null, false, this.deps.replicaId, engine.headRev);
    this.publish(ws, docId, engine.headRev, entry);
    return others;
  }

  /** The connection left the document (or closed): its presence goes everywhere. */
  withdraw(connection: Connection, docId: string, engine: DocumentEngine): void {
    const joined = connection.docs.get(docId);
    if (joined?.presenceTimer) clearTimeout(joined.presenceTimer);
    if (joined?.typingTimer) clearTimeout(joined.typingTimer);
    if (!engine.presence.remove(connection.session)) return;
    this.deps.app.publish(topicOf(docId), JSON.stringify({ type: 'presence_left', doc: docId, session: connection.session } satisfies ServerMessage));
    this.deps.metrics.presenceBroadcasts.inc();
    this.deps.bus.publishPresenceLeft(docId, connection.session, this.deps.replicaId);
  }

  received(connection: Connection, message: PresenceMessage): void {
    const joined = connection.docs.get(message.doc);
    if (!joined) {
      connection.send({ type: 'error', code: ErrorCode.notJoined, message: 'join the document before sending presence', doc: message.doc, ref: 'presence' });
      return;
    }
    const previous = joined.pendingPresence ?? this.stored(connection, joined.engine);
    joined.pendingPresence = {
      selectionRev: message.selection === undefined ? previous.selectionRev : message.rev,
      selection: message.selection === undefined ? previous.selection : message.selection,
      typing: message.typing ?? previous.typing,
      data: message.data === undefined ? previous.data : (message.data ?? undefined),
    };
    if (message.typing === true) {
      if (joined.typingTimer) clearTimeout(joined.typingTimer);
      joined.typingTimer = setTimeout(() => {
        joined.typingTimer = undefined;
        // The broadcast that went out since is the user's latest selection: keep it.
        joined.pendingPresence = { ...(joined.pendingPresence ?? this.stored(connection, joined.engine)), typing: false };
        this.flush(connection, message.doc);
      }, this.deps.config.typingDebounceMs);
    }
    const wait = joined.lastPresenceAt + this.deps.config.cursorThrottleMs - this.deps.now();
    if (wait <= 0) {
      this.flush(connection, message.doc);
    } else if (!joined.presenceTimer) {
      joined.presenceTimer = setTimeout(() => {
        joined.presenceTimer = undefined;
        this.flush(connection, message.doc);
      }, wait);
    }
  }

  /**
   * What the others were last told, as a pending update: the stored selection is at the head
   * revision already (moving it from an older one would shift it twice).
   */
  private stored(connection: Connection, engine: DocumentEngine): NonNullable<JoinedDocument['pendingPresence']> {
    const current = engine.presence.get(connection.session);
    return { selectionRev: engine.headRev, selection: current?.selection ?? null, typing: undefined, data: current?.data };
  }

  private flush(connection: Connection, docId: string): void {
    const joined = connection.docs.get(docId);
    const pending = joined?.pendingPresence;
    const ws = connection.ws;
    if (!joined || !pending || !ws || !connection.open) return;
    joined.pendingPresence = undefined;
    joined.lastPresenceAt = this.deps.now();
    const engine = joined.engine;
    const selection = pending.selection ? engine.selectionAtHead(pending.selection, pending.selectionRev) : null;
    const current = engine.presence.get(connection.session);
    const entry = engine.presence.set(connection.session, connection.user, selection, pending.typing ?? current?.typing ?? false, this.deps.replicaId, engine.headRev, pending.data);
    ws.cork(() => this.publish(ws, docId, engine.headRev, entry));
  }

  /** From the connection's socket, so it reaches everyone on the topic but that connection. */
  private publish(ws: uWS.WebSocket<SocketData>, docId: string, rev: number, entry: PresenceState): void {
    ws.publish(topicOf(docId), JSON.stringify({ type: 'presence', doc: docId, rev, ...entry } satisfies ServerMessage), false, false);
    this.deps.metrics.presenceBroadcasts.inc();
    this.deps.bus.publishPresence({ docId, rev, replica: this.deps.replicaId, state: entry });
  }

  // ---- other replicas ------------------------------------------------------------------------

  remoteUpdate(update: RemotePresence): void {
    if (update.replica === this.deps.replicaId) return;
    const engine = this.deps.registry.peek(update.docId);
    if (!engine) return;
    const entry = this.merge(engine, [update])[0];
    if (!entry) return;
    this.deps.app.publish(topicOf(update.docId), JSON.stringify({ type: 'presence', doc: update.docId, rev: engine.headRev, ...entry } satisfies ServerMessage), false, false);
  }

  remoteLeft(docId: string, session: string, replica: string): void {
    if (replica === this.deps.replicaId) return;
    if (this.deps.registry.peek(docId)?.presence.remove(session)) this.publishLeft(docId, session);
  }

  /** This replica's sessions in every open document, at its head revision. */
  ownPresence(): RemotePresence[] {
    const { replicaId } = this.deps;
    return this.deps.registry.engines().flatMap((engine) => engine.presence.ofReplica(replicaId).map((state) => ({ docId: engine.id, rev: engine.headRev, replica: replicaId, state })));
  }

  /** Other replicas' sessions this replica shows its clients in a document. */
  remoteSessions(docId: string): { session: string; replica: string }[] {
    return (this.deps.registry.peek(docId)?.presence.sessions() ?? []).filter((s) => s.replica !== this.deps.replicaId);
  }

  /** Drops the presence of a replica that stopped heartbeating; returns how many entries went. */
  dropReplica(replica: string): number {
    let dropped = 0;
    for (const engine of this.deps.registry.engines() ?? []) {
      for (const session of engine.presence.removeReplica(replica)) {
        dropped++;
        this.publishLeft(engine.id, session);
      }
    }
    return dropped;
  }

  /**
   * Stores other replicas' presence, moved to our head when it was sent at an older revision.
   * One sent at a newer revision than ours is kept at its revision: the changes up to it, when
   * they reach us, are already in it (PresenceTable.transform skips them).
   */
  merge(engine: DocumentEngine, updates: readonly RemotePresence[]): PresenceState[] {
    const merged: PresenceState[] = [];
    for (const u of updates) {
      if (u.replica === this.deps.replicaId) continue;
      const behind = u.rev < engine.headRev;
      const selection = u.state.selection && behind ? engine.selectionAtHead(u.state.selection, u.rev) : u.state.selection;
      merged.push(engine.presence.set(u.state.session, u.state.user, selection, u.state.typing, u.replica, behind ? engine.headRev : u.rev, u.state.data));
    }
    return merged;
  }

  /**
   * Stores the presence a joining client's replica read from Redis. An entry its owner wrote
   * before the start of our in-memory window (we just loaded the document from a snapshot) is
   * moved through changes read from the log, one read for all of them; one more than
   * PRESENCE_MAX_LAG_OPS behind is cleared as usual (owners keep their entries in Redis well
   * within that: bus/redis-presence.ts, sync).
   */
  async mergeStored(engine: DocumentEngine, updates: readonly RemotePresence[]): Promise<PresenceState[]> {
    const outside = updates.filter(
      (u) => u.replica !== this.deps.replicaId && u.state.selection && u.rev < engine.headRev && engine.headRev - u.rev <= PRESENCE_MAX_LAG_OPS && engine.committedSince(u.rev) === undefined,
    );
    if (outside.length === 0) return this.merge(engine, updates);
    const changes = (await engine.changesSince(Math.min(...outside.map((u) => u.rev)))) ?? [];
    // No await from here on: `changes` ends at the head the engine is at now.
    const length = engine.length;
    const moved = outside.map((u): RemotePresence => {
      let selection = u.state.selection;
      for (const c of changes) if (selection && c.rev >= u.rev) selection = transformSelection(selection, c.ops);
      const clamped = selection ? { anchor: Math.min(selection.anchor, length), head: Math.min(selection.head, length) } : null;
      return { ...u, rev: engine.headRev, state: { ...u.state, selection: clamped } };
    });
    return this.merge(engine, [...updates.filter((u) => !outside.includes(u)), ...moved]);
  }

  private publishLeft(docId: string, session: string): void {
    this.deps.app.publish(topicOf(docId), JSON.stringify({ type: 'presence_left', doc: docId, session } satisfies ServerMessage), false, false);
  }
}
