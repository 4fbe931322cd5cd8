import { RevisionConflict, type ActorRecord, type ChangePosition, type CommittedChange, type OpLogStore, type Snapshot } from '../../src/engine/ports.js';

/**
 * An in-memory op log for engine unit tests only (integration tests use PostgreSQL). Like the
 * real one, a revision can be taken once; `failing` makes every call throw, like a database
 * that went away.
 */
export class MemoryOpLog implements OpLogStore {
  readonly changes = new Map<string, CommittedChange[]>();
  readonly snapshots = new Map<string, Snapshot[]>();
  failing = false;
  appendCalls = 0;
  /** Artificial latency of each call, to let commits overlap. */
  delayMs = 0;

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

  head(docId: string): number {
    const last = this.log(docId).at(-1);
    return last ? last.rev + last.ops.length : 0;
  }

  async ensureDocument(docId: string): Promise<void> {
    await this.io();
    this.log(docId);
  }

  async latestSnapshot(docId: string): Promise<Snapshot | undefined> {
    await this.io();
    return this.snapshots.get(docId)?.at(-1);
  }

  async readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]> {
    await this.io();
    return this.log(docId).filter((c) => c.rev >= fromRev && (toRev === undefined || c.rev < toRev));
  }

  async append(docId: string, changes: readonly CommittedChange[]): Promise<void> {
    await this.io();
    this.appendCalls++;
    const first = changes[0];
    if (!first) return;
    if (first.rev !== this.head(docId)) throw new RevisionConflict(`revision ${first.rev + 1} taken`);
    this.log(docId).push(...changes);
  }

  async actor(docId: string, actor: string): Promise<ActorRecord | undefined> {
    await this.io();
    const mine = this.log(docId).filter((c) => c.actor === actor);
    const last = mine.at(-1);
    return last ? { userId: last.userId, lastSeq: last.seq, lastRev: last.rev, lastCount: last.ops.length } : undefined;
  }

  async findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined> {
    await this.io();
    const change = this.log(docId).find((c) => c.actor === actor && c.seq === seq);
    return change ? { rev: change.rev, count: change.ops.length } : undefined;
  }

  async saveSnapshot(docId: string, snapshot: Snapshot): Promise<void> {
    await this.io();
    const list = this.snapshots.get(docId) ?? [];
    list.push(snapshot);
    this.snapshots.set(docId, list);
  }
}
