import { describe, expect, it } from 'vitest';
import { divergedDocuments } from '../../bench/typing-tracker.js';

/*
 * The typing benchmark's convergence check. It used to compare texts even when the drain
 * had timed out with changes still on their way, and reported that as clients holding
 * different texts (with no error or resync behind it), hiding that the run did not drain.
 */
describe('typing benchmark verdict', () => {
  const midway = [{ id: 'doc-1', texts: ['abc', 'ab', 'abc'], typed: 3 }];

  it('does not call clients still catching up diverged when the run did not drain', () => {
    expect(divergedDocuments(midway, false)).toEqual([]);
  });

  it('reports different texts and lost keystrokes once everything drained', () => {
    expect(divergedDocuments(midway, true)).toEqual(['doc-1: clients hold different texts']);
    expect(divergedDocuments([{ id: 'doc-2', texts: ['ab', 'ab'], typed: 3 }], true)).toEqual(['doc-2: 2 characters for 3 keystrokes']);
    expect(divergedDocuments([{ id: 'doc-3', texts: ['abc', 'abc'], typed: 3 }], true)).toEqual([]);
  });
});
