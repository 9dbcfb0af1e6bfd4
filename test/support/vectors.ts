/**
 * Known-answer vectors live beside the repository (shared/test-vectors), never
 * copied into it. ZENMESH_TEST_VECTORS overrides the location.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const path =
  process.env.ZENMESH_TEST_VECTORS ??
  resolve(import.meta.dirname, "..", "..", "..", "shared", "test-vectors", "vectors.json");

// biome-ignore lint/suspicious/noExplicitAny: the vectors file is external JSON, narrowed by each test
export const vectors: any = JSON.parse(readFileSync(path, "utf8"));
