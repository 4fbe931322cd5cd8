import { changeToDelta, composeDeltas, deltaToChange } from './delta.js';
import type { Change } from './types.js';

/**
 * One change equivalent to `a` then `b`, in compact form: consecutive typing becomes one
 * insert, adjacent deletes merge, text inserted by `a` and deleted by `b` disappears, so the
 * op count stays near the number of distinct edit sites. May be empty if `b` undoes `a`.
 */
export function compose(a: Change, b: Change): Change {
  return deltaToChange(composeDeltas(changeToDelta(a), changeToDelta(b)));
}

/**
 * The compact canonical form of a change (same effect, ops sorted left to right, merged).
 * Equal effects on text do not imply equal canonical forms; it is not a semantic normal form.
 */
export function compactChange(change: Change): Change {
  return deltaToChange(changeToDelta(change));
}
