/**
 * Known-answer vectors: the repository's own verbatim copy (test/vectors, see
 * its README). ZENMESH_TEST_VECTORS overrides the location.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export const VECTORS_PATH = resolve(import.meta.dirname, "..", "vectors", "vectors.json");

const path = process.env.ZENMESH_TEST_VECTORS ?? VECTORS_PATH;

// biome-ignore lint/suspicious/noExplicitAny: the vectors file is external JSON, narrowed by each test
export const vectors: any = JSON.parse(readFileSync(path, "utf8"));
