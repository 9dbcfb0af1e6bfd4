/**
 * How an action refuses input it cannot take: one VALIDATION_FAILED error
 * whose details list the failing paths and a message for each, never the
 * offending values (a secret, a token, a key would otherwise be echoed).
 */
import type { z } from "zod";
import { ZenError } from "./errors.ts";

export interface Issue {
  path: string;
  message: string;
}

export function validationFailed(issues: Issue[]): ZenError {
  return new ZenError("VALIDATION_FAILED", { details: { issues } });
}

/** Paths and messages only; an unknown key's name is caller text too, so it is not repeated. */
export function issuesOf(error: z.ZodError, prefix: string[] = []): Issue[] {
  return error.issues.slice(0, 20).map((i) => ({
    path: [...prefix, ...i.path.map(String)].join(".") || "input",
    message: i.code === "unrecognized_keys" ? "has a field that is not allowed" : i.message,
  }));
}

export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw validationFailed(issuesOf(r.error));
  return r.data;
}

/**
 * Characters that make text shown to people read differently from what it is:
 * C0 and C1 controls, the Unicode bidirectional controls (embeddings,
 * overrides, isolates, marks; Unicode's Bidi_Control property) and the
 * zero-width and invisible format characters. An event type or a name that
 * carries one can impersonate another in a list, a log or the dashboard.
 */
const INVISIBLE_OR_CONTROL = /[\p{Cc}\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

export function hasInvisibleOrControl(text: string): boolean {
  return INVISIBLE_OR_CONTROL.test(text);
}
