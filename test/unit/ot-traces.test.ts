/**
 * Replays real editing traces through the OT core.
 *
 * Traces: Joseph Gentle's `editing-traces` collection (https://github.com/josephg/editing-traces),
 * CC BY 4.0; the automerge-paper trace was recorded by Martin Kleppmann. They live outside the
 * repo in ../shared/traces; the tests skip with a message when that folder is absent.
 */
import { describe, expect, it } from 'vitest';
import { apply, compose, docText, emptyDoc, oppositeSide, transform, type Change, type DocState, type Side } from '../../src/ot/index.js';
import { load, traceHasAstral, tracesAvailable, txnToChange, type Trace, type Txn } from '../support/traces.js';

/**
 * Jupiter's two-way step: an incoming change passes every unacknowledged change of this site,
 * each transformed past it in turn; `pendingSide` is the side the pending changes take in ties
 * (the other one goes to the incoming change). Returns the incoming change, ready to apply.
 */
function transformPast(pending: { change: Change }[], incoming: Change, pendingSide: Side): Change {
  const incomingSide = oppositeSide(pendingSide);
  let change = incoming;
  for (const p of pending) {
    const before = p.change;
    p.change = transform(before, change, pendingSide);
    change = transform(change, before, incomingSide);
  }
  return change;
}

const haveTraces = tracesAvailable();
if (!haveTraces) console.warn('ot-traces: ../shared/traces not found, skipping the trace replays');

describe.skipIf(!haveTraces)('sequential traces', () => {
  for (const name of ['seph-blog1', 'automerge-paper']) {
    it(`${name}: applying every txn yields endContent`, () => {
      const trace = load(name);
      const astral = traceHasAstral(trace);
      let doc: DocState = trace.startContent ? [{ text: trace.startContent }] : emptyDoc;
      const t0 = performance.now();
      for (const txn of trace.txns) doc = apply(doc, txnToChange(txn, doc, astral));
      const ms = performance.now() - t0;
      console.info(`${name}: ${trace.txns.length} changes applied in ${ms.toFixed(0)} ms`);
      expect(docText(doc)).toBe(trace.endContent);
    });
  }

  it('seph-blog1: composing txns in chunks gives the same document with few ops', () => {
    const trace = load('seph-blog1');
    const astral = traceHasAstral(trace);
    let doc: DocState = emptyDoc;
    let ops = 0;
    for (let i = 0; i < trace.txns.length; i += 200) {
      let composed: Change = [];
      let cur = doc;
      for (const txn of trace.txns.slice(i, i + 200)) {
        const c = txnToChange(txn, cur, astral);
        if (astral) cur = apply(cur, c);
        composed = compose(composed, c);
      }
      ops += composed.length;
      doc = apply(doc, composed);
    }
    expect(docText(doc)).toBe(trace.endContent);
    // ~137k txns compose into ~7k ops (about 10 per 200 txns): roughly one op per edit site
    // rather than one per keystroke.
    expect(ops).toBeLessThan(trace.txns.length / 15);
  });
});

/**
 * Concurrent replay: a central server (log order = trace order, which is topological) and one
 * client per agent, speaking classic Jupiter (Nichols et al. 1995): every message carries how
 * many messages of the other side it has seen; each side keeps its unacknowledged messages
 * and transforms incoming ones against them (server side 'right', so committed ops win ties;
 * client side 'left'). Unlike the one-in-flight protocol, clients send every txn at once,
 * which is what lets the replay show a client exactly the txns the trace says its author had
 * seen: before agent a's txn runs, its client processes server messages until it has seen
 * every txn of the txn's causal history. We check that this is a prefix of what the server
 * sent it (true for these traces: an agent sees the others' txns in trace order), so the
 * patch positions apply to exactly the document the author saw.
 */
