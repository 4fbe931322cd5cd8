/**
 * The document revision at which each joined (document, user) pair's role was last confirmed:
 * the periodic re-check looks a role up again only once the document has changed since (and
 * the cached role expired), so a connection whose document does not change costs nothing.
 *
 * A pair seen for the first time is confirmed at the revision it is first seen at: the join
 * that brought it here has just looked its role up.
 */
export class RoleConfirmations {
  private confirmed = new Map<string, number>();

  /**
   * Takes the pairs joined now (with their document's revision), forgets the others, and
   * returns the keys of those whose document moved since their role was confirmed.
   */
  sweep(pairs: Iterable<readonly [key: string, revision: number]>): Set<string> {
    const next = new Map<string, number>();
    const moved = new Set<string>();
    for (const [key, revision] of pairs) {
      const at = this.confirmed.get(key);
      next.set(key, at ?? revision);
      if (at !== undefined && at !== revision) moved.add(key);
    }
    this.confirmed = next;
    return moved;
  }

  /** The role was looked up when the document was at `revision`. */
  confirm(key: string, revision: number): void {
    if (this.confirmed.has(key)) this.confirmed.set(key, revision);
  }
}
