/**
 * Real editing traces: Joseph Gentle's `editing-traces` collection
 * (https://github.com/josephg/editing-traces), CC BY 4.0; the automerge-paper trace was
 * recorded by Martin Kleppmann. They live outside the repo in ../shared/traces.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { apply, docText } from '../../src/ot/index.js';
import type { Change, DocState, Op } from '../../src/ot/types.js';

export const TRACES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/traces');

export type Patch = [number, number, string];
export interface Txn {
  patches: Patch[];
  agent?: number;
  parents?: number[];
}
export interface Trace {
  startContent?: string;
  endContent: string;
  numAgents?: number;
  txns: Txn[];
}

export function load(name: string): Trace {
  return JSON.parse(gunzipSync(readFileSync(join(TRACES, `${name}.json.gz`))).toString('utf8')) as Trace;
}

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/** Trace positions count code points; ours count UTF-16 units. */
export function cpToUtf16(text: string, from: number, cps: number): number {
  let i = from;
  for (let n = 0; n < cps; n++) i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
  return i - from;
}

/**
 * A txn's patches (applied one after another) as a change. `astral` says whether the doc may
 * contain astral characters; when not, code point and UTF-16 offsets coincide and we skip the
 * (linear) conversion.
 */
export function txnToChange(txn: Txn, doc: DocState, astral: boolean): Change {
  const ops: Op[] = [];
  let cur = doc;
  for (const [cpPos, cpDel, text] of txn.patches) {
    let pos = cpPos;
    let len = cpDel;
    if (astral) {
      const t = docText(cur);
      pos = cpToUtf16(t, 0, cpPos);
      len = cpToUtf16(t, pos, cpDel);
    }
    const step: Op[] = [];
    if (len > 0) step.push({ type: 'delete', pos, len });
    if (text.length > 0) step.push({ type: 'insert', pos, text });
    if (astral && txn.patches.length > 1) cur = apply(cur, step);
    ops.push(...step);
  }
  return ops;
}

export function traceHasAstral(trace: Trace): boolean {
  return HIGH_SURROGATE.test(trace.startContent ?? '') || trace.txns.some((t) => t.patches.some((p) => HIGH_SURROGATE.test(p[2])));
}


export function tracesAvailable(): boolean {
  return existsSync(join(TRACES, 'README.md'));
}
