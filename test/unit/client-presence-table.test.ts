import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RemotePresenceTable, type RemotePresence } from '../../src/client/presence.js';
import { transformSelection, type Change, type Selection } from '../../src/ot/index.js';
import type { PresenceState } from '../../src/protocol/wire.js';

/**
 * The table keeps a count of stored selections so a committed change skips the walk when
 * there are none; this checks it against the plain table it replaced, on random sequences.
 */
class ReferenceTable {
  private readonly bySession = new Map<string, { user: PresenceState['user']; selection: Selection | null; typing: boolean; data: PresenceState['data'] }>();
  set(state: PresenceState): void {
    this.bySession.set(state.session, { user: state.user, selection: state.selection, typing: state.typing, data: state.data });
  }
  remove(session: string): boolean {
    return this.bySession.delete(session);
  }
  clear(): void {
    this.bySession.clear();
  }
  transform(committed: Change): void {
    for (const p of this.bySession.values()) if (p.selection) p.selection = transformSelection(p.selection, committed);
  }
  list(toLocal: (s: Selection) => Selection): RemotePresence[] {
    return [...this.bySession].map(([session, p]) => ({
      session,
      user: p.user,
      typing: p.typing,
      selection: p.selection ? toLocal(p.selection) : null,
      ...(p.data !== undefined ? { data: p.data } : {}),
    }));
  }
}

const session = fc.constantFrom('s1', 's2', 's3', 's4');
const selection = fc.option(fc.record({ anchor: fc.nat(40), head: fc.nat(40) }), { nil: null });
const step = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    session,
    selection,
    typing: fc.boolean(),
    data: fc.option(fc.record({ mode: fc.string({ maxLength: 3 }) }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('remove' as const), session }),
  fc.record({ kind: fc.constant('clear' as const) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(40), text: fc.string({ minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(40), len: fc.integer({ min: 1, max: 5 }) }),
);

describe('RemotePresenceTable', () => {
  it('lists and moves selections exactly as the plain table did', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const table = new RemotePresenceTable();
        const reference = new ReferenceTable();
        const toLocal = (s: Selection): Selection => ({ anchor: s.anchor + 1, head: s.head });
        for (const s of steps) {
          switch (s.kind) {
            case 'set': {
              const state: PresenceState = { session: s.session, user: { id: `u-${s.session}`, name: s.session, color: '#123456' }, selection: s.selection, typing: s.typing, ...(s.data ? { data: s.data } : {}) };
              table.set(state);
              reference.set(state);
              break;
            }
            case 'remove':
              expect(table.remove(s.session)).toBe(reference.remove(s.session));
              break;
            case 'clear':
              table.clear();
              reference.clear();
              break;
            case 'insert':
              table.transform([{ type: 'insert', pos: s.pos, text: s.text }]);
              reference.transform([{ type: 'insert', pos: s.pos, text: s.text }]);
              break;
            case 'delete':
              table.transform([{ type: 'delete', pos: s.pos, len: s.len }]);
              reference.transform([{ type: 'delete', pos: s.pos, len: s.len }]);
              break;
          }
          expect(table.list(toLocal)).toEqual(reference.list(toLocal));
          expect(table.size).toBe(reference.list(toLocal).length);
        }
      }),
      { numRuns: 500 },
    );
  });
});
