import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { auditDestination, type DeliverDeps, loadDestination, projectOf } from "./common.ts";

/**
 * Deletes a destination for good: its secret versions, subscriptions and
 * deliveries go with it (foreign-key cascade), and in the same transaction
 * its queued work and its gate, which live outside the tenant fence and so
 * are named by tenant as well as by id.
 */
export async function deleteDestination(
  deps: DeliverDeps,
  ctx: ActionContext,
  destinationId: string,
): Promise<void> {
  requirePermission(ctx, "destinations:write");
  const projectId = projectOf(ctx);
  await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadDestination(tx, ctx, destinationId, true);
    const queued = await tx.query("delete from delivery_queue where destination_id = $1 and tenant_id = $2", [
      destinationId,
      ctx.tenantId,
    ]);
    await tx.query("delete from destination_gates where destination_id = $1 and tenant_id = $2", [
      destinationId,
      ctx.tenantId,
    ]);
    const subscriptions = await tx.query<{ n: number }>(
      "select count(*)::int as n from subscriptions where tenant_id = $1 and destination_id = $2",
      [ctx.tenantId, destinationId],
    );
    await tx.query("delete from destinations where tenant_id = $1 and project_id = $2 and id = $3", [
      ctx.tenantId,
      projectId,
      destinationId,
    ]);
    await auditDestination(tx, ctx, "destination.delete", destinationId, {
      host: new URL(before.url).host,
      subscriptions: Number(subscriptions.rows[0]?.n ?? 0),
      queued: queued.rowCount,
    });
  });
}
