/**
 * Pagination cursors the control API hands out are sealed (AES-256-GCM under
 * a key derived from the master key) with the list, the tenant and the
 * project as additional data: a client can neither read what a cursor holds
 * nor make one, and a cursor opens only on the list of the project that
 * issued it. Anything else (an id, another project's or list's cursor, a
 * changed character) is CURSOR_INVALID, never a page.
 */
import { type ActionContext, ZenError } from "../core/index.ts";
import { aesGcmOpen, aesGcmSeal } from "../crypto/index.ts";

export type CursorList =
  | "api_keys"
  | "deliveries"
  | "dlq"
  | "destinations"
  | "events"
  | "sources"
  | "subscriptions";

/** Long enough for every list's sealed position. */
export const MAX_CURSOR_LENGTH = 512;

export interface Cursors {
  seal(ctx: ActionContext, list: CursorList, position: string): string;
  /** The position inside, or undefined for no cursor; CURSOR_INVALID for one this list did not issue. */
  open(ctx: ActionContext, list: CursorList, cursor: string | undefined): string | undefined;
  /** A page with its next cursor sealed. */
  page<T>(ctx: ActionContext, list: CursorList, p: { data: T[]; next_cursor: string | null }): typeof p;
}

function aad(ctx: ActionContext, list: CursorList): Buffer {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "a cursor outside a project" });
  return Buffer.from(`zenmesh/cursor/v1\u0000${list}\u0000${ctx.tenantId}\u0000${ctx.projectId}`, "utf8");
}

export function createCursors(key: Buffer): Cursors {
  const c: Cursors = {
    seal(ctx, list, position) {
      return aesGcmSeal(key, Buffer.from(position, "utf8"), aad(ctx, list)).toString("base64url");
    },
    open(ctx, list, cursor) {
      if (cursor === undefined) return undefined;
      const bytes = /^[A-Za-z0-9_-]{1,512}$/.test(cursor) ? Buffer.from(cursor, "base64url") : undefined;
      try {
        if (bytes === undefined) throw new ZenError("CURSOR_INVALID");
        return aesGcmOpen(key, bytes, aad(ctx, list)).toString("utf8");
      } catch (err) {
        throw new ZenError("CURSOR_INVALID", { cause: err });
      }
    },
    page(ctx, list, p) {
      return { ...p, next_cursor: p.next_cursor === null ? null : c.seal(ctx, list, p.next_cursor) };
    },
  };
  return c;
}
