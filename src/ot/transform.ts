import { changeToDelta, deltaToChange, transformDeltas } from './delta.js';
import type { Change } from './types.js';

export type Side = 'left' | 'right';

export function oppositeSide(side: Side): Side {
  return side === 'left' ? 'right' : 'left';
}

/**
 * Rebases `change` so it applies after `against` (both made on the same document).
 *
 * `side` breaks ties: 'right' puts `change` after `against` (at equal insert positions
 * `against`'s text comes first, and on a format conflict over the same key and characters
 * `against`'s value wins); 'left' the reverse. The two sides of a pair must use opposite
 * values: the server uses transform(incoming, committed, 'right'), a client
 * transform(remoteCommitted, localPending, 'left'), so committed text always wins.
 *
 * Other rules: overlapping deletes delete what is left; an insert inside a concurrently
 * deleted range survives at the deletion point; formats shrink to the surviving text; text
 * inserted concurrently inside a formatted range is not formatted by it (the inserting user
 * chose its attributes). May return an empty change (nothing left to do).
 */
export function transform(change: Change, against: Change, side: Side): Change {
  if (change.length === 0 || against.length === 0) return change;
  return deltaToChange(transformDeltas(changeToDelta(change), changeToDelta(against), side === 'right'));
}

/** Rebases `change` over a sequence of changes applied one after another. */
export function transformChanges(change: Change, againstList: readonly Change[], side: Side): Change {
  let out = change;
  for (const against of againstList) out = transform(out, against, side);
  return out;
}
