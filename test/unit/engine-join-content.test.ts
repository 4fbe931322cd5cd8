/**
 * Issue 9.4 and 12 (engine side): a rejoin from an old revision is answered with the content
 * when that is smaller, decided without reading a long log; snapshots are written packed, in
 * slices, and a cold load reads them back (or the log alone, when a snapshot is damaged); a
 * packed first join gets the latest snapshot plus the changes since.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { docFromPackedJoin } from '../../src/client/packed-join.js';
import { DocumentEngine, type Ack, type CommitListener } from '../../src/engine/document.js';
import { JoinBase, packedSnapshotJson } from '../../src/engine/join-base.js';
import type { EngineError } from '../../src/engine/errors.js';
import { Doc, docText } from '../../src/ot/index.js';
import { isPacked, pack } from '../../src/ot/packed.js';
import type { Change } from '../../src/ot/types.js';
import type { PackedSnapshotWire } from '../../src/protocol/wire.js';
import { changeToWire } from '../../src/server/change-wire.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';

const DOC = '00000000-0000-4000-8000-000000000094';

const acking: CommitListener = {
  applied(_docId, change, origins) {
    for (const o of origins) o.acked({ seq: change.seq, rev: change.rev, count: change.ops.length }, false);
  },
};

function submit(engine: DocumentEngine, actor: string, seq: number, ops: Change): Promise<Ack> {
  return new Promise((resolve, reject) => {
    engine.submit({ userId: 'u1', actor, seq, baseRev: engine.headRev, ops }, { acked: resolve, rejected: (err: EngineError) => reject(err) });
  });
}

async function typed(store: MemoryOpLog, chars: number, options = testEngineOptions()): Promise<DocumentEngine> {
  const engine = await DocumentEngine.load(DOC, store, acking, options);
  const actor = randomUUID();
  for (let seq = 1; seq <= chars; seq++) await submit(engine, actor, seq, [{ type: 'insert', pos: seq - 1, text: 'x' }]);
  return engine;
}

describe('rejoin: content or changes', () => {
  it('prefers the content when the missed changes outweigh it, without reading the log for old ones', async () => {
    const store = new MemoryOpLog();
    await typed(store, 300);
    // A fresh load: nothing in memory, the whole log behind the snapshot-less head.
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    let reads = 0;
    const read = store.readChanges.bind(store);
    store.readChanges = (...args) => {
      reads++;
      return read(...args);
    };
    expect(engine.prefersContent(0)).toBe(true);
    expect(engine.prefersContent(299)).toBe(false);
    expect(engine.prefersContent(300)).toBe(false);
    expect(engine.prefersContent(301)).toBe(false);
    expect(reads).toBe(0);
  });

  it('measures changes in memory: a few large ones can outweigh a short document', async () => {
    const store = new MemoryOpLog();
    const engine = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    const actor = randomUUID();
    await submit(engine, actor, 1, [{ type: 'insert', pos: 0, text: 'y'.repeat(5000) }]);
    await submit(engine, actor, 2, [{ type: 'delete', pos: 0, len: 4000 }]);
    expect(engine.prefersContent(0)).toBe(true);
    expect(engine.prefersContent(1)).toBe(false);
  });
});

describe('snapshots', () => {
  it('are written packed, in slices, and a cold load reads them back with the tail', async () => {
    const store = new MemoryOpLog();
    const engine = await typed(store, 5000, testEngineOptions({ snapshotIntervalOps: 4000 }));
    await engine.whenIdle();
    for (let i = 0; i < 100 && !store.snapshots.get(DOC)?.length; i++) await new Promise((r) => setTimeout(r, 5));
    const saved = store.snapshots.get(DOC)?.at(-1);
    expect(saved?.rev).toBe(4000);
    expect(saved && isPacked(saved.content)).toBe(true);
    const cold = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect(cold.headRev).toBe(5000);
    expect(docText(cold.state)).toBe('x'.repeat(5000));
  });

  it('a damaged snapshot is passed over: the log alone rebuilds the document', async () => {
    const store = new MemoryOpLog();
    await typed(store, 20);
    store.snapshots.set(DOC, [{ rev: 10, content: { text: 'xx', runs: '5', attrs: [] } }]);
    const cold = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect(cold.headRev).toBe(20);
    expect(docText(cold.state)).toBe('x'.repeat(20));
  });

  it('a load whose tail read saw another snapshot than its snapshot read starts the tail at the one it uses', async () => {
    const store = new MemoryOpLog();
    const engine = await typed(store, 30);
    store.snapshots.set(DOC, [{ rev: 20, content: { text: 'x'.repeat(20), runs: 'k', attrs: [] } }]);
    let reads = 0;
    const readFrom = store.readChanges.bind(store);
    store.readChanges = (...args) => {
      reads++;
      return readFrom(...args);
    };
    // Older (a snapshot written after the tail read): the tail is cut at the snapshot's revision.
    store.readChangesSinceLatestSnapshot = async (doc) => ({ fromRev: 0, changes: await readFrom(doc, 0) });
    const older = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    // (Tail from 0 on top of the snapshot would give 50 characters.)
    expect([older.headRev, docText(older.state), reads]).toEqual([30, docText(engine.state), 0]);
    // Newer (written between the two reads): the tail is read again from the snapshot used.
    store.readChangesSinceLatestSnapshot = async (doc) => ({ fromRev: 25, changes: await readFrom(doc, 25) });
    const newer = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect([newer.headRev, docText(newer.state), reads]).toEqual([30, docText(engine.state), 1]);
  });
});

describe('packed first joins (JoinBase)', () => {
  /** `changes` changes of one 50-character insert at the end each, bold and plain in turn. */
  async function formatted(store: MemoryOpLog, changes: number, options = testEngineOptions()): Promise<DocumentEngine> {
    const engine = await DocumentEngine.load(DOC, store, acking, options);
    const actor = randomUUID();
    for (let seq = 1; seq <= changes; seq++) {
      const text = String.fromCharCode(96 + (seq % 26) + 1).repeat(50);
      await submit(engine, actor, seq, [{ type: 'insert', pos: (seq - 1) * 50, text, ...(seq % 2 === 0 ? { attrs: { bold: true } } : {}) }]);
    }
    await engine.whenIdle();
    return engine;
  }

  /** The document a base describes: its snapshot unpacked, then its changes. */
  function rebuilt(engine: DocumentEngine): { rev: number; text: string; runs: unknown } {
    const base = engine.packedJoinBase();
    if (!base) throw new Error('no packed base');
    const copy = docFromPackedJoin(JSON.parse(base.snapshotJson) as PackedSnapshotWire, base.changes.map(changeToWire), engine.headRev);
    if (typeof copy === 'string') throw new Error(copy);
    return { rev: base.rev, text: copy.text(), runs: copy.runs() };
  }

  it('moves to each snapshot written, and after a cold load starts at the stored one', async () => {
    const store = new MemoryOpLog();
    const engine = await formatted(store, 43, testEngineOptions({ snapshotIntervalOps: 40 }));
    for (let i = 0; i < 100 && engine.packedJoinBase()?.rev !== 40; i++) await new Promise((r) => setTimeout(r, 5));
    expect(rebuilt(engine)).toEqual({ rev: 40, text: docText(engine.state), runs: engine.state });
    expect(engine.packedJoinBase()?.changes.map((c) => c.rev)).toEqual([40, 41, 42]);

    const cold = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect(rebuilt(cold)).toEqual({ rev: 40, text: docText(engine.state), runs: engine.state });
  });

  it('is not offered when the content is smaller: a short document, or a damaged snapshot replaced by the whole log', async () => {
    const small = await DocumentEngine.load(randomUUID(), new MemoryOpLog(), acking, testEngineOptions());
    await submit(small, randomUUID(), 1, [{ type: 'insert', pos: 0, text: 'hello' }]);
    expect(small.packedJoinBase()).toBeUndefined();
    const store = new MemoryOpLog();
    const engine = await formatted(store, 30);
    store.snapshots.set(DOC, [{ rev: 10, content: { text: 'xx', runs: '5', attrs: [] } }]);
    const cold = await DocumentEngine.load(DOC, store, acking, testEngineOptions());
    expect(cold.headRev).toBe(engine.headRev);
    expect(cold.packedJoinBase()).toBeUndefined();
  });

  it('on a replica that only applies changes committed by the owner, moves to the snapshots the owner stored', async () => {
    const store = new MemoryOpLog();
    const options = testEngineOptions({ snapshotIntervalOps: 5 });
    let follower: DocumentEngine | undefined;
    const owner = await DocumentEngine.load(DOC, store, { applied: (doc, change, origins, local) => { acking.applied(doc, change, origins, local); if (local) follower?.receiveRemote(change); } }, options);
    follower = await DocumentEngine.load(DOC, store, acking, options);
    const actor = randomUUID();
    for (let seq = 1; seq <= 100; seq++) {
      const text = String.fromCharCode(97 + (seq % 26)).repeat(50);
      await submit(owner, actor, seq, [{ type: 'insert', pos: (seq - 1) * 50, text, ...(seq % 2 === 0 ? { attrs: { bold: true } } : {}) }]);
    }
    await owner.whenIdle();
    await follower.whenIdle();
    for (let i = 0; i < 100 && follower.snapshotRev < 80; i++) await new Promise((r) => setTimeout(r, 5));
    expect(follower.headRev).toBe(100);
    // Without adoption the follower's base stays at revision 0 with all 100 changes (then
    // larger than the content, so not offered).
    expect(follower.snapshotRev).toBeGreaterThanOrEqual(80);
    expect(rebuilt(follower)).toEqual({ rev: follower.snapshotRev, text: docText(owner.state), runs: owner.state });
  });

  it('is dropped when snapshots keep failing and too many ops pile up behind it', () => {
    const base = new JoinBase(0, { text: '', runs: '', attrs: [] }, []);
    const change = (rev: number, ops: number) => ({ rev, ops: Array.from({ length: ops }, () => ({ type: 'insert' as const, pos: 0, text: 'x' })), actor: 'a', seq: rev + 1, userId: 'u', committedAt: 0 });
    expect(base.add(change(0, 19_999))).toBe(true);
    expect(base.add(change(19_999, 1))).toBe(true);
    expect(base.add(change(20_000, 1))).toBe(false);
  });
});

describe('the packed snapshot JSON of a first join', () => {
  it('is what JSON.stringify makes of it, for texts and attributes that need escaping', () => {
    const doc = Doc.fromRuns([
      { text: 'plain "quoted" \\ back\nslash\ttab \u0001 ' },
      { text: 'é😀 bold', attrs: { bold: true } },
      { text: ' linked', attrs: { link: 'https://x.test/?q="a"\\b' } },
      { text: '\u2028 end\n' },
    ]);
    const packed = pack(doc);
    const json = packedSnapshotJson(41, packed);
    expect(json).toBe(JSON.stringify({ rev: 41, text: packed.text, runs: packed.runs, attrs: packed.attrs }));
    expect(JSON.parse(json)).toEqual({ rev: 41, text: packed.text, runs: packed.runs, attrs: packed.attrs });
  });
});
