import { z } from "zod";
import { shownName } from "../core/index.ts";
import { MAX_CURSOR_LENGTH } from "./cursors.ts";

export const idParam = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[0-9A-Za-z]{22}$`), `a ${prefix}_ id`);

export const name = shownName(200);

export const cursor = z.string().max(MAX_CURSOR_LENGTH);

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The `next_cursor` of the previous page, as it was handed out. */
  after: cursor.optional(),
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });
