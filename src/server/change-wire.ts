import type { CommittedChange } from '../engine/ports.js';
import type { CommittedChangeWire } from '../protocol/wire.js';

/** A committed change as clients receive it (the engine's record names its fields for the log). */
export function changeToWire(change: CommittedChange): CommittedChangeWire {
  return { rev: change.rev, ops: change.ops, clock: { actor: change.actor, seq: change.seq }, user: change.userId };
}
