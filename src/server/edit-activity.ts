/** What the activity tracker reads of a connection: the revisions of the documents it joined. */
export interface JoinedRevisions {
  readonly docs: ReadonlyMap<string, { readonly engine: { readonly revision: number } }>;
}

interface Seen {
  readonly rev: number;
  readonly editedAt: number;
}

/**
 * Which joined documents are being edited, found by comparing their revisions from one pass
 * to the next (no hook in the commit path, no database work).
 *
 * A document is **being edited** on this replica when its revision moved (a change committed
 * by any client, on this replica or another) within the last `windowMs` (PERMISSION_CACHE_TTL),
 * or since the previous pass when that window is 0. A document seen for the first time is not:
 * the join that brought it here has just looked the role up. The resolution is one pass.
 */
export class EditActivity {
  private seen = new Map<string, Seen>();

  /** Records this pass's revisions and returns the documents being edited at `now`. */
  sweep(connections: Iterable<JoinedRevisions>, now: number, windowMs: number): Set<string> {
    const next = new Map<string, Seen>();
    const edited = new Set<string>();
    for (const connection of connections) {
      for (const [docId, joined] of connection.docs) {
        if (next.has(docId)) continue;
        const rev = joined.engine.revision;
        const before = this.seen.get(docId);
        const editedAt = before === undefined ? Number.NEGATIVE_INFINITY : before.rev !== rev ? now : before.editedAt;
        next.set(docId, { rev, editedAt });
        if (editedAt === now || now - editedAt < windowMs) edited.add(docId);
      }
    }
    // Documents nobody here has joined any more are forgotten.
    this.seen = next;
    return edited;
  }
}
