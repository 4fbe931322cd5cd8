import type { DeleteOp, InsertOp } from '../ot/types.js';

/*
 * The hand checks shared by the two hot-path decoders that sit in front of zod: clients'
 * changes and presence (decode-fast.ts) and the replicas' bus messages (bus/redis-wire.ts).
 * Each predicate accepts exactly what the corresponding zod type accepts.
 */

/** A parsed JSON object (not an array, not null). */
export type Fields = Readonly<Record<string, unknown>>;

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** zod's `z.number()`: JSON.parse gives Infinity for 1e400, which zod refuses. */
export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** zod's `.int().nonnegative()` (`.int()` is a safe integer); -0 passes both. */
export const isRevision = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
export const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** An insert without attributes or a delete, with no other key (the schemas' ops are strict objects). */
export function isPlainOp(value: unknown): value is InsertOp | DeleteOp {
  if (!isFields(value) || Object.keys(value).length !== 3 || !isNumber(value.pos)) return false;
  if (value.type === 'insert') return typeof value.text === 'string';
  return value.type === 'delete' && isNumber(value.len);
}
