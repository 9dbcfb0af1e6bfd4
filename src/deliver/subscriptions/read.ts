import type { ActionContext } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import type { Condition } from "../filter.ts";
import {
  loadSubscription,
  projectOf,
  SUBSCRIPTION_COLUMNS,
  type SubscriptionDeps,
  type SubscriptionRow,
  type SubscriptionView,
  toView,
} from "./common.ts";

/** The project's subscriptions by id, after the cursor, optionally only those of one destination. */
export async function listSubscriptions(
  deps: SubscriptionDeps,
  ctx: ActionContext,
  opts: { limit: number; after?: string | undefined; destinationId?: string | undefined },
): Promise<SubscriptionView[]> {
  requirePermission(ctx, "subscriptions:read");
  const projectId = projectOf(ctx);
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<SubscriptionRow>(
      `select ${SUBSCRIPTION_COLUMNS} from subscriptions
        where tenant_id = $1 and project_id = $2 and ($3::text is null or id > $3)
          and ($4::text is null or destination_id = $4)
        order by id limit $5`,
      [ctx.tenantId, projectId, opts.after ?? null, opts.destinationId ?? null, opts.limit],
    );
    return r.rows.map(toView);
  });
}

export async function getSubscription(
  deps: SubscriptionDeps,
  ctx: ActionContext,
  subscriptionId: string,
): Promise<SubscriptionView> {
  requirePermission(ctx, "subscriptions:read");
  return deps.db.withTenant(ctx.tenantId, async (tx) =>
    toView(await loadSubscription(tx, ctx, subscriptionId)),
  );
}

/** A subscription as fan-out matches events against it. */
export interface SubscriptionRule {
  id: string;
  projectId: string;
  destinationId: string;
  /** Empty: every source of the project. */
  sourceIds: string[];
  /** Empty: every type. */
  eventTypes: string[];
  conditions: Condition[];
}

/** The enabled subscriptions of these projects whose destination is enabled, by id. */
export async function loadSubscriptionsForProjects(
  tx: Tx,
  tenantId: string,
  projectIds: readonly string[],
): Promise<SubscriptionRule[]> {
  if (projectIds.length === 0) return [];
  const r = await tx.query<{
    id: string;
    project_id: string;
    destination_id: string;
    source_ids: string[];
    event_types: string[];
    conditions: Condition[];
  }>(
    `select s.id, s.project_id, s.destination_id, s.source_ids, s.event_types, s.conditions
       from subscriptions s
       join destinations d on d.tenant_id = s.tenant_id and d.id = s.destination_id
      where s.tenant_id = $1 and s.project_id = any($2::text[]) and s.enabled and d.enabled
      order by s.id`,
    [tenantId, [...projectIds]],
  );
  return r.rows.map((s) => ({
    id: s.id,
    projectId: s.project_id,
    destinationId: s.destination_id,
    sourceIds: [...s.source_ids],
    eventTypes: [...s.event_types],
    conditions: s.conditions,
  }));
}
