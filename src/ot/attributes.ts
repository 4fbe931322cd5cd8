import type { AttributeValue, Attributes } from './types.js';

/*
 * Attribute maps are built with Object.fromEntries / spread rather than `obj[key] = value`:
 * keys come from untrusted JSON, and assignment to `__proto__` would change the prototype.
 */

type Entries = [string, AttributeValue][];

function fromEntries(entries: Entries): Attributes | undefined {
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

export function isEmptyAttrs(a: Attributes | undefined): boolean {
  return a === undefined || Object.keys(a).length === 0;
}

/** Structural equality; undefined and {} are equal because normalized docs omit empty maps. */
export function attrsEqual(a: Attributes | undefined, b: Attributes | undefined): boolean {
  if (a === b) return true;
  // Without allocating: merging runs asks this once per piece.
  if (a === undefined) return hasNoKeys(b);
  if (b === undefined) return hasNoKeys(a);
  const ka = a === undefined ? [] : Object.keys(a);
  const kb = b === undefined ? [] : Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (b === undefined || !Object.prototype.hasOwnProperty.call(b, k) || b[k] !== a?.[k]) {
      return false;
    }
  }
  return true;
}

function hasNoKeys(a: Attributes | undefined): boolean {
  if (a === undefined) return true;
  for (const k in a) if (Object.prototype.hasOwnProperty.call(a, k)) return false;
  return true;
}

/** Drops null values and returns undefined for an empty result (the normalized form). */
export function cleanAttrs(a: Attributes | undefined): Attributes | undefined {
  if (a === undefined) return undefined;
  // Already clean (the common case: every run of a snapshot): share it rather than copy.
  const keys = Object.keys(a);
  if (keys.length === 0) return undefined;
  if (keys.every((k) => a[k] !== null)) return a;
  return fromEntries(Object.entries(a).filter(([, v]) => v !== null));
}

/**
 * The attributes of text carrying `base` after a format `change`: keys set by `change` win,
 * null removes. When `keepNull` is true the nulls are kept (the result is itself a format).
 */
export function composeAttrs(
  base: Attributes | undefined,
  change: Attributes | undefined,
  keepNull: boolean,
): Attributes | undefined {
  const entries: Entries = [];
  if (change !== undefined) {
    for (const [k, v] of Object.entries(change)) {
      if (v !== null || keepNull) entries.push([k, v]);
    }
  }
  if (base !== undefined) {
    for (const [k, v] of Object.entries(base)) {
      if (change === undefined || !Object.prototype.hasOwnProperty.call(change, k)) {
        entries.push([k, v]);
      }
    }
  }
  return fromEntries(entries);
}

/**
 * `change` (a format) transformed against a concurrent format `against` on the same
 * characters. When `against` has priority, the keys it sets are dropped from `change`, so
 * both orders end with `against`'s value.
 */
export function transformAttrs(
  change: Attributes | undefined,
  against: Attributes | undefined,
  againstWins: boolean,
): Attributes | undefined {
  if (change === undefined) return undefined;
  if (against === undefined || !againstWins) return fromEntries(Object.entries(change));
  return fromEntries(
    Object.entries(change).filter(([k]) => !Object.prototype.hasOwnProperty.call(against, k)),
  );
}

/** The format that undoes `format` on text that carried `before`. */
export function invertAttrs(
  format: Attributes,
  before: Attributes | undefined,
): Attributes | undefined {
  const entries: Entries = [];
  for (const [k, v] of Object.entries(format)) {
    const old =
      before !== undefined && Object.prototype.hasOwnProperty.call(before, k)
        ? (before[k] ?? null)
        : null;
    if (old !== v) entries.push([k, old]);
  }
  return fromEntries(entries);
}
