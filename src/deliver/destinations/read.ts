import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import {
  DESTINATION_COLUMNS,
  type DeliverDeps,
  type DestinationRow,
  type DestinationView,
  loadDestination,
  projectOf,
  relatedOf,
  toView,
} from "./common.ts";

/** The project's destinations by id, after the cursor. */
export async function listDestinations(
  deps: DeliverDeps,
  ctx: ActionContext,
  opts: { limit: number; after?: string | undefined },
): Promise<DestinationView[]> {
  requirePermission(ctx, "destinations:read");
  const projectId = projectOf(ctx);
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<DestinationRow>(
      `select ${DESTINATION_COLUMNS} from destinations
        where tenant_id = $1 and project_id = $2 and ($3::text is null or id > $3)
        order by id limit $4`,
      [ctx.tenantId, projectId, opts.after ?? null, opts.limit],
    );
    const related = await relatedOf(
      tx,
      ctx.tenantId,
      r.rows.map((d) => d.id),
      deps.clock.now(),
    );
    return r.rows.map((d) => toView(d, related));
  });
}

export async function getDestination(
  deps: DeliverDeps,
  ctx: ActionContext,
  destinationId: string,
): Promise<DestinationView> {
  requirePermission(ctx, "destinations:read");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const row = await loadDestination(tx, ctx, destinationId);
    return toView(row, await relatedOf(tx, ctx.tenantId, [destinationId], deps.clock.now()));
  });
}
