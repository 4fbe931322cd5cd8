/*
 * The limits of protocol v1 that do not depend on configuration, and the check every layer
 * makes on the size of a change. The relay's zod schemas (messages.ts), the OT layer's
 * validation (ot/validate.ts) and the client SDK, which fits its changes to them before
 * sending, all read them here. No zod and no imports: the browser bundle includes this file.
 */

/** What the relay's decoder accepts in the attributes of one op. */
export const WIRE_LIMITS = {
  maxAttributes: 32,
  maxAttributeKeyLength: 64,
  maxAttributeStringLength: 1024,
} as const;

/**
 * The limits a relay announces in `hello` when its operator set none of OPERATION_BATCH_SIZE,
 * MAX_MESSAGE_BYTES, CURSOR_THROTTLE_MS and HEARTBEAT_INTERVAL_SECS: the relay's config takes
 * its defaults from here, and the client SDK assumes them until a `hello` says otherwise.
 */
export const DEFAULT_HELLO_LIMITS = {
  maxOps: 100,
  maxMessageBytes: 1_048_576,
  cursorThrottleMs: 50,
  heartbeatIntervalSecs: 30,
} as const;

/** Document ids and actor ids are UUIDs, in any case (the relay lower-cases document ids). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ChangeSizeProblem {
  readonly code: 'empty_change' | 'too_many_ops';
  readonly message: string;
}

/**
 * Why a change of `opCount` ops may not be sent or committed, or undefined when its size is
 * fine: an empty change would use up a seq for nothing, and `maxOps` (the relay's
 * OPERATION_BATCH_SIZE, announced in `hello`) bounds one commit.
 */
export function changeSizeProblem(opCount: number, maxOps: number): ChangeSizeProblem | undefined {
  if (opCount === 0) return { code: 'empty_change', message: 'a change must contain at least one op' };
  if (opCount > maxOps) return { code: 'too_many_ops', message: `a change may contain at most ${maxOps} ops, got ${opCount}` };
  return undefined;
}
