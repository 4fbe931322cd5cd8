import { transformSelection } from '../ot/index.js';
import type { Selection } from '../ot/types.js';
import type { CommittedChange } from './ports.js';
import type { PresenceData, PresenceState, UserInfo } from '../protocol/messages.js';

interface Entry {
  session: string;
  user: UserInfo;
  selection: Selection | null;
  typing: boolean;
  /** Replica the session is connected to: the one owner of this entry; a dead replica's entries are dropped together. */
  replica: string;
  /**
   * Revision the selection is at: the head for entries kept here, and for another replica's
   * entry sent from a head ahead of ours, that head (changes below it are already in it).
   */
  rev: number;
  /** The application's payload, relayed untouched (bounded at decode). */
  data: PresenceData | undefined;
}

/**
 * Who is in one document and where their cursors are, kept at the document's head revision:
 * every committed change moves the stored selections, so a joining client gets them at the
 * revision it is given.
 */
export class PresenceTable {
  private readonly entries = new Map<string, Entry>();

  set(session: string, user: UserInfo, selection: Selection | null, typing: boolean, replica: string, rev: number, data?: PresenceData): PresenceState {
    const entry: Entry = { session, user, selection, typing, replica, rev, data };
    this.entries.set(session, entry);
    return toState(entry);
  }

  get(session: string): PresenceState | undefined {
    const e = this.entries.get(session);
    return e ? toState(e) : undefined;
  }

  remove(session: string): boolean {
    return this.entries.delete(session);
  }

  /** Drops every session of a replica; returns the removed session ids. */
  removeReplica(replica: string): string[] {
    const removed: string[] = [];
    for (const [session, e] of this.entries) {
      if (e.replica === replica) {
        this.entries.delete(session);
        removed.push(session);
      }
    }
    return removed;
  }

  list(): PresenceState[] {
    return [...this.entries.values()].map(toState);
  }

  /** The sessions of one replica. */
  ofReplica(replica: string): PresenceState[] {
    return [...this.entries.values()].filter((e) => e.replica === replica).map(toState);
  }

  /** Every session with the replica it is connected to. */
  sessions(): { readonly session: string; readonly replica: string }[] {
    return [...this.entries.values()].map((e) => ({ session: e.session, replica: e.replica }));
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Moves every selection through a change committed at the head. An entry another replica sent
   * from a head past this change already includes it: moving it again would shift it twice.
   */
  transform(change: Pick<CommittedChange, 'rev' | 'ops'>): void {
    const end = change.rev + change.ops.length;
    for (const e of this.entries.values()) {
      if (e.rev >= end) continue;
      if (e.selection) e.selection = transformSelection(e.selection, change.ops);
      e.rev = end;
    }
  }
}

function toState(e: Entry): PresenceState {
  return { session: e.session, user: e.user, selection: e.selection, typing: e.typing, ...(e.data !== undefined ? { data: e.data } : {}) };
}
