/**
 * Keyset cursors over (received_at, id), newest first. The cursor is opaque to
 * callers; inside it holds received_at at the database's microsecond
 * precision, so no event is skipped or repeated across a page boundary.
 */
import { isId, ZenError } from "../../core/index.ts";

export interface EventCursor {
  receivedAt: string;
  id: string;
}

const MICROS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeCursor(c: EventCursor): string {
  return Buffer.from(JSON.stringify([c.receivedAt, c.id]), "utf8").toString("base64url");
}

export function decodeCursor(text: string): EventCursor {
  const invalid = () => new ZenError("VALIDATION_FAILED", { message: "The cursor is not valid." });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [receivedAt, id] = parsed as unknown[];
  if (
    typeof receivedAt !== "string" ||
    !MICROS_UTC.test(receivedAt) ||
    Number.isNaN(Date.parse(receivedAt))
  ) {
    throw invalid();
  }
  if (!isId("event", id)) throw invalid();
  return { receivedAt, id };
}
