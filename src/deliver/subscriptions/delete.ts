import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { auditSubscription, loadSubscription, projectOf, type SubscriptionDeps } from "./common.ts";

/** Stops routing; deliveries already made keep their record (their subscription id stays as history). */
export async function deleteSubscription(
  deps: SubscriptionDeps,
  ctx: ActionContext,
  subscriptionId: string,
): Promise<void> {
  requirePermission(ctx, "subscriptions:write");
  const projectId = projectOf(ctx);
  await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadSubscription(tx, ctx, subscriptionId, true);
    await tx.query("delete from subscriptions where tenant_id = $1 and project_id = $2 and id = $3", [
      ctx.tenantId,
      projectId,
      subscriptionId,
    ]);
    await auditSubscription(tx, ctx, "subscription.delete", subscriptionId, {
      destination_id: before.destination_id,
    });
  });
}
