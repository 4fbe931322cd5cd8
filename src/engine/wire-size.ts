/*
 * Estimates of what a document, a change or an op costs on the wire, without serialising
 * anything big: a join picks the smaller of content, missed changes, or a packed snapshot.
 */
import type { Doc } from '../ot/document.js';
import type { Change } from '../ot/types.js';

/**
 * An op on the wire when its size is not known: one typed character (`{"type":"insert","pos":1234,"text":"x"}`
 * is 40 bytes), about the smallest op an editor sends; its change adds a clock and a user on top.
 */
export const OP_WIRE_BYTES = 40;
/** A committed change's wire form besides its ops: revision, clock (a UUID and a sequence number), user. */
export const CHANGE_WIRE_OVERHEAD_BYTES = 80;

/**
 * About the bytes of a document as joined content (run list JSON): its characters plus a
 * run's brackets and keys per piece (`{"text":""},` is 12; attributes add about as much). ASCII-exact, an underestimate for other scripts (which is
 * fine: content is then sent a little more often than strictly cheaper). O(1).
 */
export function contentWireBytes(doc: Doc): number {
  return doc.length + 24 * doc.pieceCount;
}

/** UTF-8 bytes of the ops as JSON (what the wire and the log carry), without building a buffer. */
export function changeBytes(ops: Change): number {
  const json = JSON.stringify(ops);
  let bytes = json.length;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    // Two bytes below U+0800, three above; a surrogate pair is 4 bytes for 2 units.
    if (c >= 0x80) bytes += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdfff ? 1 : 2;
  }
  return bytes;
}
