/**
 * Reading deliveries: the project's list (by status, destination, event),
 * one delivery with its full attempt history, and the dead letter queue.
 * Attempt records hold a sanitized excerpt of what the target answered, never
 * a request header, so no credential can surface here. Another project's or
 * tenant's delivery is NOT_FOUND.
 */
import { type ActionContext, ZenError } from "../../core/index.ts";
import type { Database } from "../../db/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import type { DeliveryStatus } from "../types.ts";

export interface DeliveryView {
  id: string;
  project_id: string;
  event_id: string;
  destination_id: string;
  subscription_id: string | null;
  status: DeliveryStatus;
  attempts: number;
  replays: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  succeeded_at: string | null;
  dead_at: string | null;
  event_type: string;
}

export interface AttemptView {
  attempt: number;
  started_at: string;
  latency_ms: number;
  verdict: "success" | "retry" | "fail";
  status_code: number | null;
  error_class: string | null;
  detail: string | null;
  next_attempt_at: string | null;
}

export const MAX_DELIVERIES_PAGE = 200;

const COLUMNS = `d.id, d.project_id, d.event_id, d.destination_id, d.subscription_id, d.status, d.attempts, d.replays,
  d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.created_at, d.succeeded_at, d.dead_at,
  e.type as event_type`;

type Row = Omit<
  DeliveryView,
  "next_attempt_at" | "last_attempt_at" | "created_at" | "succeeded_at" | "dead_at"
> &
  Record<"next_attempt_at" | "last_attempt_at" | "succeeded_at" | "dead_at", Date | null> & {
    created_at: Date;
  };

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

function view(r: Row): DeliveryView {
  return {
    ...r,
    attempts: Number(r.attempts),
    replays: Number(r.replays),
    last_status: r.last_status === null ? null : Number(r.last_status),
    next_attempt_at: iso(r.next_attempt_at),
    last_attempt_at: iso(r.last_attempt_at),
    created_at: new Date(r.created_at).toISOString(),
    succeeded_at: iso(r.succeeded_at),
    dead_at: iso(r.dead_at),
  };
}

function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

export interface ListDeliveriesOptions {
  status?: DeliveryStatus | undefined;
  destinationId?: string | undefined;
  eventId?: string | undefined;
  eventType?: string | undefined;
  limit: number;
  /**
   * The last id of the previous page (pages go newest first by id within creation time); a
   * delivery this project does not hold (or, for the DLQ, that is not dead) is CURSOR_INVALID.
   */
  after?: string | undefined;
  /** The dead letter queue: dead deliveries, most recently dead first. */
  dlq?: boolean;
}

export async function listDeliveries(
  deps: { db: Database },
  ctx: ActionContext,
  opts: ListDeliveriesOptions,
): Promise<{ data: DeliveryView[]; next_cursor: string | null }> {
  requirePermission(ctx, "deliveries:read");
  const projectId = projectOf(ctx);
  const where = ["d.tenant_id = $1", "d.project_id = $2"];
  const params: unknown[] = [ctx.tenantId, projectId];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace("?", `$${params.length}`));
  };
  const status = opts.dlq ? "dead" : opts.status;
  if (status !== undefined) add("d.status = ?", status);
  if (opts.destinationId !== undefined) add("d.destination_id = ?", opts.destinationId);
  if (opts.eventId !== undefined) add("d.event_id = ?", opts.eventId);
  if (opts.eventType !== undefined) add("e.type = ?", opts.eventType);
  const order = opts.dlq ? "d.dead_at" : "d.created_at";
  const after = opts.after;
  if (after !== undefined) {
    params.push(after);
    const p = `$${params.length}`;
    // The position is read in this project only: another project's delivery is no position here.
    where.push(
      `(${order}, d.id) < (select ${order.replace("d.", "c.")}, c.id from deliveries c
        where c.tenant_id = $1 and c.project_id = $2 and c.id = ${p})`,
    );
  }
  params.push(opts.limit + 1);
  const r = await deps.db.withTenant(ctx.tenantId, async (tx) => {
    if (after !== undefined) {
      const at = await tx.query(
        `select 1 from deliveries where tenant_id = $1 and project_id = $2 and id = $3${opts.dlq ? " and dead_at is not null" : ""}`,
        [ctx.tenantId, projectId, after],
      );
      if (at.rows.length === 0) throw new ZenError("CURSOR_INVALID");
    }
    return tx.query<Row>(
      `select ${COLUMNS} from deliveries d join events e on e.id = d.event_id and e.tenant_id = d.tenant_id
        where ${where.join(" and ")}
        order by ${order} desc, d.id desc limit $${params.length}`,
      params,
    );
  });
  const page = r.rows.slice(0, opts.limit).map(view);
  return { data: page, next_cursor: r.rows.length > opts.limit ? (page.at(-1)?.id ?? null) : null };
}

export async function getDelivery(
  deps: { db: Database },
  ctx: ActionContext,
  deliveryId: string,
): Promise<DeliveryView & { attempt_history: AttemptView[] }> {
  requirePermission(ctx, "deliveries:read");
  const projectId = projectOf(ctx);
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<Row>(
      `select ${COLUMNS} from deliveries d join events e on e.id = d.event_id and e.tenant_id = d.tenant_id
        where d.tenant_id = $1 and d.project_id = $2 and d.id = $3`,
      [ctx.tenantId, projectId, deliveryId],
    );
    const row = r.rows[0];
    if (!row) throw new ZenError("NOT_FOUND");
    const a = await tx.query<{
      attempt: number;
      started_at: Date;
      latency_ms: number;
      verdict: AttemptView["verdict"];
      status_code: number | null;
      error_class: string | null;
      detail: string | null;
      next_attempt_at: Date | null;
    }>(
      `select attempt, started_at, latency_ms, verdict, status_code, error_class, detail, next_attempt_at
         from delivery_attempts where tenant_id = $1 and delivery_id = $2 order by attempt`,
      [ctx.tenantId, deliveryId],
    );
    return {
      ...view(row),
      attempt_history: a.rows.map((x) => ({
        attempt: Number(x.attempt),
        started_at: new Date(x.started_at).toISOString(),
        latency_ms: Number(x.latency_ms),
        verdict: x.verdict,
        status_code: x.status_code === null ? null : Number(x.status_code),
        error_class: x.error_class,
        detail: x.detail,
        next_attempt_at: iso(x.next_attempt_at),
      })),
    };
  });
}
