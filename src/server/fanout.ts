import type uWS from 'uWebSockets.js';
import type { Bus, BusHandlers, ForwardReply, RemotePresence } from '../bus/bus.js';
import type { DocumentOwnership } from '../cluster/ownership.js';
import type { Forwarder } from '../cluster/forwarder.js';
import type { CommitListener, Submission, SubmitOrigin } from '../engine/document.js';
import type { CommittedChange } from '../engine/ports.js';
import type { DocumentRegistry } from '../engine/registry.js';
import type { ServerMessage } from '../protocol/messages.js';
import { topicOf, type PresenceRelay } from './presence-relay.js';
import { changeToWire } from './change-wire.js';

/**
 * Fan-out of committed changes, in revision order: to this replica's clients (the document's
 * uWS topic), to other replicas (the bus, for changes committed here), and acks to their
 * submitters. The registry is built with it as the commit listener.
 */
export class Fanout implements CommitListener {
  constructor(private readonly deps: { readonly app: Pick<uWS.TemplatedApp, 'publish'>; readonly bus: Pick<Bus, 'publishChange'>; readonly forwarder: Forwarder }) {}

  applied(docId: string, change: CommittedChange, origins: readonly SubmitOrigin[], local: boolean): void {
    const { app, bus, forwarder } = this.deps;
    // A change an owner elsewhere committed for one of our clients is answered here as if it
    // had been committed here.
    const submitters = local ? origins : [...origins, ...forwarder.claim(docId, change)];
    if (change.ops.length > 0) {
      const text = JSON.stringify({ type: 'change', doc: docId, ...changeToWire(change) } satisfies ServerMessage);
      // The submitter gets an ack instead of its own change: published from its socket, which
      // uWS leaves out of the delivery.
      if (!submitters.some((o) => o.publishAsAuthor?.(docId, text) === true)) app.publish(topicOf(docId), text, false, false);
      if (local) bus.publishChange(docId, change);
    }
    for (const origin of submitters) origin.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
    forwarder.reached(docId, change.rev + change.ops.length);
  }
}

/** Messages from other replicas, routed to the part of this replica that handles them. */
export class BusRouter implements BusHandlers {
  constructor(
    private readonly deps: {
      readonly registry: Pick<DocumentRegistry, 'peek' | 'engines'>;
      readonly presence: PresenceRelay;
      readonly ownership: DocumentOwnership;
    },
  ) {}

  change(docId: string, change: CommittedChange): void {
    this.deps.registry.peek(docId)?.receiveRemote(change);
  }

  presence(update: RemotePresence): void {
    this.deps.presence.remoteUpdate(update);
  }

  presenceLeft(docId: string, session: string, replica: string): void {
    this.deps.presence.remoteLeft(docId, session, replica);
  }

  resync(docId?: string): void {
    if (docId !== undefined) {
      this.deps.registry.peek(docId)?.requestCatchUp();
      return;
    }
    for (const engine of this.deps.registry.engines()) engine.requestCatchUp();
  }

  dropReplicaPresence(replica: string): number {
    return this.deps.presence.dropReplica(replica);
  }

  ownPresence(): RemotePresence[] {
    return this.deps.presence.ownPresence();
  }

  remoteSessions(docId: string): { session: string; replica: string }[] {
    return this.deps.presence.remoteSessions(docId);
  }

  forwarded(docId: string, from: string, sub: Submission): void {
    this.deps.ownership.forwarded(docId, from, sub);
  }

  replied(docId: string, reply: ForwardReply): void {
    this.deps.ownership.replied(docId, reply);
  }
}
