/**
 * Multi-client convergence in the protocol the server and SDK use (ot.js / Jupiter style):
 * a central server with a log; each client has at most one change in flight plus a composed
 * buffer; messages travel FIFO per direction but client sends, server processing and
 * broadcasts interleave at random.
 */
import { describe, expect, it } from 'vitest';
import {
  apply,
  compose,
  transform,
  transformChanges,
  transformSelection,
  validateChange,
  docLength,
  type Change,
  type DocState,
  type Selection,
} from '../../src/ot/index.js';
import { docArb, randomSpec, realizeChange, rng } from './ot-arbitraries.js';
import fc from 'fast-check';

type ToClient = { kind: 'ack' } | { kind: 'op'; change: Change };

interface Client {
  doc: DocState;
  rev: number;
  inFlight: Change | null;
  buffer: Change | null;
  inbox: ToClient[];
  outbox: { rev: number; change: Change }[];
  caret: Selection;
}

class Server {
  doc: DocState;
  log: Change[] = [];
  constructor(
    doc: DocState,
    private readonly clients: Client[],
  ) {
    this.doc = doc;
  }

  receive(from: number, msg: { rev: number; change: Change }): void {
    // Committed changes win ties: the incoming one is the 'right' side.
    const change = transformChanges(msg.change, this.log.slice(msg.rev), 'right');
    if (change.length > 0) validateChange(this.doc, change, 1000);
    this.doc = apply(this.doc, change);
    this.log.push(change);
    this.clients.forEach((c, i) => c.inbox.push(i === from ? { kind: 'ack' } : { kind: 'op', change }));
  }
}

function send(c: Client): void {
  if (c.inFlight === null && c.buffer !== null) {
    c.inFlight = c.buffer;
    c.buffer = null;
    c.outbox.push({ rev: c.rev, change: c.inFlight });
  }
}

function localEdit(c: Client, change: Change): void {
  c.doc = apply(c.doc, change);
  c.caret = transformSelection(c.caret, change, docLength(c.doc));
  // An edit that cancels the buffer out leaves nothing to send.
  const merged = c.buffer === null ? change : compose(c.buffer, change);
  c.buffer = merged.length === 0 ? null : merged;
  send(c);
}

function deliver(c: Client, msg: ToClient): void {
  c.rev++;
  if (msg.kind === 'ack') {
    c.inFlight = null;
    send(c);
    return;
  }
  let remote = msg.change;
  if (c.inFlight !== null) {
    const mine = c.inFlight;
    c.inFlight = transform(mine, remote, 'right');
    remote = transform(remote, mine, 'left');
  }
  if (c.buffer !== null) {
    const mine = c.buffer;
    c.buffer = transform(mine, remote, 'right');
    remote = transform(remote, mine, 'left');
  }
  c.doc = apply(c.doc, remote);
  c.caret = transformSelection(c.caret, remote, docLength(c.doc));
}

function simulate(seed: number, start: DocState): { server: Server; clients: Client[] } {
  const next = rng(seed);
  const n = 2 + Math.floor(next() * 3);
  const clients: Client[] = Array.from({ length: n }, () => ({
    doc: start,
    rev: 0,
    inFlight: null,
    buffer: null,
    inbox: [],
    outbox: [],
    caret: { anchor: 0, head: 0 },
  }));
  const server = new Server(start, clients);
  const steps = 20 + Math.floor(next() * 60);
  for (let s = 0; s < steps; s++) {
    const c = clients[Math.floor(next() * n)] as Client;
    const i = clients.indexOf(c);
    const r = next();
    if (r < 0.45) {
      const specs = Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomSpec(next));
      localEdit(c, realizeChange(c.doc, specs));
    } else if (r < 0.75) {
      const msg = c.outbox.shift();
      if (msg !== undefined) server.receive(i, msg);
    } else {
      const msg = c.inbox.shift();
      if (msg !== undefined) deliver(c, msg);
    }
  }
  // Drain: everything sent is processed and delivered.
  for (let busy = true; busy; ) {
    busy = false;
    clients.forEach((c, i) => {
      for (let m = c.outbox.shift(); m !== undefined; m = c.outbox.shift()) {
        server.receive(i, m);
        busy = true;
      }
      for (let m = c.inbox.shift(); m !== undefined; m = c.inbox.shift()) {
        deliver(c, m);
        busy = true;
      }
    });
  }
  return { server, clients };
}

describe('multi-client simulation (one change in flight + composed buffer)', () => {
  const starts = fc.sample(docArb, { numRuns: 40, seed: 42 });

  // OT_SIM_SEEDS=20000 for a deep soak.
  const seeds = Number(process.env['OT_SIM_SEEDS'] ?? '400');
  it(`all clients and the server converge to identical runs for ${seeds} seeds`, () => {
    for (let seed = 1; seed <= seeds; seed++) {
      const { server, clients } = simulate(seed, starts[seed % starts.length] ?? []);
      expect(server.log.length).toBeGreaterThan(0);
      for (const c of clients) {
        expect(c.inFlight, `seed ${seed}`).toBeNull();
        expect(c.buffer, `seed ${seed}`).toBeNull();
        expect(c.rev).toBe(server.log.length);
        expect(c.doc, `seed ${seed}`).toEqual(server.doc);
        expect(c.caret.anchor).toBeLessThanOrEqual(docLength(c.doc));
      }
    }
  });
});
