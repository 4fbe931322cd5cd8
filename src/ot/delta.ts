/**
 * Internal "delta" form of a change: one left-to-right pass over the base document made of
 * retain / insert / delete components (the Quill delta model). Transform and compose are
 * simple, well-known algorithms on this form; positional changes are converted in and out.
 * Not exported from the package: the wire format is the positional Change.
 */
import { attrsEqual, composeAttrs, isEmptyAttrs, transformAttrs } from './attributes.js';
import type { Attributes, Change, Op } from './types.js';

export type Component =
  | { readonly kind: 'retain'; readonly n: number; readonly attrs?: Attributes }
  | { readonly kind: 'insert'; readonly text: string; readonly attrs?: Attributes }
  | { readonly kind: 'delete'; readonly n: number };

export type Delta = Component[];

function compLength(c: Component): number {
  return c.kind === 'insert' ? c.text.length : c.n;
}

function withAttrs<T extends object>(base: T, attrs: Attributes | undefined): T & { attrs?: Attributes } {
  return isEmptyAttrs(attrs) ? base : { ...base, attrs };
}

/** Appends while keeping the delta canonical: merges neighbours, inserts before deletes. */
export function push(delta: Delta, c: Component): void {
  if (compLength(c) === 0) return;
  const last = delta[delta.length - 1];
  if (last !== undefined) {
    if (last.kind === 'delete' && c.kind === 'delete') {
      delta[delta.length - 1] = { kind: 'delete', n: last.n + c.n };
      return;
    }
    // Canonical order at one position is insert-then-delete, so equal edits compare equal and
    // an insert typed right after a deletion can still merge with the insert before it.
    if (last.kind === 'delete' && c.kind === 'insert') {
      delta.pop();
      push(delta, c);
      delta.push(last);
      return;
    }
    if (last.kind === 'insert' && c.kind === 'insert' && attrsEqual(last.attrs, c.attrs)) {
      delta[delta.length - 1] = withAttrs({ kind: 'insert' as const, text: last.text + c.text }, last.attrs);
      return;
    }
    if (last.kind === 'retain' && c.kind === 'retain' && attrsEqual(last.attrs, c.attrs)) {
      delta[delta.length - 1] = withAttrs({ kind: 'retain' as const, n: last.n + c.n }, last.attrs);
      return;
    }
  }
  delta.push(c);
}

/** Drops a trailing plain retain: every delta implicitly retains the rest of the document. */
function chop(delta: Delta): Delta {
  const last = delta[delta.length - 1];
  if (last !== undefined && last.kind === 'retain' && last.attrs === undefined) delta.pop();
  return delta;
}

/** Walks a delta in pieces of chosen length; past the end it yields an endless plain retain. */
class Cursor {
  private index = 0;
  private offset = 0;

  constructor(private readonly delta: Delta) {}

  hasNext(): boolean {
    return this.index < this.delta.length;
  }

  peekKind(): Component['kind'] {
    return this.delta[this.index]?.kind ?? 'retain';
  }

  peekLength(): number {
    const c = this.delta[this.index];
    return c === undefined ? Infinity : compLength(c) - this.offset;
  }

  next(length = Infinity): Component {
    const c = this.delta[this.index];
    if (c === undefined) return { kind: 'retain', n: length };
    const remaining = compLength(c) - this.offset;
    const take = Math.min(length, remaining);
    const start = this.offset;
    if (take === remaining) {
      this.index++;
      this.offset = 0;
    } else {
      this.offset += take;
    }
    if (c.kind === 'insert') return withAttrs({ kind: 'insert' as const, text: c.text.slice(start, start + take) }, c.attrs);
    if (c.kind === 'retain') return withAttrs({ kind: 'retain' as const, n: take }, c.attrs);
    return { kind: 'delete', n: take };
  }
}

/** `b` applied after `a`, as one delta. */
export function composeDeltas(a: Delta, b: Delta): Delta {
  const ia = new Cursor(a);
  const ib = new Cursor(b);
  const out: Delta = [];
  while (ia.hasNext() || ib.hasNext()) {
    if (ib.peekKind() === 'insert') {
      push(out, ib.next());
    } else if (ia.peekKind() === 'delete') {
      push(out, ia.next());
    } else {
      const length = Math.min(ia.peekLength(), ib.peekLength());
      const ca = ia.next(length);
      const cb = ib.next(length);
      if (cb.kind === 'retain') {
        if (ca.kind === 'retain') {
          push(out, withAttrs({ kind: 'retain' as const, n: length }, composeAttrs(ca.attrs, cb.attrs, true)));
        } else if (ca.kind === 'insert') {
          push(out, withAttrs({ kind: 'insert' as const, text: ca.text }, composeAttrs(ca.attrs, cb.attrs, false)));
        }
      } else if (cb.kind === 'delete' && ca.kind === 'retain') {
        push(out, cb);
      }
      // insert in `a` deleted by `b`: the two cancel out.
    }
  }
  return chop(out);
}

/**
 * `b` rebased onto `a` (both made on the same document). `aWins` decides ties: `a`'s inserts
 * at the same position come first and `a`'s attribute values win on overlapping formats.
 */
export function transformDeltas(b: Delta, a: Delta, aWins: boolean): Delta {
  const ia = new Cursor(a);
  const ib = new Cursor(b);
  const out: Delta = [];
  while (ia.hasNext() || ib.hasNext()) {
    if (ia.peekKind() === 'insert' && (aWins || ib.peekKind() !== 'insert')) {
      push(out, { kind: 'retain', n: compLength(ia.next()) });
    } else if (ib.peekKind() === 'insert') {
      push(out, ib.next());
    } else {
      const length = Math.min(ia.peekLength(), ib.peekLength());
      const ca = ia.next(length);
      const cb = ib.next(length);
      if (ca.kind === 'delete') continue; // b's part is gone already
      if (cb.kind === 'delete') {
        push(out, cb);
      } else if (cb.kind === 'retain') {
        // Text inserted by a concurrent change is skipped above, so a format never reaches it.
        push(out, withAttrs({ kind: 'retain' as const, n: length }, transformAttrs(cb.attrs, ca.kind === 'retain' ? ca.attrs : undefined, aWins)));
      }
    }
  }
  return chop(out);
}

/** Converts positional ops (each on the result of the previous) into one delta. */
export function changeToDelta(change: Change): Delta {
  let acc: Delta = [];
  for (const op of change) acc = composeDeltas(acc, opToDelta(op));
  return acc;
}

function opToDelta(op: Op): Delta {
  const d: Delta = [];
  push(d, { kind: 'retain', n: op.pos });
  if (op.type === 'insert') push(d, withAttrs({ kind: 'insert' as const, text: op.text }, op.attrs));
  else if (op.type === 'delete') push(d, { kind: 'delete', n: op.len });
  else push(d, withAttrs({ kind: 'retain' as const, n: op.len }, op.attrs));
  return chop(d);
}

/** Converts a delta back to positional ops, one op per component that changes something. */
export function deltaToChange(delta: Delta): Op[] {
  const ops: Op[] = [];
  let pos = 0;
  for (const c of delta) {
    if (c.kind === 'insert') {
      ops.push(c.attrs === undefined ? { type: 'insert', pos, text: c.text } : { type: 'insert', pos, text: c.text, attrs: c.attrs });
      pos += c.text.length;
    } else if (c.kind === 'delete') {
      ops.push({ type: 'delete', pos, len: c.n });
    } else {
      if (c.attrs !== undefined) ops.push({ type: 'format', pos, len: c.n, attrs: c.attrs });
      pos += c.n;
    }
  }
  return ops;
}
