import { compose, invert, isNoop, transform } from '../ot/index.js';
import type { Change } from '../ot/types.js';
import type { DocumentSession } from './document.js';

export interface UndoOptions {
  /** Local edits closer together than this form one undo step (default 500 ms). */
  readonly groupMs?: number;
  readonly maxSteps?: number;
  readonly now?: () => number;
}

interface Step {
  /** The change that undoes the step, in the current local coordinates. */
  ops: Change;
  readonly at: number;
}

/**
 * Undo and redo of this user's own edits only. Each stack holds inverses in the coordinates
 * of the current local copy: a remote change is transformed through the stack from the newest
 * entry to the oldest (the newest inverse applies to the current document, the remote change
 * moved past it applies where the next one does), as in ot.js's UndoManager. Undoing then
 * removes exactly what this user typed, wherever others' edits moved it.
 */
export class UndoManager {
  private undoStack: Step[] = [];
  private redoStack: Step[] = [];
  private readonly groupMs: number;
  private readonly maxSteps: number;
  private readonly now: () => number;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly doc: DocumentSession,
    options: UndoOptions = {},
  ) {
    this.groupMs = options.groupMs ?? 500;
    this.maxSteps = options.maxSteps ?? 500;
    this.now = options.now ?? Date.now;
    this.unsubscribe = [
      doc.on('change', ({ ops }) => this.transformStacks(ops)),
      // The local copy was replaced: the inverses describe a document that no longer exists.
      doc.on('resynced', () => this.clear()),
    ];
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Submits a local edit and records it as an undo step (a new edit clears the redo stack). */
  submit(ops: Change): void {
    const before = this.doc.content;
    this.doc.submit(ops);
    this.record(invert(ops, before), this.undoStack, true);
    this.redoStack = [];
  }

  /** Undoes this user's latest step; returns the ops applied to the local copy (for the editor), or undefined. */
  undo(): Change | undefined {
    return this.replay(this.undoStack, this.redoStack);
  }

  redo(): Change | undefined {
    return this.replay(this.redoStack, this.undoStack);
  }

  clear(): void {
    this.undoStack = [];
    this.redoStack = [];
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
  }

  private replay(from: Step[], to: Step[]): Change | undefined {
    const step = from.pop();
    if (!step) return undefined;
    const before = this.doc.content;
    this.doc.submit(step.ops);
    to.push({ ops: invert(step.ops, before), at: 0 });
    return step.ops;
  }

  private record(inverse: Change, stack: Step[], mayGroup: boolean): void {
    if (isNoop(inverse)) return;
    const now = this.now();
    const last = stack.at(-1);
    if (mayGroup && last && now - last.at < this.groupMs) {
      // Undoing the group undoes the newer edit first, then the older.
      stack[stack.length - 1] = { ops: compose(inverse, last.ops), at: now };
      return;
    }
    stack.push({ ops: inverse, at: now });
    if (stack.length > this.maxSteps) stack.shift();
  }

  private transformStacks(remote: Change): void {
    this.undoStack = transformStack(this.undoStack, remote);
    this.redoStack = transformStack(this.redoStack, remote);
  }
}

function transformStack(stack: readonly Step[], remote: Change): Step[] {
  const result: Step[] = [];
  let other = remote;
  for (let i = stack.length - 1; i >= 0; i--) {
    const step = stack[i];
    if (!step) continue;
    const moved = transform(step.ops, other, 'right');
    other = transform(other, step.ops, 'left');
    // A step whose text others deleted entirely has nothing left to undo.
    if (!isNoop(moved)) result.push({ ops: moved, at: step.at });
  }
  return result.reverse();
}
