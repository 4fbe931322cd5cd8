/**
 * The automerge-paper editing trace (259,778 edits by Martin Kleppmann, from Joseph Gentle's
 * editing-traces collection, https://github.com/josephg/editing-traces, CC BY 4.0) replayed
 * through the OT core's apply, through the previous representation and through Yjs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as Y from 'yjs';
import { Doc, apply, docText, type Change, type DocState, type Op } from '../src/ot/index.js';
import { referenceApply } from '../harness/ot-reference.js';

export const TRACE_CREDIT =
  'automerge-paper trace: recorded by Martin Kleppmann, from Joseph Gentle\'s editing-traces (https://github.com/josephg/editing-traces), CC BY 4.0';

type Patch = [number, number, string];
interface SequentialTrace {
  readonly endContent: string;
  readonly txns: readonly { readonly patches: readonly Patch[] }[];
}

/** Where the traces live: RELAY_TRACES, else ../shared/traces beside the repository. */
function tracesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env['RELAY_TRACES'], resolve(here, '../../../shared/traces'), resolve(here, '../../shared/traces')];
  return candidates.find((d): d is string => d !== undefined && existsSync(join(d, 'README.md'))) ?? '';
}

export interface LoadedTrace {
  readonly patches: readonly Patch[];
  /** The same edits as OT changes, one per patch (the trace has no astral characters). */
  readonly changes: readonly Change[];
  readonly endContent: string;
}

export function loadAutomergePaper(): LoadedTrace | undefined {
  const dir = tracesDir();
  if (dir === '') return undefined;
  const trace = JSON.parse(gunzipSync(readFileSync(join(dir, 'automerge-paper.json.gz'))).toString('utf8')) as SequentialTrace;
  const patches = trace.txns.flatMap((t) => t.patches);
  if (patches.some((p) => /[\uD800-\uDFFF]/.test(p[2]))) throw new Error('automerge-paper: astral characters; positions would need conversion');
  const changes = patches.map(([pos, del, text]): Change => {
    const ops: Op[] = [];
    if (del > 0) ops.push({ type: 'delete', pos, len: del });
    if (text.length > 0) ops.push({ type: 'insert', pos, text });
    return ops;
  });
  return { patches, changes, endContent: trace.endContent };
}

function check(text: string, trace: LoadedTrace, who: string): void {
  if (text !== trace.endContent) throw new Error(`${who}: replay did not reproduce endContent`);
}

/** Milliseconds to apply every change to a Doc (the engine's and SDK's path). */
export function replayTree(trace: LoadedTrace): number {
  const t0 = performance.now();
  let doc = Doc.empty;
  for (const c of trace.changes) doc = apply(doc, c);
  const ms = performance.now() - t0;
  check(docText(doc), trace, 'tree');
  return ms;
}

/** Milliseconds with the previous run-array representation. */
export function replayReference(trace: LoadedTrace): number {
  const t0 = performance.now();
  let doc: DocState = [];
  for (const c of trace.changes) doc = referenceApply(doc, c);
  const ms = performance.now() - t0;
  check(docText(doc), trace, 'reference');
  return ms;
}

/** Milliseconds through a Yjs Y.Text, local edits in one Y.Doc (the cheapest Yjs path). */
export function replayYjs(trace: LoadedTrace): number {
  const t0 = performance.now();
  const ydoc = new Y.Doc();
  const text = ydoc.getText('t');
  for (const [pos, del, ins] of trace.patches) {
    if (del > 0) text.delete(pos, del);
    if (ins.length > 0) text.insert(pos, ins);
  }
  const ms = performance.now() - t0;
  check(text.toString(), trace, 'yjs');
  return ms;
}
