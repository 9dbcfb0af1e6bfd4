import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { vectors } from "../../test/support/vectors.ts";
import {
  MerkleAccumulator,
  merkleInclusionProof,
  merkleLeafHash,
  merkleRoot,
  verifyMerkleInclusion,
} from "./merkle.ts";

const v = vectors.rfc6962_merkle as {
  leaf_inputs_hex: string[];
  roots_by_size: Record<string, string>;
  leaf_hash_of_hello_world_base64: string;
};
const leaves = v.leaf_inputs_hex.map((h) => Buffer.from(h, "hex"));

describe("RFC 6962 Merkle tree", () => {
  test("hashes the leaf 'hello world' as the vector says", () => {
    assert.equal(
      merkleLeafHash(Buffer.from("hello world")).toString("base64"),
      v.leaf_hash_of_hello_world_base64,
    );
  });

  test("computes the published root for every tree size 0..8", () => {
    const sizes = Object.keys(v.roots_by_size);
    assert.equal(sizes.length, 9);
    for (const size of sizes) {
      assert.equal(merkleRoot(leaves.slice(0, Number(size))).toString("hex"), v.roots_by_size[size], size);
    }
  });

  test("an accumulator fed leaf by leaf agrees with the root at every size", () => {
    const acc = new MerkleAccumulator();
    assert.equal(acc.root().toString("hex"), v.roots_by_size["0"]);
    leaves.forEach((leaf, i) => {
      acc.addLeafInput(leaf);
      assert.equal(acc.size, i + 1);
      assert.equal(acc.root().toString("hex"), v.roots_by_size[String(i + 1)]);
    });
  });

  test("an inclusion proof verifies for every index of trees of size 1..8", () => {
    for (let n = 1; n <= leaves.length; n++) {
      const tree = leaves.slice(0, n);
      const root = Buffer.from(v.roots_by_size[String(n)]!, "hex");
      for (let i = 0; i < n; i++) {
        const proof = merkleInclusionProof(tree, i);
        assert.ok(verifyMerkleInclusion(merkleLeafHash(tree[i]!), i, n, proof, root), `n=${n} i=${i}`);
      }
    }
  });

  test("an inclusion proof fails for a wrong index, leaf, root or path", () => {
    for (let n = 2; n <= leaves.length; n++) {
      const tree = leaves.slice(0, n);
      const root = Buffer.from(v.roots_by_size[String(n)]!, "hex");
      for (let i = 0; i < n; i++) {
        const proof = merkleInclusionProof(tree, i);
        const leaf = merkleLeafHash(tree[i]!);
        const other = (i + 1) % n;
        assert.equal(verifyMerkleInclusion(leaf, other, n, proof, root), false, `index n=${n} i=${i}`);
        assert.equal(
          verifyMerkleInclusion(merkleLeafHash(tree[other]!), i, n, proof, root),
          false,
          `leaf n=${n} i=${i}`,
        );
        assert.equal(verifyMerkleInclusion(leaf, i, n, proof, Buffer.alloc(32)), false, `root n=${n} i=${i}`);
        assert.equal(verifyMerkleInclusion(leaf, i, n, proof.slice(1), root), false, `short n=${n} i=${i}`);
        assert.equal(verifyMerkleInclusion(leaf, i, n, [...proof, leaf], root), false, `long n=${n} i=${i}`);
      }
    }
  });

  test("an index outside the tree has no proof and never verifies", () => {
    assert.throws(() => merkleInclusionProof(leaves.slice(0, 3), 3), { code: "INTERNAL" });
    assert.throws(() => merkleInclusionProof([], 0), { code: "INTERNAL" });
    const root = Buffer.from(v.roots_by_size["3"]!, "hex");
    assert.equal(verifyMerkleInclusion(merkleLeafHash(leaves[0]!), 3, 3, [], root), false);
    assert.equal(verifyMerkleInclusion(merkleLeafHash(leaves[0]!), -1, 3, [], root), false);
  });

  test("a single-leaf tree's root is its leaf hash and its proof is empty", () => {
    const only = leaves.slice(0, 1);
    assert.deepEqual(merkleInclusionProof(only, 0), []);
    assert.ok(verifyMerkleInclusion(merkleLeafHash(leaves[0]!), 0, 1, [], merkleRoot(only)));
  });
});
