import type { Bus, ForwardReply, Leases } from '../bus/bus.js';
import type { DocumentEngine, Submission, SubmitOrigin } from '../engine/document.js';
import { EngineError } from '../engine/errors.js';
import type { Logger } from '../log.js';
import { ErrorCode } from '../protocol/codes.js';
import type { Forwarder } from './forwarder.js';

/**
 * What this replica does with its clients' changes to one document:
 * - resolving: just opened (or the owner said it is not): held until Redis answers who owns it;
 * - owner: we hold the lease (until `until`, our clock, counted from when the claim was sent):
 *   we commit, and other replicas forward to us;
 * - follower: another replica holds the lease: we forward to it;
 * - fenced: we owned it, the lease ran out and Redis did not renew it: another replica may
 *   own it now, so we hold our clients' changes (nothing is acked) for one more lease lifetime,
 *   long enough for a replica that still reaches Redis to take over;
 * - fallback: Redis cannot tell (it is away): we commit ourselves and PostgreSQL orders the
 *   replicas' commits as before ownership existed.
 */
type State =
  | { readonly kind: 'resolving' }
  | { readonly kind: 'owner'; readonly until: number }
  | { readonly kind: 'follower'; readonly owner: string }
  | { readonly kind: 'fenced'; readonly until: number }
  | { readonly kind: 'fallback' };

export interface OwnershipDeps {
  readonly replicaId: string;
  readonly bus: Pick<Bus, 'reply'>;
  /** undefined: no Redis, so one replica commits everything it is sent (fallback for good). */
  readonly leases: Leases | undefined;
  readonly forwarder: Forwarder;
  /** The loaded engine of a document, if any. */
  readonly engineOf: (docId: string) => DocumentEngine | undefined;
  readonly log: Logger;
  readonly now: () => number;
  /** Told of every change of role, for metrics. */
  readonly onTransition?: (to: State['kind']) => void;
}

/** A forward not answered for this long is sent again (to the owner Redis names then). */
const RESEND_AFTER_MS = 1000;
/** How long a forwarded change whose clock is ahead of us waits for our catch-up from the log. */
const CATCH_UP_WAIT_MS = 2000;

/**
 * Document ownership on this replica: one owner per open document orders and commits its
 * changes, so replicas stop racing each other in PostgreSQL. The lease is claimed when a
 * document opens, renewed every fifth of its lifetime while it stays open, released when it
 * closes; a replica whose lease expired (it died, or lost Redis) is replaced by the next
 * replica to claim. Safety never rests on the lease: PostgreSQL's unique (document, revision)
 * refuses a second writer's revision, so a stale owner only loses races, it never forks the log.
 */