function replayConcurrent(trace: Trace, order?: readonly number[]): { server: DocState; clients: DocState[] } {
  const txns = trace.txns;
  const agents = Math.max(...txns.map((t) => t.agent ?? 0)) + 1;
  const astral = traceHasAstral(trace);

  // Per-agent txn sequences form chains, so a vector clock per txn gives its causal history.
  const seqInAgent: number[] = [];
  const clock: number[][] = [];
  const counts = new Array<number>(agents).fill(0);
  txns.forEach((t, i) => {
    const a = t.agent ?? 0;
    const vc = new Array<number>(agents).fill(0);
    for (const p of t.parents ?? []) {
      const pc = clock[p] as number[];
      const pa = txns[p]?.agent ?? 0;
      for (let k = 0; k < agents; k++) vc[k] = Math.max(vc[k] as number, pc[k] as number);
      vc[pa] = Math.max(vc[pa] as number, (seqInAgent[p] as number) + 1);
    }
    seqInAgent[i] = counts[a] as number;
    if (vc[a] !== counts[a]) throw new Error(`txn ${i} does not follow its agent's previous txn`);
    counts[a] = (counts[a] as number) + 1;
    clock.push(vc);
  });
  const inHistory = (i: number, j: number): boolean => {
    const tj = txns[j] as Txn;
    return (clock[i]?.[tj.agent ?? 0] ?? 0) > (seqInAgent[j] as number);
  };

  interface ServerMsg {
    txn: number;
    seenClient: number;
    change: Change;
  }
  interface Pending {
    seq: number;
    change: Change;
  }
  const clients = Array.from({ length: agents }, () => ({
    doc: emptyDoc,
    received: 0,
    sent: 0,
    pending: [] as Pending[],
    inbox: [] as ServerMsg[],
    seenOthers: 0,
  }));
  const conns = Array.from({ length: agents }, () => ({ received: 0, sent: 0, outgoing: [] as { idx: number; change: Change }[] }));
  let server: DocState = emptyDoc;

  const clientReceive = (a: number): number => {
    const c = clients[a]!;
    const m = c.inbox.shift();
    if (m === undefined) throw new Error(`agent ${a} has no message left to receive`);
    c.pending = c.pending.filter((p) => p.seq >= m.seenClient);
    const change = transformPast(c.pending, m.change, 'right');
    c.doc = apply(c.doc, change);
    c.received++;
    return m.txn;
  };

  const serverReceive = (a: number, msg: { seq: number; seenServer: number; change: Change }, txn: number): void => {
    const conn = conns[a]!;
    conn.outgoing = conn.outgoing.filter((o) => o.idx >= msg.seenServer);
    const change = transformPast(conn.outgoing, msg.change, 'left');
    server = apply(server, change);
    conn.received++;
    conns.forEach((d, b) => {
      if (b === a) return;
      d.outgoing.push({ idx: d.sent, change });
      clients[b]!.inbox.push({ txn, seenClient: d.received, change });
      d.sent++;
    });
  };

  const done = new Uint8Array(txns.length);
  for (const i of order ?? txns.map((_, k) => k)) {
    const t = txns[i] as Txn;
    for (const p of t.parents ?? []) if (!done[p]) throw new Error(`order is not topological at txn ${i}`);
    done[i] = 1;
    const a = t.agent ?? 0;
    const c = clients[a]!;
    const othersInHistory = (clock[i] as number[]).reduce((s, n, k) => (k === a ? s : s + n), 0);
    while (c.seenOthers < othersInHistory) {
      const j = clientReceive(a);
      if (!inHistory(i, j)) throw new Error(`txn ${i}: agent ${a} would see txn ${j} before the trace says it did`);
      c.seenOthers++;
    }
    const change = txnToChange(t, c.doc, astral);
    c.doc = apply(c.doc, change);
    c.pending.push({ seq: c.sent, change });
    const msg = { seq: c.sent, seenServer: c.received, change };
    c.sent++;
    serverReceive(a, msg, i);
  }
  clients.forEach((c, a) => {
    while (c.inbox.length > 0) clientReceive(a);
  });
  return { server, clients: clients.map((c) => c.doc) };
}

/** Length of the differing window between two strings (after common prefix and suffix). */
function diffWindow(a: string, b: string): { at: number; a: string; b: string } {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return { at: p, a: a.slice(p, a.length - s), b: b.slice(p, b.length - s) };
}

describe.skipIf(!haveTraces)('concurrent traces (server + one Jupiter client per agent)', () => {
  it('clownschool (3 agents): every site ends with endContent', () => {
    const trace = load('clownschool');
    const t0 = performance.now();
    const { server, clients } = replayConcurrent(trace);
    console.info(`clownschool: ${trace.txns.length} txns replayed in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(docText(server)).toBe(trace.endContent);
    for (const doc of clients) expect(doc).toEqual(server);
  });

  /*
   * friendsforever, txns 22360..22368: from "...the 90s." agent 1 types " The" after the "."
   * while agent 0 deletes the "." and types ", hu" where it was. Once the "." is gone both
   * inserts sit at the same position, and position-based OT has no tombstone left to order
   * them: the tie goes to whichever the server committed first. In trace order agent 1's
   * " The" commits first, giving "90s The, hh?u whole" where the recorded (CRDT) result is
   * "90s, huh? The whole". Every site still converges; the text differs in that one spot.
   * If the server receives agent 0's five txns before agent 1's four (a legal arrival order:
   * the two groups are concurrent, and each agent still sees the other's txns in the order it
   * did in the trace), the replay reproduces endContent exactly.
   */
  it('friendsforever (2 agents), trace order: all sites converge; one known tie differs', () => {
    const trace = load('friendsforever');
    const t0 = performance.now();
    const { server, clients } = replayConcurrent(trace);
    console.info(`friendsforever: ${trace.txns.length} txns replayed in ${(performance.now() - t0).toFixed(0)} ms`);
    for (const doc of clients) expect(doc).toEqual(server);
    const w = diffWindow(trace.endContent, docText(server));
    expect(w.at).toBe(trace.endContent.indexOf(', huh? The whole'));
    expect(w.a).toBe(', huh? The');
    expect(w.b).toBe(' The, hh?u');
  });

  it('friendsforever, with agent 0 txns 22364..22368 arriving before 22360..22363: exact', () => {
    const trace = load('friendsforever');
    const order = trace.txns.map((_, k) => k);
    const moved = order.splice(22364, 5);
    order.splice(22360, 0, ...moved);
    const { server, clients } = replayConcurrent(trace, order);
    expect(docText(server)).toBe(trace.endContent);
    for (const doc of clients) expect(doc).toEqual(server);
  });
});
