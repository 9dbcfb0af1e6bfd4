/**
 * How an action refuses input it cannot take: one VALIDATION_FAILED error
 * whose details list the failing paths and a message for each, never the
 * offending values (a secret, a token, a key would otherwise be echoed).
 */
import { z } from "zod";
import { type Unreachable, ZenError } from "./errors.ts";

export interface Issue {
  path: string;
  message: string;
}

/** The issue message for text shown to people that holds an invisible or control character. */
export const SHOWN_TEXT_MESSAGE = "must not contain invisible or control characters";

/** TEXT_NOT_ALLOWED when any issue is about such characters, so clients can tell it apart; else VALIDATION_FAILED. */
export function validationFailed(issues: Issue[], unreachable?: readonly Unreachable[]): ZenError {
  const code = issues.some((i) => i.message === SHOWN_TEXT_MESSAGE)
    ? "TEXT_NOT_ALLOWED"
    : "VALIDATION_FAILED";
  return new ZenError(code, { details: { issues }, ...(unreachable?.length ? { unreachable } : {}) });
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

/** A string shown to people: refused (TEXT_NOT_ALLOWED) when it holds an invisible or control character. */
export function shownText(schema: z.ZodString = z.string()): z.ZodString {
  return schema.refine((t) => !hasInvisibleOrControl(t), SHOWN_TEXT_MESSAGE);
}

/** A name shown to people: trimmed, 1 to `max` characters, no invisible or control characters. */
export function shownName(max = 200): z.ZodString {
  return shownText(z.string().trim().min(1).max(max));
}
