/**
 * What bench:ot's edit tables share with their worker (ot-edit-worker.ts): the documents of
 * issue 12, random single-character edits, and timing them through one build's OT core.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Doc, apply, type Change, type Op, type Run } from '../src/ot/index.js';
import { pack, unpack } from '../src/ot/packed.js';
import { median } from './environment.js';

export type Kind = 'insert' | 'delete' | 'format';
export const KINDS: readonly Kind[] = ['insert', 'delete', 'format'];

export const SHAPES: readonly { chars: number; runs: number }[] = [
  { chars: 1_000, runs: 1 },
  { chars: 100_000, runs: 1 },
  { chars: 1_000_000, runs: 1 },
  { chars: 100_000, runs: 1_000 },
  { chars: 100_000, runs: 10_000 },
  { chars: 1_000_000, runs: 100_000 },
];

/** `chars` random letters in `runs` runs alternating bold and plain. */
export function makeRuns(chars: number, runs: number, next: () => number): Run[] {
  const out: Run[] = [];
  const per = Math.floor(chars / runs);
  for (let r = 0; r < runs; r++) {
    const n = r === runs - 1 ? chars - per * (runs - 1) : per;
    let text = '';
    for (let i = 0; i < n; i++) text += String.fromCharCode(97 + Math.floor(next() * 26));
    out.push(r % 2 === 0 ? { text } : { text, attrs: { bold: true } });
  }
  return out;
}

export function randomEdit(kind: Kind, length: number, next: () => number): Change {
  const pos = Math.floor(next() * (kind === 'insert' ? length + 1 : length));
  const op: Op =
    kind === 'insert'
      ? { type: 'insert', pos, text: 'x' }
      : kind === 'delete'
        ? { type: 'delete', pos, len: 1 }
        : { type: 'format', pos, len: 1, attrs: { italic: next() < 0.5 ? true : null } };
  return [op];
}

/** The OT core's entry points, this build's or another's (BENCH_BEFORE_DIST: before/after in one run). */
export interface Core {
  readonly fromRuns: (runs: readonly Run[]) => Doc;
  readonly apply: (doc: Doc, change: Change) => Doc;
  readonly pack: (doc: Doc) => unknown;
  readonly unpack: (raw: unknown) => Doc | undefined;
}

export const thisCore: Core = { fromRuns: (runs) => Doc.fromRuns(runs), apply: (doc, change) => apply(doc, change), pack, unpack };

/** Another build's src/ot (e.g. of the main branch: BENCH_BEFORE_DIST=/path/to/main/dist). */
export async function loadCore(dir: string): Promise<Core> {
  const mod = (await import(pathToFileURL(resolve(dir, 'src/ot/index.js')).href)) as { Doc: typeof Doc; apply: (doc: Doc, change: Change) => Doc };
  const packed = (await import(pathToFileURL(resolve(dir, 'src/ot/packed.js')).href)) as { pack: (doc: Doc) => unknown; unpack: (raw: unknown) => Doc | undefined };
  return { fromRuns: (runs) => mod.Doc.fromRuns(runs), apply: (doc, change) => mod.apply(doc, change), pack: (doc) => packed.pack(doc), unpack: (raw) => packed.unpack(raw) };
}

/** Median µs per edit: `batches` batches of 100 edits on the evolving document. */
export function timeTree(start: Doc, kind: Kind, next: () => number, core: Core = thisCore, batches = 40): number {
  const perEdit: number[] = [];
  let doc = start;
  for (let batch = 0; batch < batches; batch++) {
    let length = doc.length;
    const edits = Array.from({ length: 100 }, () => {
      const edit = randomEdit(kind, length, next);
      length += kind === 'insert' ? 1 : kind === 'delete' ? -1 : 0;
      return edit;
    });
    const t0 = performance.now();
    for (const e of edits) doc = core.apply(doc, e);
    perEdit.push(((performance.now() - t0) * 1000) / edits.length);
    // Untimed: put back as many characters as were deleted, so a small document never runs out.
    if (kind === 'delete') for (let i = 0; i < edits.length; i++) doc = core.apply(doc, randomEdit('insert', doc.length, next));
  }
  return median(perEdit);
}

/** Every kind of edit on every shape, untimed: the JIT has seen all of them before anything is timed. */
export function warmUp(core: Core, next: () => number): void {
  for (const { chars, runs } of SHAPES) {
    const doc = core.fromRuns(makeRuns(Math.min(chars, 100_000), Math.min(runs, 10_000), next));
    for (const kind of KINDS) timeTree(doc, kind, next, core, 10);
  }
}

/** One timing asked of a worker: a fresh document of the shape, edits drawn from `seed`. */
export interface EditTask {
  readonly chars: number;
  readonly runs: number;
  readonly kind: Kind;
  readonly seed: number;
}
