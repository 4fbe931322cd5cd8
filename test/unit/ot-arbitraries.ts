/**
 * Shared generators for the ot-*.test.ts files: random documents (with attributes and astral
 * characters, so surrogate pairs appear) and random valid changes on a given document.
 */
import fc from 'fast-check';
import { apply, docLength, docText, normalize } from '../../src/ot/index.js';
import type { Attributes, Change, DocState, Op, Run } from '../../src/ot/index.js';

const CHARS = ['a', 'b', 'c', ' ', '😀', '𝄞', 'é'];

export const textArb = (maxChars = 4): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: maxChars }).map((a) => a.join(''));

export const insertAttrsArb: fc.Arbitrary<Attributes | undefined> = fc.option(
  fc.record(
    { bold: fc.constant(true), color: fc.constantFrom('red', 'blue'), size: fc.constantFrom(1, 2) },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

export const formatAttrsArb: fc.Arbitrary<Attributes> = fc
  .record(
    {
      bold: fc.constantFrom(true, null),
      color: fc.constantFrom('red', 'blue', null),
      size: fc.constantFrom(1, 2, null),
    },
    { requiredKeys: [] },
  )
  .filter((a) => Object.keys(a).length > 0);

export const runArb: fc.Arbitrary<Run> = fc
  .tuple(textArb(6), insertAttrsArb)
  .map(([text, attrs]) => (attrs === undefined ? { text } : { text, attrs }));

export const docArb: fc.Arbitrary<DocState> = fc.array(runArb, { maxLength: 6 }).map((runs) => normalize(runs));

/** A position-independent description of an op; realized against a concrete document. */
export interface OpSpec {
  readonly kind: 0 | 1 | 2;
  readonly a: number;
  readonly b: number;
  readonly text: string;
  readonly insertAttrs: Attributes | undefined;
  readonly formatAttrs: Attributes;
}

export const opSpecArb: fc.Arbitrary<OpSpec> = fc.record({
  kind: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  a: fc.nat(),
  b: fc.nat(),
  text: textArb(),
  insertAttrs: insertAttrsArb,
  formatAttrs: formatAttrsArb,
});

export const changeSpecArb: fc.Arbitrary<OpSpec[]> = fc.array(opSpecArb, { minLength: 1, maxLength: 5 });

/** Positions of `text` that do not split a surrogate pair (0..length inclusive). */
export function boundaries(text: string): number[] {
  const out = [0];
  for (let i = 0; i < text.length; ) {
    const c = text.codePointAt(i) ?? 0;
    i += c > 0xffff ? 2 : 1;
    out.push(i);
  }
  return out;
}

/** Turns specs into a valid change on `doc` (each op valid on the result of the previous). */
export function realizeChange(doc: DocState, specs: readonly OpSpec[]): Change {
  const ops: Op[] = [];
  let cur = doc;
  for (const s of specs) {
    const bounds = boundaries(docText(cur));
    let op: Op;
    const kind = docLength(cur) === 0 ? 0 : s.kind;
    if (kind === 0) {
      const pos = bounds[s.a % bounds.length] ?? 0;
      op = s.insertAttrs === undefined ? { type: 'insert', pos, text: s.text } : { type: 'insert', pos, text: s.text, attrs: s.insertAttrs };
    } else {
      const i = s.a % (bounds.length - 1);
      const j = i + 1 + (s.b % Math.min(4, bounds.length - 1 - i));
      const pos = bounds[i] ?? 0;
      const len = (bounds[j] ?? 0) - pos;
      op = kind === 1 ? { type: 'delete', pos, len } : { type: 'format', pos, len, attrs: s.formatAttrs };
    }
    ops.push(op);
    cur = apply(cur, [op]);
  }
  return ops;
}

export { rng } from '../../harness/rng.js';

/** A random op spec drawn from a PRNG instead of fast-check. */
export function randomSpec(next: () => number): OpSpec {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const text = Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(CHARS)).join('');
  const insertAttrs = pick<Attributes | undefined>([undefined, undefined, { bold: true }, { color: 'red' }]);
  const formatAttrs = pick<Attributes>([{ bold: true }, { bold: null }, { color: 'blue' }, { color: 'red', bold: null }]);
  return {
    kind: pick([0, 0, 1, 2] as const),
    a: Math.floor(next() * 1e6),
    b: Math.floor(next() * 1e6),
    text,
    insertAttrs,
    formatAttrs,
  };
}
