import { type ActionContext, newId } from "../../core/index.ts";
import { checkProjectQuota, requirePermission } from "../../tenancy/index.ts";
import { parseInput } from "../destinations/input.ts";
import {
  auditSubscription,
  checkReferences,
  projectOf,
  SUBSCRIPTION_COLUMNS,
  type SubscriptionDeps,
  type SubscriptionRow,
  type SubscriptionView,
  toView,
} from "./common.ts";
import { type CreateSubscriptionInput, createSubscriptionInput, DEFAULT_SUBSCRIPTION_NAME } from "./input.ts";

/** Routes the project's events (all, or those of some sources, types and conditions) to one destination. */
export async function createSubscription(
  deps: SubscriptionDeps,
  ctx: ActionContext,
  input: CreateSubscriptionInput,
): Promise<SubscriptionView> {
  requirePermission(ctx, "subscriptions:write");
  const projectId = projectOf(ctx);
  const v = parseInput(createSubscriptionInput, input);
  const id = newId("subscription");
  const now = deps.clock.now();
  const sourceIds = [...new Set(v.source_ids ?? [])];
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    await checkProjectQuota(tx, deps.quotas, ctx, "subscriptions", now);
    await checkReferences(tx, ctx, { destinationId: v.destination_id, sourceIds: v.source_ids });
    const r = await tx.query<SubscriptionRow>(
      `insert into subscriptions (id, tenant_id, project_id, destination_id, name, source_ids, event_types,
         conditions, enabled, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6::text[], $7::text[], $8::jsonb, $9, $10, $10)
       returning ${SUBSCRIPTION_COLUMNS}`,
      [
        id,
        ctx.tenantId,
        projectId,
        v.destination_id,
        v.name ?? DEFAULT_SUBSCRIPTION_NAME,
        sourceIds,
        v.event_types ?? [],
        JSON.stringify(v.conditions ?? []),
        v.enabled ?? true,
        now,
      ],
    );
    await auditSubscription(tx, ctx, "subscription.create", id, {
      destination_id: v.destination_id,
      sources: sourceIds.length,
      event_types: (v.event_types ?? []).length,
      conditions: (v.conditions ?? []).length,
    });
    return toView(r.rows[0]!);
  });
}
