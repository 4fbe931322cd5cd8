/**
 * Issue 12 (cold joins): a load checks the packed snapshot and leaves the tree to build after
 * the joined frame (src/engine/deferred-content.ts). The deferred content must equal the
 * snapshot with its tail applied, answer length and wire size without building, and a snapshot
 * and log that do not fit (a damaged database) must refuse changes and content joins with a
 * stable error rather than throw somewhere else or retry forever.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DeferredContent } from '../../src/engine/deferred-content.js';
import { DocumentEngine, type CommitListener } from '../../src/engine/document.js';
import { EngineError } from '../../src/engine/errors.js';
import type { CommittedChange } from '../../src/engine/ports.js';
import { contentWireBytes } from '../../src/engine/wire-size.js';
import { Doc, apply } from '../../src/ot/index.js';
import { pack } from '../../src/ot/packed.js';
import type { Change } from '../../src/ot/types.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { testEngineOptions } from '../support/engine-options.js';
import { MemoryOpLog } from '../support/memory-store.js';
import { rng } from './ot-arbitraries.js';

const DOC = '00000000-0000-4000-8000-000000000120';

function randomChange(next: () => number, length: number): Change {
  const pos = Math.floor(next() * (length + 1));
  if (length > 0 && next() < 0.3) return [{ type: 'delete', pos: Math.min(pos, length - 1), len: 1 }];
  if (length > 2 && next() < 0.2) return [{ type: 'format', pos: Math.min(pos, length - 2), len: 2, attrs: { bold: next() < 0.5 ? true : null } }];
  return [{ type: 'insert', pos, text: next() < 0.5 ? 'ab' : 'éz', ...(next() < 0.3 ? { attrs: { italic: true } } : {}) }];
}

/** A document, its packed snapshot, and `count` random changes after it (with the document they lead to). */
function scenario(seed: number, count: number): { snapshot: ReturnType<typeof pack>; tail: CommittedChange[]; expected: Doc } {
  const next = rng(seed);
  let doc = Doc.empty;
  for (let i = 0; i < 40; i++) doc = apply(doc, randomChange(next, doc.length));
  const snapshot = pack(doc);
  const tail: CommittedChange[] = [];
  let rev = 40;
  for (let i = 0; i < count; i++) {
    const ops = randomChange(next, doc.length);
    doc = apply(doc, ops);
    tail.push({ rev, ops, actor: 'a', seq: i + 1, userId: 'u', committedAt: 0 });
    rev += ops.length;
  }
  return { snapshot, tail, expected: doc };
}

describe('deferred content', () => {
  it('builds the snapshot plus its tail, and tells length and wire size without building', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const { snapshot, tail, expected } = scenario(seed, seed % 7);
      const content = DeferredContent.deferred(snapshot, tail);
      expect(content.length).toBe(expected.length);
      const estimate = content.wireBytes();
      expect(content.built).toBe(false);
      // Each op of the tail may move the piece count by a couple; the estimate ignores that.
      expect(Math.abs(estimate - contentWireBytes(expected))).toBeLessThanOrEqual(24 * 2 * tail.length);
      expect(content.get().equals(expected)).toBe(true);
      expect(content.built).toBe(true);
      expect(content.wireBytes()).toBe(contentWireBytes(expected));
    }
  });

  it('builds on a later turn after buildSoon, not before', async () => {
    const { snapshot, tail, expected } = scenario(99, 3);
    const content = DeferredContent.deferred(snapshot, tail);
    content.buildSoon();
    expect(content.built).toBe(false);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(content.built).toBe(true);
    expect(content.get().equals(expected)).toBe(true);
  });

  it('keeps a failed build as an internal EngineError, thrown on every use', async () => {
    const { snapshot } = scenario(7, 0);
    const beyond: CommittedChange = { rev: 40, ops: [{ type: 'insert', pos: 10_000, text: 'x' }], actor: 'a', seq: 1, userId: 'u', committedAt: 0 };
    const content = DeferredContent.deferred(snapshot, [beyond]);
    content.buildSoon();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(content.failure).toBeInstanceOf(EngineError);
    expect(content.failure?.code).toBe(ErrorCode.internal);
    expect(() => content.get()).toThrow(content.failure);
    expect(() => content.get()).toThrow(content.failure);
  });
});

describe('an engine loaded from a snapshot and a log that do not fit', () => {
  const listener: CommitListener = { applied() {} };

  async function brokenEngine(): Promise<DocumentEngine> {
    const store = new MemoryOpLog();
    const { snapshot } = scenario(3, 0);
    await store.append(DOC, [{ rev: 0, ops: [{ type: 'insert', pos: 0, text: 'x'.repeat(40) }], actor: 'seed', seq: 1, userId: 'u', committedAt: 0 }]);
    await store.saveSnapshot(DOC, { rev: 1, content: snapshot });
    // A change whose range the snapshot does not have: only a damaged database holds this.
    await store.append(DOC, [{ rev: 1, ops: [{ type: 'insert', pos: 10_000, text: 'x' }], actor: 'seed', seq: 2, userId: 'u', committedAt: 0 }]);
    return DocumentEngine.load(DOC, store, listener, testEngineOptions());
  }

  it('loads (a packed join needs no tree), then says why it cannot build', async () => {
    const engine = await brokenEngine();
    expect(engine.headRev).toBe(2);
    expect(engine.packedJoinBase()?.rev).toBe(1);
    expect(engine.brokenBecause).toBeUndefined();
    expect(engine.buildContentNow()?.code).toBe(ErrorCode.internal);
    expect(engine.brokenBecause?.code).toBe(ErrorCode.internal);
  });

  it('refuses a change with that error at once instead of retrying it as if the database were down', async () => {
    const engine = await brokenEngine();
    const refused = await new Promise<EngineError | 'acked'>((resolve) => {
      engine.submit({ userId: 'u', actor: randomUUID(), seq: 1, baseRev: engine.headRev, ops: [{ type: 'insert', pos: 0, text: 'y' }] }, { acked: () => resolve('acked'), rejected: resolve });
    });
    expect(refused).toBeInstanceOf(EngineError);
    expect(refused === 'acked' ? undefined : refused.code).toBe(ErrorCode.internal);
  });
});
