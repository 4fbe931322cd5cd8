import { changeSizeProblem, WIRE_LIMITS } from '../protocol/limits.js';
import { applyOps } from './apply.js';
import { OtError } from './errors.js';
import { isWellFormedText } from './text.js';
import type { Doc } from './document.js';
import type { Change, DocState } from './types.js';

export const MAX_ATTRIBUTE_KEY_LENGTH = WIRE_LIMITS.maxAttributeKeyLength;

const ALLOWED_KEYS: Readonly<Record<string, readonly string[]>> = {
  insert: ['type', 'pos', 'text', 'attrs'],
  delete: ['type', 'pos', 'len'],
  format: ['type', 'pos', 'len', 'attrs'],
};

function fail(index: number, reason: string): never {
  throw new OtError('invalid_op', `op ${index}: ${reason}`);
}

/**
 * PostgreSQL's text and jsonb cannot hold U+0000, so such a change could never be committed.
 * No editor needs it in content or attributes.
 */
const hasNul = (s: string): boolean => s.includes('\u0000');

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkAttrs(index: number, attrs: unknown, allowNull: boolean): void {
  if (!isPlainObject(attrs)) fail(index, 'attrs must be a plain object');
  for (const key of Object.keys(attrs)) {
    if (key.length === 0 || key.length > MAX_ATTRIBUTE_KEY_LENGTH) {
      fail(index, `attribute keys must be 1..${MAX_ATTRIBUTE_KEY_LENGTH} characters`);
    }
    // A key like this is harmless as an own property but dangerous if anything downstream
    // copies attributes by assignment; no editor needs it.
    if (key === '__proto__') fail(index, 'attribute key "__proto__" is not allowed');
    if (hasNul(key)) fail(index, 'attribute keys must not contain U+0000');
    const v = attrs[key];
    if (v === null) {
      if (!allowNull) fail(index, `attribute "${key}" is null; null only removes attributes in a format op`);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) fail(index, `attribute "${key}" must be a finite number`);
    } else if (typeof v === 'string') {
      if (hasNul(v)) fail(index, `attribute "${key}" must not contain U+0000`);
    } else if (typeof v !== 'boolean') {
      fail(index, `attribute "${key}" must be a string, number or boolean`);
    }
  }
}

function checkNonNegativeInt(index: number, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    fail(index, `${name} must be an integer >= ${min}`);
  }
  return v;
}

/**
 * Checks the shape of untrusted input without a document: array of 1..maxOps well-formed ops.
 * When `baseLength` is given, also checks that every range fits the lengths the change walks
 * through (surrogate boundaries need the text: use {@link validateChange} or {@link apply}).
 */
export function validateChangeShape(
  change: unknown,
  maxOps: number,
  baseLength?: number,
): asserts change is Change {
  if (!Array.isArray(change)) throw new OtError('invalid_op', 'a change must be an array of ops');
  const size = changeSizeProblem(change.length, maxOps);
  if (size) throw new OtError(size.code, size.message);
  let length = baseLength;
  change.forEach((op: unknown, i: number) => {
    if (!isPlainObject(op)) fail(i, 'an op must be an object');
    const type = op['type'];
    if (type !== 'insert' && type !== 'delete' && type !== 'format') {
      fail(i, `unknown op type ${JSON.stringify(type) ?? String(type)}`);
    }
    const allowed = ALLOWED_KEYS[type] ?? [];
    for (const key of Object.keys(op)) {
      if (!allowed.includes(key)) fail(i, `unexpected field "${key}" in ${type} op`);
    }
    const pos = checkNonNegativeInt(i, 'pos', op['pos'], 0);
    let len = 0;
    if (type === 'insert') {
      const text = op['text'];
      if (typeof text !== 'string' || text.length === 0) fail(i, 'insert text must be a non-empty string');
      if (!isWellFormedText(text)) fail(i, 'insert text contains a lone surrogate');
      if (hasNul(text)) fail(i, 'insert text must not contain U+0000');
      if (op['attrs'] !== undefined) checkAttrs(i, op['attrs'], false);
      len = text.length;
    } else {
      len = checkNonNegativeInt(i, 'len', op['len'], 1);
      if (type === 'format') checkAttrs(i, op['attrs'], true);
    }
    if (length !== undefined) {
      const end = type === 'insert' ? pos : pos + len;
      if (end > length) {
        throw new OtError(
          'out_of_range',
          `op ${i}: ${type} at ${pos}${type === 'insert' ? '' : `..${pos + len}`} is beyond the document length ${length}`,
        );
      }
      length += type === 'insert' ? len : type === 'delete' ? -len : 0;
    }
  });
}

/**
 * Full validation of untrusted input against the document it will be applied to: shape,
 * ranges and surrogate boundaries. Throws {@link OtError}; never mutates `doc`.
 */
export function validateChange(doc: Doc | DocState, change: unknown, maxOps: number): asserts change is Change {
  validateChangeShape(change, maxOps);
  // A dry run: splitting runs only slices strings (cheap in V8), nothing is re-joined.
  applyOps(doc, change, false);
}
