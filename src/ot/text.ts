/** UTF-16 helpers: every position we accept must sit on a code point boundary. */

export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** True when `s` contains no lone surrogate (so it round-trips through UTF-8 and JSON intact). */
export function isWellFormedText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHighSurrogate(c)) {
      if (i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
        i++;
        continue;
      }
      return false;
    }
    if (isLowSurrogate(c)) return false;
  }
  return true;
}

