import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rebase } from '../../src/engine/document.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { apply, transformChanges } from '../../src/ot/index.js';
import type { Change, DocState } from '../../src/ot/types.js';
import { changeSpecArb, docArb, realizeChange, type OpSpec } from './ot-arbitraries.js';

const committed = (ops: Change, i: number): CommittedChange => ({ rev: i, ops, actor: 'a', seq: i + 1, userId: 'u', committedAt: 0 });

/** Changes applied one after another from `doc`, each valid on the result of the previous. */
function sequence(doc: DocState, specs: readonly OpSpec[][]): Change[] {
  const out: Change[] = [];
  let cur = doc;
  for (const s of specs) {
    const change = realizeChange(cur, s);
    out.push(change);
    cur = apply(cur, change);
  }
  return out;
}

describe('engine rebase (delta conversions once per change)', () => {
  it('equals transforming over each committed change in turn, committed side winning ties', () => {
    fc.assert(
      fc.property(docArb, changeSpecArb, fc.array(changeSpecArb, { maxLength: 4 }), fc.integer({ min: 0, max: 4 }), (doc, own, specs, split) => {
        const change = realizeChange(doc, own);
        const against = sequence(doc, specs);
        const unseen = against.slice(0, split).map(committed);
        const batch = against.slice(split).map(committed);
        expect(rebase(change, unseen, batch)).toEqual(transformChanges(change, against, 'right'));
      }),
      { numRuns: 600 },
    );
  });

  it('reuses a committed change as is when nothing is to be transformed', () => {
    const ops: Change = [{ type: 'insert', pos: 0, text: 'x' }];
    expect(rebase(ops, [], [])).toBe(ops);
    expect(rebase(ops, [committed([], 0)], [])).toBe(ops);
  });
});
