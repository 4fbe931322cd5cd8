import { RevisionConflict, StoreRejected, type ActorRecord, type ChangePosition, type CommittedChange, type OpLogStore, type Snapshot, type ChangesSinceSnapshot } from '../../src/engine/ports.js';

/**
 * An in-memory op log for engine unit tests (integration tests use PostgreSQL). It passes the
 * same conformance suite as the real one (test/integration/oplog-conformance.test.ts): a revision can
 * be taken once, actor progress is written with the batch (empty changes too), and a value
 * PostgreSQL would refuse for good (a NUL character) is refused with StoreRejected. `failing`
 * makes every call throw, like a database that went away.
 */
export class MemoryOpLog implements OpLogStore {
  readonly changes = new Map<string, CommittedChange[]>();
  readonly snapshots = new Map<string, Snapshot[]>();
  readonly progress = new Map<string, Map<string, ActorRecord>>();
  /** Documents that have a row (created by their first commit). */
  readonly documents = new Set<string>();
  failing = false;
  appendCalls = 0;
  /** Artificial latency of each call, to let commits overlap. */
  delayMs = 0;
  /** Makes saveSnapshot refuse, like a document past jsonb's size limit. */
  refuseSnapshots = false;

  private async io(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    else await Promise.resolve();
    if (this.failing) throw new Error('database unavailable');
  }

  private log(docId: string): CommittedChange[] {
    let list = this.changes.get(docId);
    if (!list) {
      list = [];
      this.changes.set(docId, list);
    }
    return list;
  }

  private actors(docId: string): Map<string, ActorRecord> {
    let map = this.progress.get(docId);
    if (!map) {
      map = new Map();
      this.progress.set(docId, map);
    }
    return map;
  }

  head(docId: string): number {
    const last = this.log(docId).at(-1);
    return last ? last.rev + last.ops.length : 0;
  }

  async latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    await this.io();
    return this.snapshots.get(docId)?.at(-1);
  }

  async readChangesSinceLatestSnapshot(docId: string): Promise<ChangesSinceSnapshot> {
    await this.io();
    const fromRev = this.snapshots.get(docId)?.at(-1)?.rev ?? 0;
    return { fromRev, changes: this.log(docId).filter((c) => c.rev >= fromRev) };
  }

  async readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    await this.io();
    return this.log(docId).filter((c) => c.rev >= fromRev && (toRev === undefined || c.rev < toRev));
  }

  async append(docId: string, changes: readonly CommittedChange[]): Promise<void> {
    await this.io();
    this.appendCalls++;
    if (changes.length === 0) return;
    for (const c of changes) if (hasNul(c)) throw new StoreRejected('PostgreSQL refused the value: invalid byte sequence for encoding "UTF8": 0x00', '22021');
    const withOps = changes.filter((c) => c.ops.length > 0);
    const first = withOps[0];
    if (first && first.rev !== this.head(docId)) throw new RevisionConflict(`revision ${first.rev + 1} taken`);
    const actors = this.actors(docId);
    const behind = changes.filter((c) => (actors.get(c.actor)?.lastSeq ?? 0) >= c.seq).map((c) => c.actor);
    if (behind.length > 0) throw new RevisionConflict(`an actor's change was already committed on ${docId}`, behind);
    this.documents.add(docId);
    this.log(docId).push(...withOps);
    for (const c of changes) actors.set(c.actor, { userId: c.userId, lastSeq: c.seq, lastRev: c.rev, lastCount: c.ops.length });
  }

  async actor(docId: string, actor: string): Promise<ActorRecord | undefined> {
    await this.io();
    return this.actors(docId).get(actor);
  }

  async findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined> {
    await this.io();
    const change = this.log(docId).find((c) => c.actor === actor && c.seq === seq);
    return change ? { rev: change.rev, count: change.ops.length } : undefined;
  }

  async saveSnapshot(docId: string, snapshot: Snapshot): Promise<void> {
    await this.io();
    if (this.refuseSnapshots) throw new StoreRejected('PostgreSQL refused the value: total size of jsonb object elements exceeds the maximum', '54000');
    const list = this.snapshots.get(docId) ?? [];
    if (!list.some((s) => s.rev === snapshot.rev)) list.push(snapshot);
    list.sort((a, b) => a.rev - b.rev);
    this.snapshots.set(docId, list);
  }
}

/** PostgreSQL text and jsonb cannot hold U+0000. */
function hasNul(c: CommittedChange): boolean {
  if (c.userId.includes('\u0000')) return true;
  return c.ops.some((op) => (op.type === 'insert' && op.text.includes('\u0000')) || (op.type !== 'delete' && op.attrs !== undefined && JSON.stringify(op.attrs).includes('\\u0000')));
}
