import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-clients.js';

/**
 * The PUBLISHes of one event-loop turn (a group commit's changes and the owner's replies to
 * them, the forwards of a burst of client messages) leave in one socket write, and never wait
 * for earlier ones to be answered.
 *
 * ioredis's own auto-pipelining batched them too, but keeps at most one pipeline in flight per
 * connection: every publish made while the previous batch was unanswered waited for that answer
 * (a Redis round trip plus however long this replica's event loop took to read it). A forwarded
 * change crosses Redis twice, so on busy cores that wait was paid on both hops (bench:replicas,
 * traced hop by hop: issue 15). A publish needs no answer to be delivered; the answer only says
 * whether it failed.
 */
export class PublishBatcher {
  private pending: { readonly channel: string; readonly text: string }[] = [];
  private scheduled = false;

  constructor(
    private readonly deps: {
      readonly client: RedisClient;
      /** SPUBLISH (sharded pub/sub) instead of PUBLISH. */
      readonly sharded: boolean;
      /** `count` publications failed (Redis went away before they left, or refused them). */
      readonly failed: (err: unknown, count: number) => void;
    },
  ) {}

  publish(channel: string, text: string): void {
    this.pending.push({ channel, text });
    if (this.scheduled) return;
    this.scheduled = true;
    // After the I/O callbacks of this turn: everything they publish goes in the same write.
    setImmediate(() => this.flush());
  }

  /** How many publications wait for the end of this turn (for tests). */
  get queued(): number {
    return this.pending.length;
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const { client, sharded, failed } = this.deps;
    if (client instanceof Cluster) {
      // A cluster pipeline must stay on one node; channels of different documents live on
      // different nodes, so each publication goes on its own.
      for (const { channel, text } of batch) (sharded ? client.spublish(channel, text) : client.publish(channel, text)).catch((err: unknown) => failed(err, 1));
      return;
    }
    const pipeline = client.pipeline();
    for (const { channel, text } of batch) {
      if (sharded) pipeline.spublish(channel, text);
      else pipeline.publish(channel, text);
    }
    pipeline.exec().then(
      (results) => {
        const errors = (results ?? []).filter(([err]) => err);
        const first = errors[0];
        if (first) failed(first[0], errors.length);
      },
      (err: unknown) => failed(err, batch.length),
    );
  }
}
