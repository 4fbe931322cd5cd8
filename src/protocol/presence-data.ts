import type { PresenceData } from './wire.js';

/**
 * Bounds of the application payload a presence update may carry (docs/protocol.md). Presence
 * goes to everyone in the document at up to one update per CURSOR_THROTTLE_MS per user, so the
 * payload is kept to what an avatar URL, a viewport and a few flags need.
 */
export const PRESENCE_DATA_LIMITS = {
  /** The payload as JSON, in UTF-8 bytes. */
  maxBytes: 1024,
  /** Objects and arrays nested inside the payload object (the payload itself is level 1). */
  maxDepth: 4,
} as const;

/** UTF-8 length of a string as JSON.stringify writes it (lone surrogates come out as \uXXXX escapes). */
function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return !Array.isArray(value) && (proto === Object.prototype || proto === null);
}

/**
 * Why a value cannot be a presence payload, or undefined when it can: a plain JSON object (no
 * functions, undefined, non-finite numbers, class instances or `__proto__` keys), nested at most
 * maxDepth deep, at most maxBytes as JSON. Iterative and bounded by the byte limit: never
 * throws, whatever it is given (deep nesting, cycles, getters aside).
 */
export function presenceDataProblem(value: unknown): string | undefined {
  const { maxBytes, maxDepth } = PRESENCE_DATA_LIMITS;
  if (typeof value !== 'object' || value === null || !isPlainObject(value)) return 'presence data must be a JSON object';
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  // Keys and strings counted as they come: a payload far past the limit stops the walk early.
  let budget = maxBytes;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const v = item.value;
    if (typeof v === 'string') budget -= v.length;
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'presence data numbers must be finite';
    } else if (typeof v === 'object' && v !== null) {
      if (item.depth > maxDepth) return `presence data nests deeper than ${maxDepth} levels`;
      if (Array.isArray(v)) {
        for (const element of v) stack.push({ value: element, depth: item.depth + 1 });
        budget -= v.length;
      } else if (isPlainObject(v)) {
        for (const [key, element] of Object.entries(v)) {
          if (key === '__proto__') return 'presence data may not use the key __proto__';
          budget -= key.length;
          stack.push({ value: element, depth: item.depth + 1 });
        }
      } else return 'presence data holds only JSON values';
    } else if (typeof v !== 'boolean' && v !== null) return 'presence data holds only JSON values';
    if (budget < 0) return `presence data is larger than ${maxBytes} bytes as JSON`;
  }
  // Small and acyclic now, so stringifying is cheap and cannot throw.
  if (utf8Bytes(JSON.stringify(value)) > maxBytes) return `presence data is larger than ${maxBytes} bytes as JSON`;
  return undefined;
}

export function isPresenceData(value: unknown): value is PresenceData {
  return presenceDataProblem(value) === undefined;
}
