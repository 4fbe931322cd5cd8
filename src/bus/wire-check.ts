import type { DeleteOp, InsertOp } from '../ot/index.js';

/*
 * Hand-written checks for the messages every keystroke sends between replicas (a change on a
 * document's channel, a submit and an ack in an inbox). In a perf profile of bench:replicas
 * (hot document, 3 replicas) zod's generic walk of these was a visible share of a non-owner's
 * CPU. Each check accepts only what the zod schema in redis-wire.ts accepts and yields the same
 * value; whatever it does not take (another op type, attributes, another message kind) goes to
 * the schema, which keeps the last word, so the decoders accept exactly what they did.
 */

export type Fields = Readonly<Record<string, unknown>>;

/** A JSON object (not an array, not null). */
export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** zod's `.int()` is a safe integer. */
export const isRevision = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
export const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** An insert without attributes or a delete, with no other key (the schema's ops are strict objects). */
function isPlainOp(value: unknown): value is InsertOp | DeleteOp {
  if (!isFields(value) || Object.keys(value).length !== 3) return false;
  if (value.type === 'insert') return isNumber(value.pos) && typeof value.text === 'string';
  return value.type === 'delete' && isNumber(value.pos) && isNumber(value.len);
}

/**
 * The ops when every one is plain (see isPlainOp), as they are: JSON.parse made them and nobody
 * else holds them. undefined sends the message to the schema.
 */
export function plainOps(value: unknown): (InsertOp | DeleteOp)[] | undefined {
  return Array.isArray(value) && value.every(isPlainOp) ? value : undefined;
}
