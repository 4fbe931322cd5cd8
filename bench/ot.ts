/**
 * `npm run bench:ot`: the OT core's document representation, new (persistent piece tree,
 * src/ot/document.ts) against old (run array, bench/ot-reference.ts), in one run.
 *
 * 1. Single-character insert, delete and format at random positions, pure apply, on the
 *    documents of issue 12; median µs per edit.
 * 2. The automerge-paper trace replayed through apply (new and old) and through Yjs.
 * 3. Heap held by a 1,000,000-character, 100,000-run document.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Doc, apply, type Change, type DocState, type Op, type Run } from '../src/ot/index.js';
import { describeEnvironment, median } from './environment.js';
import { pack, unpack } from '../src/ot/packed.js';
import { referenceApply, referenceNormalize } from '../harness/ot-reference.js';
import { TRACE_CREDIT, loadAutomergePaper, replayReference, replayTree, replayYjs } from './ot-trace.js';
import { rng } from '../harness/rng.js';

type Kind = 'insert' | 'delete' | 'format';
const KINDS: readonly Kind[] = ['insert', 'delete', 'format'];

const SHAPES: readonly { chars: number; runs: number }[] = [
  { chars: 1_000, runs: 1 },
  { chars: 100_000, runs: 1 },
  { chars: 1_000_000, runs: 1 },
  { chars: 100_000, runs: 1_000 },
  { chars: 100_000, runs: 10_000 },
  { chars: 1_000_000, runs: 100_000 },
];

/** `chars` random letters in `runs` runs alternating bold and plain. */
function makeRuns(chars: number, runs: number, next: () => number): Run[] {
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

function randomEdit(kind: Kind, length: number, next: () => number): Change {
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
interface Core {
  readonly fromRuns: (runs: readonly Run[]) => Doc;
  readonly apply: (doc: Doc, change: Change) => Doc;
  readonly pack: (doc: Doc) => unknown;
  readonly unpack: (raw: unknown) => Doc | undefined;
}

const thisCore: Core = { fromRuns: (runs) => Doc.fromRuns(runs), apply: (doc, change) => apply(doc, change), pack, unpack };

/** Another build's src/ot (e.g. of the main branch: BENCH_BEFORE_DIST=/path/to/main/dist). */
async function loadBeforeCore(): Promise<Core | undefined> {
  const dir = process.env.BENCH_BEFORE_DIST;
  if (!dir) return undefined;
  const mod = (await import(pathToFileURL(resolve(dir, 'src/ot/index.js')).href)) as { Doc: typeof Doc; apply: (doc: Doc, change: Change) => Doc };
  const packed = (await import(pathToFileURL(resolve(dir, 'src/ot/packed.js')).href)) as { pack: (doc: Doc) => unknown; unpack: (raw: unknown) => Doc | undefined };
  return { fromRuns: (runs) => mod.Doc.fromRuns(runs), apply: (doc, change) => mod.apply(doc, change), pack: (doc) => packed.pack(doc), unpack: (raw) => packed.unpack(raw) };
}

/** Median µs per edit for the tree: batches of 100 edits on the evolving document. */
function timeTree(start: Doc, kind: Kind, next: () => number, core: Core = thisCore): number {
  const perEdit: number[] = [];
  let doc = start;
  for (let batch = 0; batch < 40; batch++) {
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

/** Median µs per edit for the run array: single edits until ~1 s or 300 edits (at least 5). */
function timeReference(start: DocState, kind: Kind, next: () => number): number {
  const perEdit: number[] = [];
  let doc = start;
  let length = start.reduce((n, r) => n + r.text.length, 0);
  const deadline = performance.now() + 1000;
  while (perEdit.length < 5 || (perEdit.length < 300 && performance.now() < deadline)) {
    const edit = randomEdit(kind, length, next);
    const t0 = performance.now();
    doc = referenceApply(doc, edit);
    perEdit.push((performance.now() - t0) * 1000);
    length += kind === 'insert' ? 1 : kind === 'delete' ? -1 : 0;
  }
  return median(perEdit);
}

const fmtUs = (us: number): string => (us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : us.toFixed(0)) + ' µs';
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pad = (s: string, n: number): string => s.padEnd(n);

/** This build's tree against another's (BENCH_BEFORE_DIST), interleaved per row so load drift hits both. */
function beforeAfterTable(before: Core): void {
  const next = rng(21);
  for (const core of [before, thisCore]) for (const kind of KINDS) timeTree(core.fromRuns(makeRuns(10_000, 100, next)), kind, next, core);
  console.log(`\n## Before (${process.env.BENCH_BEFORE_DIST}) and after (this build), same run, median µs per edit\n`);
  console.log('| document | before insert | after insert | before delete | after delete | before format | after format | before/after (format) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const { chars, runs } of SHAPES) {
    const runList = makeRuns(chars, runs, next);
    const label = `${fmtInt(chars)} chars, ${fmtInt(runs)} run${runs === 1 ? '' : 's'}`;
    const cells: string[] = [];
    let ratio = 0;
    for (const kind of KINDS) {
      const b = timeTree(before.fromRuns(runList), kind, next, before);
      const a = timeTree(thisCore.fromRuns(runList), kind, next);
      cells.push(fmtUs(b), fmtUs(a));
      ratio = b / a;
    }
    console.log(`| ${pad(label, 28)} | ${cells.join(' | ')} | ${ratio.toFixed(2)}× |`);
  }
  coldJoinBeforeAfter(before);
}

/** Packed snapshot -> Doc and the joined message's JSON, both builds interleaved (median of 7). */
function coldJoinBeforeAfter(before: Core): void {
  const runList = makeRuns(1_000_000, 100_000, rng(3));
  const figures = [before, thisCore].map((core) => ({ core, text: JSON.stringify(core.pack(core.fromRuns(runList))), unpack: [] as number[], json: [] as number[] }));
  for (let round = 0; round < 7; round++) {
    for (const f of figures) {
      // Each build's garbage collected before the other is timed, so neither pays for the other's.
      collectGarbage();
      const t0 = performance.now();
      const doc = f.core.unpack(JSON.parse(f.text));
      const t1 = performance.now();
      if (doc === undefined) throw new Error('unreachable');
      flatten(doc.runsJson());
      f.unpack.push(t1 - t0);
      f.json.push(performance.now() - t1);
    }
  }
  const [b, a] = figures as [(typeof figures)[number], (typeof figures)[number]];
  console.log('\n| cold join CPU, 1,000,000 chars / 100,000 runs | before | after | before/after |');
  console.log('|---|---|---|---|');
  for (const [label, bs, as] of [
    ['packed snapshot JSON -> Doc (JSON.parse + unpack)', b.unpack, a.unpack],
    ['run-list JSON of the joined message (Doc.runsJson)', b.json, a.json],
  ] as const) {
    console.log(`| ${label} | ${median(bs).toFixed(1)} ms | ${median(as).toFixed(1)} ms | ${(median(bs) / median(as)).toFixed(1)}× |`);
  }
}

function editTable(): Map<string, number> {
  const next = rng(12);
  // Warm the JIT on a small document first so the first row is not compile time.
  const warm = Doc.fromRuns(makeRuns(10_000, 100, next));
  for (const kind of KINDS) timeTree(warm, kind, next);
  const figures = new Map<string, number>();
  console.log('\n## Single-character edits at random positions, pure apply (median per edit)\n');
  console.log('| document | new insert | new delete | new format | old insert | old delete | old format | old/new (insert) | new edits/s (insert) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { chars, runs } of SHAPES) {
    const runList = makeRuns(chars, runs, next);
    const tree = Doc.fromRuns(runList);
    const array = referenceNormalize(runList);
    const label = `${fmtInt(chars)} chars, ${fmtInt(runs)} run${runs === 1 ? '' : 's'}`;
    const fresh = KINDS.map((k) => timeTree(tree, k, next));
    const old = KINDS.map((k) => timeReference(array, k, next));
    KINDS.forEach((k, i) => figures.set(`${chars}/${runs}/${k}`, fresh[i] as number));
    const ratio = (old[0] as number) / (fresh[0] as number);
    console.log(`| ${pad(label, 28)} | ${fresh.map(fmtUs).join(' | ')} | ${old.map(fmtUs).join(' | ')} | ${ratio.toFixed(0)}× | ${fmtInt(1e6 / (fresh[0] as number))} |`);
  }
  console.log('\nTargets: <= 5 µs at 1,000,000 chars / 100,000 runs, and within 2× of the 1,000-char figure:');
  for (const k of KINDS) {
    const big = figures.get(`1000000/100000/${k}`) ?? Number.NaN;
    const small = figures.get(`1000/1/${k}`) ?? Number.NaN;
    console.log(`  ${pad(k, 6)}: ${fmtUs(big)} (${big <= 5 ? 'ok' : 'MISSED'}), ${(big / small).toFixed(2)}× the 1k figure (${big / small <= 2 ? 'ok' : 'MISSED'})`);
  }
  return figures;
}

function traceTable(): void {
  console.log('\n## automerge-paper trace (259,778 edits), replayed through apply and through Yjs\n');
  const trace = loadAutomergePaper();
  if (trace === undefined) {
    console.log('traces not found (set RELAY_TRACES to the folder holding automerge-paper.json.gz): skipped');
    return;
  }
  // Three rounds interleaved, so drift in machine load hits every contender alike.
  const tree: number[] = [];
  const yjs: number[] = [];
  for (let round = 0; round < 3; round++) {
    tree.push(replayTree(trace));
    yjs.push(replayYjs(trace));
  }
  const old = replayReference(trace);
  const t = median(tree);
  const y = median(yjs);
  console.log('| replay | median of 3 | edits/s |');
  console.log('|---|---|---|');
  console.log(`| new (Doc, apply) | ${t.toFixed(0)} ms | ${fmtInt((trace.changes.length / t) * 1000)} |`);
  console.log(`| old (run array, apply), 1 round | ${old.toFixed(0)} ms | ${fmtInt((trace.changes.length / old) * 1000)} |`);
  console.log(`| Yjs ${yjsVersion()} (Y.Text, local) | ${y.toFixed(0)} ms | ${fmtInt((trace.changes.length / y) * 1000)} |`);
  console.log(`\nnew vs old: ${(old / t).toFixed(1)}× faster; new vs Yjs: ${(y / t).toFixed(2)}× (${t < y ? 'faster' : 'SLOWER'}); target <= 500 ms: ${t <= 500 ? 'ok' : 'MISSED'}`);
  console.log(`Trace credit: ${TRACE_CREDIT}.`);
}

function yjsVersion(): string {
  const pkg: unknown = createRequire(import.meta.url)('yjs/package.json');
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : '?';
}

function heapOf(build: () => unknown): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const kept = build();
  gc?.();
  const bytes = process.memoryUsage().heapUsed - before;
  if (kept === undefined) throw new Error('unreachable');
  return bytes;
}

function memoryTable(): void {
  console.log('\n## Heap held by one document (1,000,000 chars, 100,000 runs)\n');
  if ((globalThis as { gc?: unknown }).gc === undefined) console.log('(run with node --expose-gc for exact figures)');
  const runList = makeRuns(1_000_000, 100_000, rng(7));
  // Both forms share the run texts (about 2 MiB of characters), so this is structure overhead.
  const tree = heapOf(() => Doc.fromRuns(runList));
  const array = heapOf(() => referenceNormalize(runList));
  console.log(`structure beyond the shared texts: new (tree) ${(tree / 2 ** 20).toFixed(1)} MiB; old (run array) ${(array / 2 ** 20).toFixed(1)} MiB`);
}

/** The CPU part of a cold join (no database): snapshot runs to Doc, a tail of ops, the runs and JSON sent. */
/** A full collection where node runs with --expose-gc (bench:ot does), else nothing. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** `s` with its characters read once (a rope built by concatenation is flattened then, not by the socket). */
function flatten(s: string): string {
  s.charCodeAt(s.length >> 1);
  return s;
}

function coldJoinTable(): void {
  console.log('\n## Cold join, CPU part (1,000,000 chars, 100,000 runs; snapshot + 1,000-op tail; median of 5)\n');
  const next = rng(3);
  const snapshot = JSON.parse(JSON.stringify(makeRuns(1_000_000, 100_000, next))) as Run[];
  const tail: Change[] = [];
  let length = 1_000_000;
  for (let i = 0; i < 1000; i++) {
    const kind = KINDS[i % 3] as Kind;
    tail.push(randomEdit(kind, length, next));
    length += kind === 'insert' ? 1 : kind === 'delete' ? -1 : 0;
  }
  const packedText = JSON.stringify(pack(Doc.fromRuns(snapshot)));
  const load: number[] = [];
  const loadPacked: number[] = [];
  const replay: number[] = [];
  const serialize: number[] = [];
  const joinJson: number[] = [];
  for (let round = 0; round < 5; round++) {
    collectGarbage();
    const p0 = performance.now();
    const fromPacked = unpack(JSON.parse(packedText));
    loadPacked.push(performance.now() - p0);
    if (fromPacked === undefined) throw new Error('unreachable');
    const t0 = performance.now();
    let doc = Doc.fromRuns(JSON.parse(JSON.stringify(snapshot)) as Run[]);
    const t1 = performance.now();
    for (const c of tail) doc = apply(doc, c);
    const t2 = performance.now();
    // What a join sends (engine stateJson): a fresh Doc over the same tree, so nothing is memoized.
    const json = flatten(new Doc(doc.root).runsJson());
    const t3 = performance.now();
    const bytes = JSON.stringify(doc.runs()).length;
    const t4 = performance.now();
    if (bytes !== json.length) throw new Error('runsJson differs from JSON.stringify(runs())');
    load.push(t1 - t0);
    replay.push(t2 - t1);
    joinJson.push(t3 - t2);
    serialize.push(t4 - t3);
  }
  console.log(
    `snapshot JSON -> Doc: packed (what the engine stores) ${median(loadPacked).toFixed(1)} ms, run list ${median(load).toFixed(1)} ms; 1,000-op tail ${median(replay).toFixed(1)} ms; ` +
      `JSON for the joined message (Doc.runsJson, what a join sends) ${median(joinJson).toFixed(1)} ms; runs() + JSON.stringify ${median(serialize).toFixed(1)} ms`,
  );
}

console.log(`# bench:ot — ${describeEnvironment()}`);
console.log(`yjs ${yjsVersion()}`);
const before = await loadBeforeCore();
if (before) beforeAfterTable(before);
if (process.env.BENCH_OT_ONLY_BEFORE_AFTER) process.exit(0);
editTable();
traceTable();
memoryTable();
coldJoinTable();
