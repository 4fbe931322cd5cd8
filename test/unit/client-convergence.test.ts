import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DocumentSession, type DocumentMessage, type DocumentTransport } from '../../src/client/document.js';
import { silentLogger } from '../../src/client/logger.js';
import { DocumentEngine, type CommitListener, type SubmitOrigin } from '../../src/engine/document.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { Doc, apply, docText, transform } from '../../src/ot/index.js';
import type { Change } from '../../src/ot/types.js';
import type { CommittedChangeWire, ServerMessage } from '../../src/protocol/messages.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

/*
 * Several real SDK sessions typing into one document while the network holds their frames
 * for random times (each direction of each connection in order, as over a socket), drops
 * connections (frames on the way are lost, the client rejoins and resends), and composes
 * bursts typed while a change is in flight into multi-op changes split at maxOps. Once
 * everything is delivered every client must hold the server's text, with no resync.
 */

const DOC = '00000000-0000-4000-8000-0000000000aa';
/** Small, so composed buffers are split across several changes. */
const MAX_OPS = 3;

/** One client's connection: frames on their way up and down. */
class Link implements DocumentTransport {
  readonly up: DocumentMessage[] = [];
  readonly down: ServerMessage[] = [];
  readonly problems: string[] = [];
  /** The server's side: a dropped connection hears nothing until its rejoin is answered. */
  subscribed = true;
  readonly connected = true;
  readonly maxOps = MAX_OPS;
  readonly maxMessageBytes = 1_048_576;
  readonly cursorThrottleMs = 0;
  readonly logger = silentLogger;
  send(message: DocumentMessage): boolean {
    this.up.push(message);
    return true;
  }
  retryDelayMs(): number {
    return 1000;
  }
  reconnect(reason: string): void {
    this.problems.push(`reconnect: ${reason}`);
  }
}

interface Server {
  receive(message: DocumentMessage, from: Link): void | Promise<void>;
  /** Resolves when nothing the server was given is still being processed. */
  settled(): Promise<void>;
  readonly text: string;
}

const wire = (c: CommittedChange | { rev: number; ops: Change; actor: string; seq: number }): CommittedChangeWire => ({
  rev: c.rev,
  ops: c.ops,
  clock: { actor: c.actor, seq: c.seq },
  user: 'u',
});

function joinedReply(from: Link, rev: number, missed: CommittedChangeWire[] | undefined, content: Doc): ServerMessage {
  from.subscribed = true;
  return { type: 'joined', doc: DOC, rev, role: 'editor', presence: [], ...(missed ? { changes: missed } : { content: content.runs() }) };
}

/** The engine's algorithm, synchronous: transform past every change committed since the client's revision. */
class ReferenceServer implements Server {
  private readonly log: { rev: number; ops: Change; actor: string; seq: number }[] = [];
  private head = 0;
  private content = Doc.empty;

  constructor(private readonly links: readonly Link[]) {}

  get text(): string {
    return docText(this.content);
  }

  settled(): Promise<void> {
    return Promise.resolve();
  }

  receive(message: DocumentMessage, from: Link): void {
    if (message.type === 'join') {
      const since = message.rev;
      const missed = since === undefined ? undefined : this.log.filter((c) => c.rev >= since && c.ops.length > 0).map(wire);
      from.down.push(joinedReply(from, this.head, missed, this.content));
      return;
    }
    if (message.type !== 'change') return;
    const { actor, seq, rev: base } = message.clock;
    const duplicate = this.log.find((c) => c.actor === actor && c.seq === seq);
    if (duplicate) {
      from.down.push({ type: 'ack', doc: DOC, seq, rev: duplicate.rev, count: duplicate.ops.length });
      return;
    }
    let ops = message.ops;
    for (const c of this.log) if (c.rev >= base) ops = transform(ops, c.ops, 'right');
    this.content = apply(this.content, ops);
    const committed = { rev: this.head, ops, actor, seq };
    this.log.push(committed);
    this.head += ops.length;
    for (const link of this.links) {
      if (link === from) link.down.push({ type: 'ack', doc: DOC, seq, rev: committed.rev, count: ops.length });
      else if (ops.length > 0 && link.subscribed) link.down.push({ type: 'change', doc: DOC, ...wire(committed) });
    }
  }
}

/** The real engine on the in-memory log: batches, transforms against `unseen`, deduplication. */
class EngineServer implements Server {
  private constructor(private readonly engine: DocumentEngine) {}

  static async start(links: readonly Link[]): Promise<EngineServer> {
    const listener: CommitListener = {
      applied(_doc, change, origins) {
        const authors = new Set(origins.map((o) => (o as SubmitOrigin & { link?: Link }).link));
        if (change.ops.length > 0) {
          for (const link of links) if (!authors.has(link) && link.subscribed) link.down.push({ type: 'change', doc: DOC, ...wire(change) });
        }
        for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
      },
    };
    const engine = await DocumentEngine.load(DOC, new MemoryOpLog(), listener, testEngineOptions({ maxOps: MAX_OPS }));
    return new EngineServer(engine);
  }

