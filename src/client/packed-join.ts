import { apply } from '../ot/index.js';
import type { Doc } from '../ot/document.js';
import { docFromStored } from '../ot/packed.js';
import type { CommittedChangeWire, PackedSnapshotWire } from '../protocol/wire.js';

/**
 * The document a packed `joined` describes: the snapshot unpacked, then the changes after it,
 * which must be consecutive and end at the relay's revision `rev`. A string says why it does
 * not fit (the caller resynchronises, asking for content).
 */
export function docFromPackedJoin(snapshot: PackedSnapshotWire, changes: readonly CommittedChangeWire[], rev: number): Doc | string {
  let doc = docFromStored(snapshot);
  if (doc === undefined) return `the snapshot at revision ${snapshot.rev} could not be read`;
  let at = snapshot.rev;
  for (const change of changes) {
    if (change.rev !== at) return `a change at revision ${change.rev} follows the snapshot's copy at ${at}`;
    try {
      doc = apply(doc, change.ops);
    } catch (err) {
      return `the change at revision ${change.rev} did not fit: ${err instanceof Error ? err.message : String(err)}`;
    }
    at += change.ops.length;
  }
  return at === rev ? doc : `the snapshot and its changes end at revision ${at}, the relay says ${rev}`;
}
