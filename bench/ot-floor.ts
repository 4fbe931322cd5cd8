/**
 * A lower bound under issue 12's last target (a random single-character insert on a
 * 1,000,000-char, 100,000-run document within 2× of the same insert on a 1,000-char one), for
 * bench:ot, which also times reading one character at random positions of the real tree.
 *
 * The "ceiling" tree has the layout of src/ot/piece-tree.ts (leaves of parallel text and length
 * arrays, branches of children and lengths, filled like bulk-built nodes, pieces cut at
 * MAX_PIECE) but is edited in place: no persistence, no attributes, no undo record, no leaf
 * split. It does less than any real edit must, so its big/small ratio bounds from below what
 * this layout can reach on the machine it runs on. Bench-only: nothing in src/ uses it.
 */
import { MAX_PIECE, CHUNK, LEAF_FILL } from '../src/ot/piece-tree.js';
import type { Run } from '../src/ot/index.js';
import { median } from './environment.js';

interface CeilingLeaf {
  readonly kind: 'leaf';
  readonly texts: string[];
  readonly lens: number[];
  len: number;
}

interface CeilingBranch {
  readonly kind: 'branch';
  readonly children: CeilingNode[];
  readonly lens: number[];
  len: number;
}

type CeilingNode = CeilingLeaf | CeilingBranch;

function groups<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The runs' texts as pieces of at most MAX_PIECE, in leaves and branches filled like the real tree's. */
export function ceilingTree(runs: readonly Run[]): CeilingNode {
  const pieces: string[] = [];
  for (const { text } of runs) for (let i = 0; i < text.length; i += MAX_PIECE) pieces.push(text.slice(i, i + MAX_PIECE));
  let level: CeilingNode[] = groups(pieces, LEAF_FILL).map((texts) => {
    const lens = texts.map((t) => t.length);
    return { kind: 'leaf', texts, lens, len: lens.reduce((a, b) => a + b, 0) };
  });
  while (level.length > 1) {
    level = groups(level, LEAF_FILL).map((children) => {
      const lens = children.map((c) => c.len);
      return { kind: 'branch', children, lens, len: lens.reduce((a, b) => a + b, 0) };
    });
  }
  const root = level[0];
  if (root === undefined) throw new Error('ceiling tree: empty document');
  return root;
}

/** Inserts "x" at `pos` in place: lengths bumped on the way down, the piece re-cut past MAX_PIECE. */
export function insertInPlace(root: CeilingNode, pos: number): void {
  let node = root;
  let start = 0;
  while (node.kind === 'branch') {
    const lens = node.lens;
    const last = lens.length - 1;
    let k = 0;
    for (; k < last; k++) {
      const l = lens[k] as number;
      if (pos < start + l) break;
      start += l;
    }
    lens[k] = (lens[k] as number) + 1;
    node.len++;
    node = node.children[k] as CeilingNode;
  }
  const { texts, lens } = node;
  let slot = 0;
  for (; slot < lens.length - 1; slot++) {
    const l = lens[slot] as number;
    if (pos < start + l) break;
    start += l;
  }
  const text = texts[slot] as string;
  const at = pos - start;
  const grown = text.slice(0, at) + 'x' + text.slice(at);
  if (grown.length > MAX_PIECE) {
    texts.splice(slot, 1, grown.slice(0, CHUNK), grown.slice(CHUNK));
    lens.splice(slot, 1, CHUNK, grown.length - CHUNK);
  } else {
    texts[slot] = grown;
    lens[slot] = grown.length;
  }
  node.len++;
}

/** Median µs per in-place insert at random positions: 40 batches of 100, like timeTree. */
export function timeCeilingInserts(root: CeilingNode, next: () => number): number {
  const perInsert: number[] = [];
  let length = root.len;
  for (let batch = 0; batch < 40; batch++) {
    const positions = Array.from({ length: 100 }, () => Math.floor(next() * ++length));
    const t0 = performance.now();
    for (const pos of positions) insertInPlace(root, pos);
    perInsert.push(((performance.now() - t0) * 1000) / positions.length);
  }
  return median(perInsert);
}