  get text(): string {
    return docText(this.engine.state);
  }

  async settled(): Promise<void> {
    // Admission is asynchronous: let submissions reach the queue before waiting for idleness.
    await new Promise((r) => setTimeout(r, 0));
    await this.engine.whenIdle();
  }

  async receive(message: DocumentMessage, from: Link): Promise<void> {
    if (message.type === 'join') {
      const since = message.rev;
      let missed = since === undefined ? undefined : await this.engine.changesSince(since);
      if (missed) {
        // As the relay does: what committed while the read resolved is in the window.
        const last = missed[missed.length - 1];
        const end = last ? last.rev + last.ops.length : (since ?? 0);
        missed = [...missed, ...(this.engine.committedSince(end) ?? [])];
      }
      from.down.push(joinedReply(from, this.engine.headRev, missed?.map(wire), Doc.from(this.engine.state)));
      return;
    }
    if (message.type !== 'change') return;
    const origin: SubmitOrigin & { link: Link } = {
      link: from,
      acked: (ack) => {
        if (from.subscribed) from.down.push({ type: 'ack', doc: DOC, seq: ack.seq, rev: ack.rev, count: ack.count });
      },
      rejected: (err) => from.problems.push(`refused: ${err.message}`),
    };
    const { actor, seq, rev } = message.clock;
    this.engine.submit({ actor, seq, baseRev: rev, ops: message.ops, userId: 'u' }, origin);
  }
}

type Step =
  | { kind: 'type'; client: number; at: number; text: string }
  | { kind: 'up' | 'down' | 'reconnect'; client: number }
  | { kind: 'tick' };

function steps(clients: number): fc.Arbitrary<Step[]> {
  const client = fc.nat(clients - 1);
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('type' as const), client, at: fc.double({ min: 0, max: 1, noNaN: true }), text: fc.constantFrom('a', 'b', 'xy', 'z') }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('up' as const, 'down' as const), client }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reconnect' as const), client }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'tick' as const }) },
  );
  return fc.array(step, { maxLength: 200 });
}

async function run(clients: number, script: readonly Step[], makeServer: (links: readonly Link[]) => Server | Promise<Server>): Promise<void> {
  const links = Array.from({ length: clients }, () => new Link());
  const server = await makeServer(links);
  const peers = links.map((link, i) => {
    const session = new DocumentSession(DOC, `actor-${i}`, link, () => `fresh-${i}`);
    session.on('error', (e) => link.problems.push(`${e.code}: ${e.message}`));
    session.handle({ type: 'joined', doc: DOC, rev: 0, role: 'editor', presence: [], content: [] });
    return { link, session };
  });
  const deliverUp = async (peer: (typeof peers)[number]) => {
    const message = peer.link.up.shift();
    if (message) await server.receive(message, peer.link);
  };
  const deliverDown = (peer: (typeof peers)[number]) => {
    const message = peer.link.down.shift();
    if (message) peer.session.handle(message);
  };
  for (const step of script) {
    if (step.kind === 'tick') {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    const peer = peers[step.client];
    if (!peer) continue;
    if (step.kind === 'type') {
      const length = peer.session.length;
      peer.session.insert(Math.min(length, Math.floor(step.at * (length + 1))), step.text);
    } else if (step.kind === 'up') {
      await deliverUp(peer);
    } else if (step.kind === 'down') {
      deliverDown(peer);
    } else {
      // The connection drops: frames on the way are lost; the client rejoins on a new one.
      peer.link.up.length = 0;
      peer.link.down.length = 0;
      peer.link.subscribed = false;
      peer.session.connectionLost();
      peer.link.send(peer.session.joinMessage());
    }
  }
  for (let round = 0; round < 10_000; round++) {
    await server.settled();
    if (peers.every((p) => p.link.up.length + p.link.down.length === 0 && !p.session.pending)) break;
    for (const peer of peers) {
      await deliverUp(peer);
      deliverDown(peer);
    }
  }
  for (const { link, session } of peers) {
    expect(link.problems).toEqual([]);
    expect(session.pending).toBe(false);
    expect(session.text).toBe(server.text);
  }
}

describe('SDK sessions converge (random delivery, reconnects, composed bursts)', () => {
  it('against the server algorithm', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 5 }).chain((n) => fc.tuple(fc.constant(n), steps(n))), ([n, script]) =>
        run(n, script, (links) => new ReferenceServer(links)),
      ),
      { numRuns: 1000 },
    );
  });

  it('against the engine, whose commits overlap with delivery', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 5 }).chain((n) => fc.tuple(fc.constant(n), steps(n))), ([n, script]) =>
        run(n, script, (links) => EngineServer.start(links)),
      ),
      { numRuns: 400 },
    );
  });
});
