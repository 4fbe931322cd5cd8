import type { Attributes, Change, InsertOp, Op } from '../ot/types.js';
import { WIRE_LIMITS } from '../protocol/limits.js';

/*
 * Fitting local changes to what the relay accepts. The relay checks these limits when it
 * decodes a frame, before the OT layer sees it, and answers a violation with `bad_message`
 * (no seq) or a 1009 close; a change the client cannot get accepted would block the
 * document, and one that closes the connection would be resent after every reconnect.
 */

/** Room for the envelope around the ops: type, doc id, clock with actor, seq and rev. */
const ENVELOPE_BYTES = 256;

const encoder = new TextEncoder();

function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** Throws when an op carries attributes the relay's decoder would refuse. */
export function checkWireLimits(ops: Change): void {
  ops.forEach((op, index) => {
    const attrs: Attributes | undefined = op.type === 'delete' ? undefined : op.attrs;
    if (!attrs) return;
    const keys = Object.keys(attrs);
    if (keys.length > WIRE_LIMITS.maxAttributes) throw new RangeError(`op ${index}: at most ${WIRE_LIMITS.maxAttributes} attributes`);
    for (const key of keys) {
      const value = attrs[key];
      if (typeof value === 'string' && value.length > WIRE_LIMITS.maxAttributeStringLength) {
        throw new RangeError(`op ${index}: attribute "${key}" is longer than ${WIRE_LIMITS.maxAttributeStringLength} characters`);
      }
    }
  });
}

/**
 * The longest prefix of `text` (in UTF-16 units, never splitting a surrogate pair) whose JSON
 * encoding fits in `budget` bytes; 0 when not even one character fits.
 */
function prefixFitting(text: string, budget: number): number {
  const size = (k: number): number => jsonBytes(text.slice(0, k)) - 2;
  let k = Math.min(text.length, Math.max(0, budget));
  while (k > 0) {
    const s = size(k);
    if (s <= budget) break;
    // Shrink in proportion to the overshoot: a few rounds even for escaped or wide text.
    k = Math.min(k - 1, Math.floor((k * budget) / s));
  }
  const code = text.charCodeAt(k - 1);
  if (k > 0 && code >= 0xd800 && code <= 0xdbff) k -= 1;
  return Math.max(0, k);
}

/**
 * Splits a pending buffer into the next change to send and the rest. Ops apply in sequence,
 * so a prefix is a valid change and the rest applies after it; an insert too large for one
 * frame becomes two inserts at consecutive positions, which is the same edit.
 */
export function takeChange(ops: Change, maxOps: number, maxMessageBytes: number): { first: Change; rest: Change } {
  const limitOps = Math.max(1, maxOps);
  const budget = Math.max(64, maxMessageBytes - ENVELOPE_BYTES);
  const first: Op[] = [];
  let bytes = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (!op) break;
    if (first.length >= limitOps) return { first, rest: ops.slice(i) };
    const size = jsonBytes(op) + 1;
    if (bytes + size <= budget) {
      first.push(op);
      bytes += size;
      continue;
    }
    if (op.type === 'insert') {
      const split = splitInsert(op, budget - bytes);
      if (split) {
        first.push(split.head);
        return { first, rest: [split.tail, ...ops.slice(i + 1)] };
      }
    }
    // An op that cannot be made smaller goes alone; nothing smaller exists to send instead.
    if (first.length === 0) return { first: [op], rest: ops.slice(i + 1) };
    return { first, rest: ops.slice(i) };
  }
  return { first, rest: [] };
}

function splitInsert(op: InsertOp, room: number): { head: InsertOp; tail: InsertOp } | undefined {
  const overhead = jsonBytes({ ...op, text: '' }) + 1;
  const k = prefixFitting(op.text, room - overhead);
  if (k === 0 || k >= op.text.length) return undefined;
  return {
    head: { ...op, text: op.text.slice(0, k) },
    tail: { ...op, pos: op.pos + k, text: op.text.slice(k) },
  };
}
