/**
 * RFC 6962 section 2.1 Merkle Tree Hash (identical in RFC 9162 section 2.1),
 * over the audit chain's entry hashes. Guards against a log that shows
 * different histories to different readers: a checkpoint (tree size + root)
 * commits to every entry, and an inclusion proof shows one entry is in it.
 *
 *   leaf  = SHA-256(0x00 || data)      node = SHA-256(0x01 || left || right)
 *   MTH({}) = SHA-256("");  MTH(D[n]) splits at k, the largest power of two < n.
 *
 * Leaf and node hashes carry distinct prefixes so a node can never pass as a leaf.
 */
import { createHash } from "node:crypto";
import { ZenError } from "../core/index.ts";

const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

export function merkleLeafHash(data: Uint8Array): Buffer {
  return createHash("sha256").update(LEAF).update(data).digest();
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE).update(left).update(right).digest();
}

export const EMPTY_TREE_ROOT: Buffer = createHash("sha256").digest();

/** Largest power of two strictly below n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Root of a tree fed one leaf at a time in O(log n) memory, so a checkpoint
 * of a long chain never holds the chain. It keeps the roots of the perfect
 * subtrees that the binary digits of n describe; MTH folds them right to left.
 */
export class MerkleAccumulator {
  #stack: { size: number; hash: Buffer }[] = [];
  #count = 0;

  get size(): number {
    return this.#count;
  }

  addLeafInput(data: Uint8Array): void {
    this.addLeafHash(merkleLeafHash(data));
  }

  addLeafHash(hash: Buffer): void {
    let node = { size: 1, hash };
    for (
      let top = this.#stack.at(-1);
      top !== undefined && top.size === node.size;
      top = this.#stack.at(-1)
    ) {
      this.#stack.pop();
      node = { size: top.size * 2, hash: merkleNodeHash(top.hash, node.hash) };
    }
    this.#stack.push(node);
    this.#count++;
  }

  root(): Buffer {
    let acc: Buffer | undefined;
    for (let i = this.#stack.length - 1; i >= 0; i--) {
      const sub = this.#stack[i]!.hash;
      acc = acc === undefined ? sub : merkleNodeHash(sub, acc);
    }
    return acc ?? EMPTY_TREE_ROOT;
  }
}

export function merkleRoot(leafInputs: readonly Uint8Array[]): Buffer {
  const acc = new MerkleAccumulator();
  for (const leaf of leafInputs) acc.addLeafInput(leaf);
  return acc.root();
}

function subtreeRoot(leafHashes: readonly Buffer[], from: number, to: number): Buffer {
  if (to - from === 1) return leafHashes[from]!;
  const k = split(to - from);
  return merkleNodeHash(subtreeRoot(leafHashes, from, from + k), subtreeRoot(leafHashes, from + k, to));
}

function path(leafHashes: readonly Buffer[], m: number, from: number, to: number, out: Buffer[]): void {
  if (to - from <= 1) return;
  const k = split(to - from);
  if (m < k) {
    path(leafHashes, m, from, from + k, out);
    out.push(subtreeRoot(leafHashes, from + k, to));
  } else {
    path(leafHashes, m - k, from + k, to, out);
    out.push(subtreeRoot(leafHashes, from, from + k));
  }
}

/** RFC 6962 section 2.1.1 PATH(m, D[n]): sibling hashes from the leaf upwards. */
export function merkleInclusionProof(leafInputs: readonly Uint8Array[], index: number): Buffer[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafInputs.length) {
    throw new ZenError("INTERNAL", { message: "merkle inclusion proof: index outside the tree" });
  }
  const out: Buffer[] = [];
  path(leafInputs.map(merkleLeafHash), index, 0, leafInputs.length, out);
  return out;
}

/** RFC 9162 section 2.1.3.2: does `proof` place `leafHash` at `index` in the tree of `treeSize` with `root`? */
export function verifyMerkleInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) {
    return false;
  }
  if (leafHash.length !== 32 || root.length !== 32) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0 || p.length !== 32) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = merkleNodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
