/**
 * What every subscription action shares: the stored row and its view,
 * loading under the tenant fence, the check that what a subscription names
 * belongs to the same project, and the audit entry.
 */
import { type AuditEntryInput, appendAudit } from "../../audit/index.ts";
import { type ActionContext, type Unreachable, ZenError } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { TenancyDeps } from "../../tenancy/index.ts";
import { type Issue, validationFailed } from "../destinations/input.ts";
import type { Condition } from "../filter.ts";

export type SubscriptionDeps = TenancyDeps;

export interface SubscriptionView {
  id: string;
  project_id: string;
  name: string;
  destination_id: string;
  source_ids: string[];
  event_types: string[];
  conditions: Condition[];
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface SubscriptionRow {
  id: string;
  tenant_id: string;
  project_id: string;
  destination_id: string;
  name: string;
  source_ids: string[];
  event_types: string[];
  conditions: Condition[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

export const SUBSCRIPTION_COLUMNS = `id, tenant_id, project_id, destination_id, name, source_ids, event_types,
  conditions, enabled, created_at, updated_at`;

const iso = (d: Date | string) => new Date(d).toISOString();

export function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

export function toView(r: SubscriptionRow): SubscriptionView {
  return {
    id: r.id,
    project_id: r.project_id,
    name: r.name,
    destination_id: r.destination_id,
    source_ids: [...r.source_ids],
    event_types: [...r.event_types],
    conditions: r.conditions,
    enabled: r.enabled,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export async function loadSubscription(
  tx: Tx,
  ctx: ActionContext,
  subscriptionId: string,
  lock = false,
): Promise<SubscriptionRow> {
  const r = await tx.query<SubscriptionRow>(
    `select ${SUBSCRIPTION_COLUMNS} from subscriptions
      where tenant_id = $1 and project_id = $2 and id = $3${lock ? " for update" : ""}`,
    [ctx.tenantId, projectOf(ctx), subscriptionId],
  );
  const row = r.rows[0];
  if (!row) throw new ZenError("NOT_FOUND");
  return row;
}

/**
 * A subscription may name only its own project's destination and sources.
 * Another project's or tenant's id fails exactly like one that does not
 * exist, as a validation issue on the field that names it, so nothing is
 * learned about ids outside the project; the API audits each such id as a
 * probe, like an id in a route's path. The destination row is share-locked
 * so it cannot be deleted between this check and the write.
 */
export async function checkReferences(
  tx: Tx,
  ctx: ActionContext,
  refs: { destinationId?: string | undefined; sourceIds?: readonly string[] | undefined },
): Promise<void> {
  const issues: Issue[] = [];
  const unreachable: Unreachable[] = [];
  const projectId = projectOf(ctx);
  if (refs.destinationId !== undefined) {
    const d = await tx.query(
      "select 1 from destinations where tenant_id = $1 and project_id = $2 and id = $3 for key share",
      [ctx.tenantId, projectId, refs.destinationId],
    );
    if (d.rows.length === 0) {
      issues.push({ path: "destination_id", message: "names no destination of this project" });
      unreachable.push({ type: "destination", id: refs.destinationId, field: "destination_id" });
    }
  }
  if (refs.sourceIds !== undefined && refs.sourceIds.length > 0) {
    const s = await tx.query<{ id: string }>(
      "select id from sources where tenant_id = $1 and project_id = $2 and id = any($3::text[])",
      [ctx.tenantId, projectId, [...refs.sourceIds]],
    );
    const found = new Set(s.rows.map((r) => r.id));
    refs.sourceIds.forEach((id, i) => {
      if (found.has(id)) return;
      issues.push({ path: `source_ids.${i}`, message: "names no source of this project" });
      unreachable.push({ type: "source", id, field: `source_ids.${i}` });
    });
  }
  if (issues.length > 0) throw validationFailed(issues.slice(0, 20), unreachable.slice(0, 20));
}

export async function auditSubscription(
  tx: Tx,
  ctx: ActionContext,
  action: string,
  subscriptionId: string,
  details: AuditEntryInput["details"],
): Promise<void> {
  await appendAudit(tx, {
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    action,
    outcome: "success",
    target: { type: "subscription", id: subscriptionId },
    projectId: projectOf(ctx),
    correlationId: ctx.correlationId,
    ...(details ? { details } : {}),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
  });
}
