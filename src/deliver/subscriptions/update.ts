import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { parseInput } from "../destinations/input.ts";
import {
  auditSubscription,
  checkReferences,
  loadSubscription,
  projectOf,
  SUBSCRIPTION_COLUMNS,
  type SubscriptionDeps,
  type SubscriptionRow,
  type SubscriptionView,
  toView,
} from "./common.ts";
import { type UpdateSubscriptionInput, updateSubscriptionInput } from "./input.ts";

/** Changes the fields named; a new destination or source list is checked against the project again. */
export async function updateSubscription(
  deps: SubscriptionDeps,
  ctx: ActionContext,
  subscriptionId: string,
  input: UpdateSubscriptionInput,
): Promise<SubscriptionView> {
  requirePermission(ctx, "subscriptions:write");
  const projectId = projectOf(ctx);
  const v = parseInput(updateSubscriptionInput, input);
  const now = deps.clock.now();
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadSubscription(tx, ctx, subscriptionId, true);
    await checkReferences(tx, ctx, { destinationId: v.destination_id, sourceIds: v.source_ids });
    const r = await tx.query<SubscriptionRow>(
      `update subscriptions set name = $4, destination_id = $5, source_ids = $6::text[], event_types = $7::text[],
         conditions = $8::jsonb, enabled = $9, updated_at = $10
       where tenant_id = $1 and project_id = $2 and id = $3 returning ${SUBSCRIPTION_COLUMNS}`,
      [
        ctx.tenantId,
        projectId,
        subscriptionId,
        v.name ?? before.name,
        v.destination_id ?? before.destination_id,
        v.source_ids === undefined ? before.source_ids : [...new Set(v.source_ids)],
        v.event_types ?? before.event_types,
        JSON.stringify(v.conditions ?? before.conditions),
        v.enabled ?? before.enabled,
        now,
      ],
    );
    const fields = Object.keys(v)
      .filter((k) => v[k as keyof typeof v] !== undefined)
      .sort()
      .join(" ");
    await auditSubscription(tx, ctx, "subscription.update", subscriptionId, {
      fields,
      destination_id: v.destination_id ?? before.destination_id,
    });
    return toView(r.rows[0]!);
  });
}
