import { transformSelection } from '../ot/index.js';
import type { Change, Selection } from '../ot/types.js';
import type { PresenceData, PresenceState, UserInfo } from '../protocol/wire.js';

/** Someone else in the document, with their selection in this client's local coordinates. */
export interface RemotePresence {
  readonly session: string;
  readonly user: UserInfo;
  readonly selection: Selection | null;
  readonly typing: boolean;
  /** What their application attached to their presence (`setPresenceData`), if anything. */
  readonly data?: PresenceData;
}

interface Stored {
  readonly user: UserInfo;
  /** In the relay's coordinates at the document's current server revision. */
  selection: Selection | null;
  readonly typing: boolean;
  readonly data: PresenceData | undefined;
}

/**
 * Other users' presence. Kept in the relay's coordinates, because that is what the relay
 * sends and what its committed changes move; the caller maps it through its pending edits
 * only when showing it, so nothing has to be undone when an ack arrives.
 */
export class RemotePresenceTable {
  private readonly bySession = new Map<string, Stored>();
  /**
   * How many stored entries have a selection: a committed change moves only those, and in a
   * document where many users type without sharing their cursors there are none to walk.
   */
  private withSelection = 0;

  get size(): number {
    return this.bySession.size;
  }

  /** `selection` must be at the client's current server revision. */
  set(state: PresenceState): void {
    // Replacing keeps the entry's place in the Map (the list's order): count, don't delete.
    if (this.bySession.get(state.session)?.selection) this.withSelection--;
    this.bySession.set(state.session, { user: state.user, selection: state.selection, typing: state.typing, data: state.data });
    if (state.selection) this.withSelection++;
  }

  /** In the relay's coordinates at the current server revision; null when unknown. */
  selectionOf(session: string): Selection | null {
    return this.bySession.get(session)?.selection ?? null;
  }

  remove(session: string): boolean {
    if (this.bySession.get(session)?.selection) this.withSelection--;
    return this.bySession.delete(session);
  }

  clear(): void {
    this.bySession.clear();
    this.withSelection = 0;
  }

  /** A change the relay committed: every stored selection moves with it. */
  transform(committed: Change): void {
    if (this.withSelection === 0) return;
    for (const p of this.bySession.values()) if (p.selection) p.selection = transformSelection(p.selection, committed);
  }

  list(toLocal: (selection: Selection) => Selection): RemotePresence[] {
    const out: RemotePresence[] = [];
    for (const [session, p] of this.bySession) {
      const selection = p.selection ? toLocal(p.selection) : null;
      out.push(p.data !== undefined ? { session, user: p.user, typing: p.typing, selection, data: p.data } : { session, user: p.user, typing: p.typing, selection });
    }
    return out;
  }
}

export interface OutgoingPresence {
  /** Absent when only the typing flag changed. */
  readonly selection?: Selection | null;
  readonly typing?: boolean;
  /** Absent when unchanged; null removes it. */
  readonly data?: PresenceData | null;
}

/**
 * This user's presence waiting to go out: the latest value wins, sends are spaced by the
 * relay's throttle (trailing edge: the last value is always sent). A selection can only be
 * sent when the local copy equals the relay's at a known revision, i.e. with nothing pending;
 * the owner says when that is and calls `pump` again after each ack.
 */
export class PresenceOutbox {
  private selection: { value: Selection | null } | undefined;
  private typing: boolean | undefined;
  private data: { value: PresenceData | null } | undefined;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly port: {
      readonly throttleMs: () => number;
      /** True when the local copy equals the relay's at the revision `send` will name. */
      readonly canSendSelection: () => boolean;
      /** False when the connection cannot take it now; the value then waits for the next pump. */
      readonly send: (presence: OutgoingPresence) => boolean;
    },
    private readonly now: () => number = Date.now,
  ) {}

  setSelection(selection: Selection | null): void {
    this.selection = { value: selection };
  }

  setTyping(typing: boolean): void {
    this.typing = typing;
  }

  setData(data: PresenceData | null): void {
    this.data = { value: data };
  }

  /** A waiting selection is in local coordinates: it moves with every edit to the local copy. */
  transform(change: Change): void {
    const value = this.selection?.value;
    if (value) this.selection = { value: transformSelection(value, change) };
  }

  /** Forgets a waiting selection (its coordinates belong to a copy that was replaced). */
  dropSelection(): void {
    this.selection = undefined;
  }

  /** Sends what may go now, or arms a timer for when the throttle allows. */
  pump(): void {
    const hasSelection = this.selection !== undefined && this.port.canSendSelection();
    if (!hasSelection && this.typing === undefined && this.data === undefined) return;
    const wait = this.lastSentAt + this.port.throttleMs() - this.now();
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const message: { selection?: Selection | null; typing?: boolean; data?: PresenceData | null } = {};
    if (hasSelection && this.selection) message.selection = this.selection.value;
    if (this.typing !== undefined) message.typing = this.typing;
    if (this.data !== undefined) message.data = this.data.value;
    if (!this.port.send(message)) return;
    if (hasSelection) this.selection = undefined;
    this.typing = undefined;
    this.data = undefined;
    this.lastSentAt = this.now();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
