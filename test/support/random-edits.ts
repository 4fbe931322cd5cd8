import type { Attributes } from '../../src/ot/types.js';

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type RandomEdit =
  | { kind: 'insert'; pos: number; text: string; attrs?: Attributes }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'format'; pos: number; len: number; attrs: Attributes };

const WORDS = ['a', 'bc', 'def', ' ', 'xyz', '😀', 'é', '\n', 'hello', '🎉ok'];

/** Moves a position off the middle of a surrogate pair. */
function boundary(text: string, pos: number): number {
  const before = text.charCodeAt(pos - 1);
  return pos > 0 && pos < text.length && before >= 0xd800 && before <= 0xdbff ? pos - 1 : pos;
}

/** A valid random edit of `text`: inserts (some with attributes), deletes, formats. */
export function randomEdit(text: string, random: () => number): RandomEdit {
  const pick = random();
  if (text.length === 0 || pick < 0.55) {
    const pos = boundary(text, Math.floor(random() * (text.length + 1)));
    const word = WORDS[Math.floor(random() * WORDS.length)] ?? 'a';
    return random() < 0.2 ? { kind: 'insert', pos, text: word, attrs: { bold: true } } : { kind: 'insert', pos, text: word };
  }
  const start = boundary(text, Math.floor(random() * text.length));
  const end = boundary(text, Math.min(text.length, start + 1 + Math.floor(random() * 4)));
  const len = Math.max(0, end - start);
  if (len === 0) return { kind: 'insert', pos: start, text: 'z' };
  if (pick < 0.85) return { kind: 'delete', pos: start, len };
  return { kind: 'format', pos: start, len, attrs: random() < 0.5 ? { italic: true } : { italic: null, color: random() < 0.5 ? 'red' : 'blue' } };
}
