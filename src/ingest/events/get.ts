/**
 * One event. Reading the envelope needs events:read; the decrypted payload
 * is included only with events:payload, and every payload read is an audit
 * entry committed in the same transaction as the read, so no payload leaves
 * the database unrecorded. Another project's or tenant's event is NOT_FOUND.
 */
import { appendAudit } from "../../audit/index.ts";
import { type ActionContext, ZenError } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { toStructured } from "../cloudevents/index.ts";
import type { EventsDeps } from "./deps.ts";
import { EVENT_COLUMNS, type EventRow, type EventView, envelopeOf, factsOf, toView } from "./view.ts";

export type EventDetail = EventView & { payload_omitted: boolean };

export async function getEvent(deps: EventsDeps, ctx: ActionContext, eventId: string): Promise<EventDetail> {
  requirePermission(ctx, "events:read");
  const projectId = ctx.projectId;
  if (!projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  const withPayload = ctx.permissions.has("events:payload");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<EventRow & { payload_sealed?: string }>(
      `select ${EVENT_COLUMNS}${withPayload ? ", payload_sealed" : ""} from events
        where tenant_id = $1 and project_id = $2 and id = $3`,
      [ctx.tenantId, projectId, eventId],
    );
    const row = r.rows[0];
    if (row === undefined) throw new ZenError("NOT_FOUND");
    if (!withPayload || row.payload_sealed === undefined) return { ...toView(row), payload_omitted: true };
    const payload = await deps.zenlock.open(
      tx,
      ctx.tenantId,
      { table: "events", column: "payload", rowId: row.id },
      row.payload_sealed,
    );
    await appendAudit(tx, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "event.payload_read",
      outcome: "success",
      target: { type: "event", id: row.id },
      projectId,
      correlationId: ctx.correlationId,
      details: { payload_bytes: payload.length },
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
    return { event: toStructured(envelopeOf(row), payload), ...factsOf(row), payload_omitted: false };
  });
}
