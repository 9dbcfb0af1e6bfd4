import { type ActionContext, ZenError } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { EventsDeps } from "./deps.ts";
import { EVENT_COLUMNS, type EventRow, type EventStatus, type EventView, toView } from "./view.ts";

export const MAX_EVENTS_PAGE = 200;

export interface ListEventsInput {
  sourceId?: string | undefined;
  type?: string | undefined;
  status?: EventStatus | undefined;
  /** Exclusive bounds on received_at. */
  receivedAfter?: Date | undefined;
  receivedBefore?: Date | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface EventPage {
  data: EventView[];
  next_cursor: string | null;
}

/** The project's events, newest first, without payloads. */
export async function listEvents(
  deps: EventsDeps,
  ctx: ActionContext,
  input: ListEventsInput,
): Promise<EventPage> {
  requirePermission(ctx, "events:read");
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  if (!Number.isSafeInteger(input.limit) || input.limit < 1 || input.limit > MAX_EVENTS_PAGE) {
    throw new ZenError("VALIDATION_FAILED", { message: `limit must be an integer in 1..${MAX_EVENTS_PAGE}` });
  }
  const after = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  const rows = await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<EventRow>(
      `select ${EVENT_COLUMNS} from events
        where tenant_id = $1 and project_id = $2
          and ($3::text is null or source_id = $3)
          and ($4::text is null or type = $4)
          and ($5::text is null or status = $5)
          and ($6::timestamptz is null or received_at > $6)
          and ($7::timestamptz is null or received_at < $7)
          and ($8::timestamptz is null or (received_at, id) < ($8::timestamptz, $9::text))
        order by received_at desc, id desc
        limit $10`,
      [
        ctx.tenantId,
        ctx.projectId,
        input.sourceId ?? null,
        input.type ?? null,
        input.status ?? null,
        input.receivedAfter ?? null,
        input.receivedBefore ?? null,
        after?.receivedAt ?? null,
        after?.id ?? null,
        input.limit + 1,
      ],
    );
    return r.rows;
  });
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    data: page.map(toView),
    next_cursor:
      rows.length > input.limit && last !== undefined
        ? encodeCursor({ receivedAt: last.received_key, id: last.id })
        : null,
  };
}
