import type { DeleteOp, InsertOp, Selection } from '../ot/types.js';
import { isFields, isPlainOp, isRevision, isSeq, type Fields } from './field-checks.js';
import type { ChangeMessage, PresenceMessage } from './wire.js';

/*
 * Hand-written checks for the messages every keystroke and cursor move sends: `change` and
 * `presence`. In a perf profile of bench:replicas (hot document, 250 ops/s) zod's generic walk
 * of a change, with its UUID regexes, was the largest single JavaScript cost on a relay. Each
 * check here accepts only what the zod schema in messages.ts accepts, and yields the same value
 * (fresh objects, keys in the schema's order); whatever it is not sure about (attributes, a
 * format op, presence data, an upper-case or unusual UUID, an extra or missing field) it leaves
 * to the schema, which keeps the last word. So exactly the same frames are accepted, and every
 * refusal, with its message, still comes from zod. Pure code, never throws.
 */

/** Exactly `count` own keys: with the named fields checked, no other key can be there (the schemas are strict). */
const hasKeyCount = (value: Fields, count: number): boolean => Object.keys(value).length === count;

const DASH = 0x2d;
const isDashAt = (i: number): boolean => i === 8 || i === 13 || i === 18 || i === 23;
const isLowerHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);

/** 8-4-4-4-12 lower-case hex digits: the doc pattern's (UUID_PATTERN) lower-case half, so lower-casing changes nothing. */
function isLowerCaseUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (isDashAt(i) ? c !== DASH : !isLowerHex(c)) return false;
  }
  return true;
}

/**
 * A lower-case RFC 9562 UUID of version 1-8 with the RFC variant: a part of what `z.uuid()`
 * accepts (which also takes upper case and the nil and max UUIDs; those go to zod).
 */
function isLowerCaseRfcUuid(s: string): boolean {
  if (!isLowerCaseUuid(s)) return false;
  const version = s.charCodeAt(14);
  const variant = s.charCodeAt(19);
  return version >= 0x31 && version <= 0x38 && (variant === 0x38 || variant === 0x39 || variant === 0x61 || variant === 0x62);
}

/** A plain op (isPlainOp) as a fresh object in the schema's key order. */
function plainOp(value: unknown): InsertOp | DeleteOp | undefined {
  if (!isPlainOp(value)) return undefined;
  return value.type === 'insert' ? { type: 'insert', pos: value.pos, text: value.text } : { type: 'delete', pos: value.pos, len: value.len };
}

/** The ops when every one is plain, in a packed array as zod builds it; undefined at the first that is not. */
function plainOps(value: unknown): (InsertOp | DeleteOp)[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const ops: (InsertOp | DeleteOp)[] = [];
  for (const item of value) {
    const op = plainOp(item);
    if (!op) return undefined;
    ops.push(op);
  }
  return ops;
}

function changeClock(value: unknown): ChangeMessage['clock'] | undefined {
  if (!isFields(value) || !hasKeyCount(value, 3)) return undefined;
  const { actor, seq, rev } = value;
  if (typeof actor !== 'string' || !isLowerCaseRfcUuid(actor) || !isSeq(seq) || !isRevision(rev)) return undefined;
  return { actor, seq, rev };
}

/**
 * A `change` whose ops are all plain inserts and deletes; undefined leaves the message to the
 * schema. The ops are looked at first: a formatted insert then costs the least before zod.
 */
function quickChange(value: Fields): ChangeMessage | undefined {
  if (!hasKeyCount(value, 4)) return undefined;
  const ops = plainOps(value.ops);
  const clock = ops && changeClock(value.clock);
  const doc = value.doc;
  return clock && typeof doc === 'string' && isLowerCaseUuid(doc) ? { type: 'change', doc, clock, ops } : undefined;
}

function selectionOf(value: unknown): Selection | undefined {
  if (!isFields(value) || !hasKeyCount(value, 2) || !isRevision(value.anchor) || !isRevision(value.head)) return undefined;
  return { anchor: value.anchor, head: value.head };
}

/**
 * A `presence` without application data (or with `data: null`); undefined leaves the message to
 * the schema. Optional fields stay absent when absent, as zod leaves them.
 */
function quickPresence(value: Fields): PresenceMessage | undefined {
  const { doc, rev, selection, typing, data } = value;
  if (typeof doc !== 'string' || !isLowerCaseUuid(doc) || !isRevision(rev)) return undefined;
  let known = 3;
  const message: PresenceMessage = { type: 'presence', doc, rev };
  if (selection !== undefined) {
    const checked = selection === null ? null : selectionOf(selection);
    if (checked === undefined) return undefined;
    message.selection = checked;
    known++;
  }
  if (typing !== undefined) {
    if (typeof typing !== 'boolean') return undefined;
    message.typing = typing;
    known++;
  }
  if (data !== undefined) {
    if (data !== null) return undefined;
    message.data = null;
    known++;
  }
  return hasKeyCount(value, known) ? message : undefined;
}

/**
 * The message when it is a hot shape this module is sure of; undefined sends it to the schema.
 * `value` is a JSON object whose `type` has been read as `type`.
 */
export function quickDecode(type: string, value: Fields): ChangeMessage | PresenceMessage | undefined {
  if (type === 'change') return quickChange(value);
  if (type === 'presence') return quickPresence(value);
  return undefined;
}