export class DocumentOwnership {
  private readonly states = new Map<string, State>();
  private readonly claiming = new Set<string>();
  /**
   * Forwarded changes we are committing and have not answered yet (from/doc/actor/seq): a
   * resend of one (its forwarder resends every second while the database is slow or away) is
   * not queued again, the one answer serves it.
   */
  private readonly answering = new Set<string>();
  /** When Redis last answered a claim for each document (ms). */
  private readonly answeredAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: OwnershipDeps) {
    const leases = deps.leases;
    if (leases) {
      this.timer = setInterval(() => this.renewAll(), Math.max(50, Math.floor(leases.ttlMs / 5)));
      this.timer.unref();
    }
  }

  /** The document was loaded here: find out who owns it (claiming it if nobody does). */
  open(docId: string): void {
    if (!this.deps.leases) return;
    this.states.set(docId, { kind: 'resolving' });
    this.answeredAt.set(docId, this.deps.now());
    void this.claim([docId]);
  }

  /** The document was unloaded here: give its lease up so another replica takes it at once. */
  close(docId: string): void {
    const state = this.states.get(docId);
    this.states.delete(docId);
    this.answeredAt.delete(docId);
    // Only clients that already left can still wait here (a document unloads when nobody has it
    // open); they resend after reconnecting and are answered by actor and seq wherever they land.
    for (const entry of this.deps.forwarder.take(docId)) {
      for (const o of entry.origins) o.rejected(new EngineError(ErrorCode.unavailable, 'the document was closed on this relay; resend after reconnecting'));
    }
    if (state?.kind === 'owner') this.deps.leases?.release(docId).catch(() => undefined);
  }

  /** A change from one of our clients: committed here, forwarded to the owner, or held. */
  submit(engine: DocumentEngine, sub: Submission, origin: SubmitOrigin): void {
    const state = this.currentState(engine.id);
    switch (state?.kind) {
      case 'follower':
        this.deps.forwarder.forward(engine.id, sub, origin, state.owner);
        return;
      case 'resolving':
      case 'fenced':
        this.deps.forwarder.forward(engine.id, sub, origin, undefined);
        return;
      default:
        engine.submit(sub, origin);
    }
  }

  /** A change another replica forwarded to us as the owner. */
  forwarded(docId: string, from: string, sub: Submission): void {
    const engine = this.deps.engineOf(docId);
    const { bus } = this.deps;
    if (!engine || this.stopped) {
      bus.reply(from, docId, { kind: 'not_owner', actor: sub.actor, seq: sub.seq });
      return;
    }
    const key = `${from}/${docId}/${sub.actor}/${sub.seq}`;
    if (this.answering.has(key)) return;
    this.answering.add(key);
    const origin: SubmitOrigin = {
      acked: (ack, duplicate) => {
        this.answering.delete(key);
        // A first commit with ops reaches the forwarding replica on the document's channel, and
        // that acks its author (Forwarder.claim): an ack message as well would only cost Redis
        // and the forwarder one more message per change. Empty changes and duplicates are not
        // published, so they are answered here.
        if (!duplicate && ack.count > 0) return;
        bus.reply(from, docId, { kind: 'ack', actor: sub.actor, seq: sub.seq, rev: ack.rev, count: ack.count, duplicate });
      },
      rejected: (error) => {
        this.answering.delete(key);
        bus.reply(from, docId, { kind: 'refused', actor: sub.actor, seq: sub.seq, code: error.code, message: error.message });
      },
    };
    if (sub.baseRev <= engine.headRev) {
      engine.submit(sub, origin);
      return;
    }
    // The forwarder saw a revision we have not applied yet (we just became owner, or a commit
    // of the previous owner is still on its way): read the log first. A clock still ahead after
    // that is refused by the engine as usual.
    engine.requestCatchUp();
    const submitWhenCaughtUp = (waitedMs: number) => {
      if (sub.baseRev <= engine.headRev || waitedMs >= CATCH_UP_WAIT_MS) engine.submit(sub, origin);
      else setTimeout(() => submitWhenCaughtUp(waitedMs + 20), 20);
    };
    submitWhenCaughtUp(0);
  }

  /** The owner's answer to one of our forwards. */
  replied(docId: string, reply: ForwardReply): void {
    const verdict = this.deps.forwarder.replied(docId, reply, this.deps.engineOf(docId)?.headRev);
    if (verdict === 'ask_again' && this.states.has(docId)) {
      this.states.set(docId, { kind: 'resolving' });
      void this.claim([docId]);
    }
  }

  /** The role of this replica for a document (for tests and logs). */
  roleOf(docId: string): State['kind'] | undefined {
    return this.states.get(docId)?.kind;
  }

  /** Stops renewing and gives up every lease (a clean shutdown: others take over at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const owned = [...this.states].filter(([, s]) => s.kind === 'owner').map(([docId]) => docId);
    this.states.clear();
    await Promise.allSettled(owned.map((docId) => this.deps.leases?.release(docId)));
  }

  // ---- the lease -----------------------------------------------------------------------------

  /** One claim for every open document: one round trip per renewal period, however many there are. */
  private renewAll(): void {
    for (const docId of this.states.keys()) this.currentState(docId);
    void this.claim([...this.states.keys()]);
  }

  /**
   * The role now. An owner's lease ends at `until` whether or not a renewal has failed yet (a
   * renewal to an unreachable Redis only times out later): from then on it holds its changes.
   */
  private currentState(docId: string): State | undefined {
    const state = this.states.get(docId);
    if (state?.kind !== 'owner' || this.deps.now() < state.until) return state;
    const fenced: State = { kind: 'fenced', until: state.until + (this.deps.leases?.ttlMs ?? 0) };
    this.deps.log.warn(
      { doc: docId, leaseEndedAt: new Date(state.until).toISOString(), holdingUntil: new Date(fenced.until).toISOString() },
      'document lease expired without renewal (Redis unreachable): holding changes until another replica can take over',
    );
    this.states.set(docId, fenced);
    this.deps.onTransition?.('fenced');
    return fenced;
  }

  /**
   * Claims (or renews) the leases of `docIds` not already being claimed. Every lease is counted
   * from when the claim was sent, on our clock: the owner's fence (`until`) never trusts Redis's.
   */
  private async claim(docIds: readonly string[]): Promise<void> {
    const leases = this.deps.leases;
    const due = docIds.filter((docId) => !this.claiming.has(docId));
    if (!leases || due.length === 0 || this.stopped) return;
    for (const docId of due) this.claiming.add(docId);
    const sentAt = this.deps.now();
    try {
      const holders = await withTimeout(leases.claim(due), leases.ttlMs / 2);
      for (const docId of due) {
        const holder = holders.get(docId);
        if (!this.states.has(docId) || holder === undefined) continue;
        this.answeredAt.set(docId, this.deps.now());
        this.settle(docId, holder, sentAt + leases.ttlMs);
      }
    } catch (err) {
      for (const docId of due) if (this.states.has(docId)) this.unreachable(docId, err);
    } finally {
      for (const docId of due) this.claiming.delete(docId);
    }
  }

  private settle(docId: string, holder: string, until: number): void {
    const before = this.states.get(docId);
    const { forwarder, log, replicaId } = this.deps;
    if (holder === replicaId) {
      this.states.set(docId, { kind: 'owner', until });
      if (before?.kind !== 'owner') {
        log.debug({ doc: docId, was: before?.kind }, 'took ownership of a document');
        this.deps.onTransition?.('owner');
        this.commitHere(docId);
      }
      return;
    }
    this.states.set(docId, { kind: 'follower', owner: holder });
    if (before?.kind === 'follower' && before.owner === holder) {
      forwarder.resendStale(docId, holder, RESEND_AFTER_MS);
      return;
    }
    if (before?.kind === 'owner') log.info({ doc: docId, owner: holder }, 'lost ownership of a document: forwarding to its new owner');
    this.deps.onTransition?.('follower');
    forwarder.retarget(docId, holder);
  }

  /**
   * Redis did not answer: an owner stays one until its lease runs out, then holds its changes
   * for one more lifetime (fenced); after that, and at once for the others, PostgreSQL orders.
   */
  private unreachable(docId: string, err: unknown): void {
    const state = this.currentState(docId);
    const now = this.deps.now();
    if (state?.kind === 'fallback' || state?.kind === 'owner') return;
    if (state?.kind === 'fenced' && now < state.until) return;
    // A slow answer is not a lost Redis (an overloaded replica would otherwise start racing the
    // owner in PostgreSQL): keep forwarding until Redis has been silent for two lifetimes.
    const silentMs = now - (this.answeredAt.get(docId) ?? 0);
    if (err instanceof ClaimTimeout && (state?.kind === 'follower' || state?.kind === 'resolving') && silentMs < 2 * (this.deps.leases?.ttlMs ?? 0)) return;
    this.deps.log.debug({ err, doc: docId, was: state?.kind }, 'document ownership unknown (Redis unavailable): committing here, PostgreSQL orders');
    this.states.set(docId, { kind: 'fallback' });
    this.deps.onTransition?.('fallback');
    this.commitHere(docId);
  }

  /** Changes that waited for (or were sent to) an owner are committed here from now on. */
  private commitHere(docId: string): void {
    const engine = this.deps.engineOf(docId);
    if (!engine) return;
    // What the previous owner committed last may not have reached us over the bus.
    engine.requestCatchUp();
    for (const entry of this.deps.forwarder.take(docId)) {
      for (const origin of entry.origins) engine.submit(entry.sub, origin);
    }
  }
}

class ClaimTimeout extends Error {
  override readonly name = 'ClaimTimeout';
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new ClaimTimeout(`no answer within ${ms} ms`)), ms).unref())]);
}
