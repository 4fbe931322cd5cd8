/**
 * Cutting a piece tree at a piece index and putting trees together again, for edits that span
 * pieces of several leaves (piece-tree.ts covers edits inside one leaf). Both keep the B-tree
 * invariants: a root may be less than half full, no other node may, and the nodes of a
 * half-full root are merged into a neighbour of the same height rather than hung below one.
 * Each costs O(height²) node copies (height is 3 or 4 for a million characters).
 */
import { BRANCH_MAX, Branch, Leaf, LEAF_MAX, branchOf, branchesOf, isFull, leafOf, leavesOf, replaceChildren, rootOver, type Node, type Tree } from './piece-tree.js';

/** `a` and `b` (same height) as one node, or two nodes each at least half full. */
function mergeSameHeight(a: Node, b: Node): Node[] {
  if (isFull(a) && isFull(b)) return [a, b];
  if (a instanceof Leaf && b instanceof Leaf) {
    const texts = a.texts.concat(b.texts);
    const attrs = a.attrs.concat(b.attrs);
    const safe = a.jsonSafe && b.jsonSafe;
    return texts.length <= LEAF_MAX ? [leafOf(texts, attrs, safe)] : leavesOf(texts, attrs, safe);
  }
  const children = (a as Branch).children.concat((b as Branch).children);
  return children.length <= BRANCH_MAX ? [branchOf(children)] : branchesOf(children);
}

/** All of `a` then all of `b`, as one or two nodes of the greater height. */
function concatNodes(a: Node, b: Node): Node[] {
  if (a.height === b.height) return mergeSameHeight(a, b);
  if (a instanceof Branch && a.height > b.height) {
    const last = a.children.length - 1;
    return replaceChildren(a, last, last + 1, concatNodes(a.children[last] as Node, b));
  }
  const right = b as Branch;
  return replaceChildren(right, 0, 1, concatNodes(a, right.children[0] as Node));
}

/** A root with a single child is that child. */
function collapse(t: Tree): Tree {
  let root = t;
  while (root instanceof Branch && root.children.length === 1) root = root.children[0] as Node;
  return root;
}

/** All of `a` then all of `b`. */
export function concat(a: Tree, b: Tree): Tree {
  if (a === null) return b;
  if (b === null) return a;
  return collapse(rootOver(concatNodes(a, b)));
}

/** Children [from, to) of `b` as one tree (a root that may be less than half full). */
function childrenTree(b: Branch, from: number, to: number): Tree {
  if (from >= to) return null;
  if (to - from === 1) return b.children[from] as Node;
  return branchOf(b.children.slice(from, to));
}

/** The first `i` pieces and the rest. */
export function split(t: Tree, i: number): [Tree, Tree] {
  if (t === null || i <= 0) return [null, t];
  if (i >= t.count) return [t, null];
  if (t instanceof Leaf) {
    return [leafOf(t.texts.slice(0, i), t.attrs.slice(0, i), t.jsonSafe), leafOf(t.texts.slice(i), t.attrs.slice(i), t.jsonSafe)];
  }
  let k = 0;
  let rest = i;
  while (rest >= (t.counts[k] as number)) rest -= t.counts[k++] as number;
  const [left, right] = split(t.children[k] as Node, rest);
  return [concat(childrenTree(t, 0, k), left), concat(right, childrenTree(t, k + 1, t.children.length))];
}
