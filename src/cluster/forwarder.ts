import type { Bus, ForwardReply } from '../bus/bus.js';
import type { Submission, SubmitOrigin } from '../engine/document.js';
import { EngineError } from '../engine/errors.js';
import type { CommittedChange } from '../engine/ports.js';

/** A change of one of our clients, sent to the document's owner and not yet answered. */
export interface Forwarded {
  readonly sub: Submission;
  readonly origins: SubmitOrigin[];
  /** When it was last sent (ms); undefined while it waits for an owner to be known. */
  sentAt: number | undefined;
  /** The owner acked it at a revision this replica has not reached yet: acked when it does. */
  ackedAt: { readonly rev: number; readonly count: number; readonly duplicate: boolean } | undefined;
}

const keyOf = (actor: string, seq: number): string => `${actor}/${seq}`;

/**
 * Changes our clients made to documents another replica owns. They wait here until the owner
 * answers; the committed change itself reaches us over the bus like any other, and is then
 * broadcast without its author and acked (so the author sees exactly what a local commit gives
 * it). Resending is always safe: the owner answers a change it already has by actor and seq.
 */
export class Forwarder {
  private readonly docs = new Map<string, Map<string, Forwarded>>();

  constructor(private readonly deps: { readonly bus: Pick<Bus, 'forward'>; readonly now: () => number }) {}

  /** Sends the change to `owner`, or holds it while no owner is known (undefined). */
  forward(docId: string, sub: Submission, origin: SubmitOrigin, owner: string | undefined): void {
    let pending = this.docs.get(docId);
    if (!pending) this.docs.set(docId, (pending = new Map()));
    const key = keyOf(sub.actor, sub.seq);
    const known = pending.get(key);
    if (known) {
      // A resend (the client reconnected here) of a change still waiting: one answer serves both.
      known.origins.push(origin);
      return;
    }
    const entry: Forwarded = { sub, origins: [origin], sentAt: undefined, ackedAt: undefined };
    pending.set(key, entry);
    if (owner !== undefined) this.send(docId, entry, owner);
  }

  /** The origins waiting for `change`, if it is one of ours (they are answered by the caller). */
  claim(docId: string, change: CommittedChange): SubmitOrigin[] {
    const pending = this.docs.get(docId);
    const entry = pending?.get(keyOf(change.actor, change.seq));
    if (!pending || !entry) return [];
    pending.delete(keyOf(change.actor, change.seq));
    if (pending.size === 0) this.docs.delete(docId);
    return entry.origins;
  }

  /** This replica reached revision `head`: acks that waited for it go out. */
  reached(docId: string, head: number): void {
    const pending = this.docs.get(docId);
    if (!pending) return;
    for (const [key, entry] of pending) {
      const ack = entry.ackedAt;
      if (!ack || ack.rev + ack.count > head) continue;
      pending.delete(key);
      for (const o of entry.origins) o.acked({ seq: entry.sub.seq, rev: ack.rev, count: ack.count }, ack.duplicate);
    }
    if (pending.size === 0) this.docs.delete(docId);
  }

  /** The owner's answer. `head` is this replica's revision of the document (undefined: not loaded). */
  replied(docId: string, reply: ForwardReply, head: number | undefined): 'done' | 'ask_again' {
    const pending = this.docs.get(docId);
    const entry = pending?.get(keyOf(reply.actor, reply.seq));
    if (!pending || !entry) return 'done';
    switch (reply.kind) {
      case 'not_owner':
        entry.sentAt = undefined;
        return 'ask_again';
      case 'refused':
        pending.delete(keyOf(reply.actor, reply.seq));
        for (const o of entry.origins) o.rejected(new EngineError(reply.code, reply.message));
        break;
      case 'ack':
        // The change itself (if it has ops) reaches us on the document's channel; the ack waits
        // for it so that the author gets every earlier change before its ack, as on the owner.
        entry.ackedAt = { rev: reply.rev, count: reply.count, duplicate: reply.duplicate };
        if (head !== undefined) this.reached(docId, head);
        break;
    }
    if (pending.size === 0) this.docs.delete(docId);
    return 'done';
  }

  /** A new owner: everything still unanswered goes to it. */
  retarget(docId: string, owner: string): void {
    for (const entry of this.docs.get(docId)?.values() ?? []) if (!entry.ackedAt) this.send(docId, entry, owner);
  }

  /** Sends again what the owner has not answered for `afterMs` (a message lost with Redis, or an owner that died). */
  resendStale(docId: string, owner: string, afterMs: number): void {
    const cutoff = this.deps.now() - afterMs;
    for (const entry of this.docs.get(docId)?.values() ?? []) {
      if (!entry.ackedAt && (entry.sentAt === undefined || entry.sentAt < cutoff)) this.send(docId, entry, owner);
    }
  }

  /** Hands over everything unanswered (this replica now commits the document itself). */
  take(docId: string): Forwarded[] {
    const pending = this.docs.get(docId);
    this.docs.delete(docId);
    return [...(pending?.values() ?? [])];
  }

  /** How many changes wait for an owner's answer (all documents). */
  get size(): number {
    let n = 0;
    for (const pending of this.docs.values()) n += pending.size;
    return n;
  }

  private send(docId: string, entry: Forwarded, owner: string): void {
    entry.sentAt = this.deps.now();
    this.deps.bus.forward(owner, docId, entry.sub);
  }
}
