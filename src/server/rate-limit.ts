export type RateDecision = 'ok' | 'limited' | 'close';

export interface RateLimits {
  /** Messages that count (everything but changes within the protocol's flow control), per second. */
  readonly messagesPerSec: number;
  readonly messageBurst: number;
  /** Bytes of every frame, per second. */
  readonly bytesPerSec: number;
  readonly bytesBurst: number;
}

/**
 * Each frame costs its length plus this much: a flood of tiny frames costs more than its bytes
 * (a decode, a dispatch, often a reply).
 */
export const FRAME_OVERHEAD_BYTES = 64;

/** A token bucket: `ratePerSec` sustained, `burst` at once. */
export class Bucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  take(amount: number, now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSec);
    this.updatedAt = now;
    if (this.tokens < amount) return false;
    this.tokens -= amount;
    return true;
  }

  /** Takes `amount` whatever is left, down to one burst in debt: what comes next waits for the refill. */
  charge(amount: number, now: number): void {
    this.take(0, now);
    this.tokens = Math.max(-this.burst, this.tokens - amount);
  }
}

/**
 * The limits of one connection: a byte budget every frame pays (checked before decoding, so a
 * flood of large frames costs little), and a message budget that changes sent within the
 * protocol's flow control (one in flight per document) do not pay: that flow control already
 * limits a correct client to one change per round trip, so an editor streaming text is never
 * limited by the message count. A client that keeps sending while limited (another burst of
 * messages or of bytes dropped without a pause) is flooding rather than bursting and is told
 * to go.
 */
export class RateLimiter {
  private readonly messages: Bucket;
  private readonly bytes: Bucket;
  /** Messages and bytes dropped since the client was last within its limits. */
  private droppedMessages = 0;
  private droppedBytes = 0;
  /** Which budget the current streak of drops ran out of. */
  exceeded: 'messages' | 'bytes' = 'messages';

  /** `sharedBytes`: a byte budget shared with the user's other connections (see UserBudgets). */
  constructor(
    private readonly limits: RateLimits,
    now: number,
    sharedBytes?: Bucket,
  ) {
    this.messages = new Bucket(limits.messagesPerSec, limits.messageBurst, now);
    this.bytes = sharedBytes ?? new Bucket(limits.bytesPerSec, limits.bytesBurst, now);
  }

  /** Every frame, before it is decoded. */
  takeBytes(length: number, now: number): RateDecision {
    const cost = length + FRAME_OVERHEAD_BYTES;
    if (this.bytes.take(cost, now)) return 'ok';
    return this.drop('bytes', cost);
  }

  /** A decoded message that counts against the message rate. */
  takeMessage(now: number, length: number): RateDecision {
    if (this.messages.take(1, now)) {
      this.droppedMessages = 0;
      this.droppedBytes = 0;
      return 'ok';
    }
    return this.drop('messages', length + FRAME_OVERHEAD_BYTES);
  }

  /**
   * Bytes the relay sent at the client's request (a join's content or missed changes): paid
   * from the same byte budget, so a client rejoining a long document in a loop is held to the
   * same rate as one sending that much. Never refuses; the frames after it may be.
   */
  charge(bytes: number, now: number): void {
    this.bytes.charge(bytes, now);
  }

  /** A message that passed both budgets (or did not need the message budget). */
  passed(): void {
    this.droppedMessages = 0;
    this.droppedBytes = 0;
  }

  /** True for the first drop of a streak: the client is told once, not once per dropped message. */
  get firstDrop(): boolean {
    return this.droppedMessages === 1;
  }

  private drop(budget: 'messages' | 'bytes', cost: number): RateDecision {
    if (this.droppedMessages === 0) this.exceeded = budget;
    this.droppedMessages++;
    this.droppedBytes += cost;
    return this.droppedMessages > this.limits.messageBurst || this.droppedBytes > this.limits.bytesBurst ? 'close' : 'limited';
  }
}
