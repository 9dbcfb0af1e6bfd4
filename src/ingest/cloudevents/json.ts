/**
 * JSON handling for the structured and batched modes.
 *
 * `JSON.parse` keeps the last of duplicate member names, so two parsers can
 * read one document differently; the event objects are therefore scanned for
 * duplicate attribute names. The scan also bounds nesting depth: parsing is
 * iterative in V8 but re-serialising is recursive, so a deep document would
 * otherwise throw later. Numbers whose text `JSON.stringify` would not
 * reproduce (big integers, long decimals) are kept as raw JSON so event data
 * is re-serialised without losing precision.
 */
import { LIMITS } from "./attributes.ts";

export interface JsonScan {
  /** Deepest nesting of arrays and objects. */
  depth: number;
  /** A member name repeated within one object at `objectDepth`. */
  duplicateKey: boolean;
}

/**
 * One pass over the text: nesting depth, and duplicate member names in the
 * objects that sit at `objectDepth` (1: the top-level object; 2: objects in a
 * top-level array). Meaningful only for text that `JSON.parse` accepts; on
 * other text it returns some answer and never throws.
 */
export function scanJson(text: string, objectDepth: number): JsonScan {
  let depth = 0;
  let maxDepth = 0;
  let duplicateKey = false;
  let keys: Set<string> | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      if (keys !== null && depth === objectDepth && isFollowedByColon(text, i + 1)) {
        let name: unknown;
        try {
          name = JSON.parse(text.slice(start, i + 1));
        } catch {
          continue;
        }
        if (typeof name !== "string") continue;
        if (keys.has(name)) duplicateKey = true;
        keys.add(name);
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > maxDepth) maxDepth = depth;
      if (depth === objectDepth) keys = c === 0x7b ? new Set() : null;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === objectDepth) keys = null;
      depth--;
    }
  }
  return { depth: maxDepth, duplicateKey };
}

function isFollowedByColon(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return false;
}

interface RawJsonApi {
  rawJSON(text: string): unknown;
}
const rawJson = (JSON as unknown as RawJsonApi).rawJSON;

function keepNumberText(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && context?.source !== undefined && String(value) !== context.source) {
    return rawJson(context.source);
  }
  return value;
}

export type JsonParse = { ok: true; value: unknown; scan: JsonScan } | { ok: false };

/**
 * Parses JSON text of bounded depth. Numbers `JSON.stringify` would rewrite
 * come back as raw-JSON values (objects with a `rawJSON` member), so they
 * re-serialise byte for byte.
 */
export function parseJson(text: string, objectDepth: number): JsonParse {
  const scan = scanJson(text, objectDepth);
  if (scan.depth > LIMITS.jsonDepth) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text, keepNumberText), scan };
  } catch {
    return { ok: false };
  }
}

export function isRawJson(value: unknown): value is { rawJSON: string } {
  return (JSON as unknown as { isRawJSON(v: unknown): boolean }).isRawJSON(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isRawJson(value);
}
