import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import {
  liveSecretVersions,
  loadSource,
  projectOf,
  SOURCE_COLUMNS,
  type SourceDeps,
  type SourceRow,
  type SourceView,
  secretCap,
  toView,
} from "./common.ts";

/** The project's sources by id, after the cursor. */
export async function listSources(
  deps: SourceDeps,
  ctx: ActionContext,
  opts: { limit: number; after?: string | undefined },
): Promise<SourceView[]> {
  requirePermission(ctx, "sources:read");
  const projectId = projectOf(ctx);
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<SourceRow>(
      `select ${SOURCE_COLUMNS} from sources
        where tenant_id = $1 and project_id = $2 and ($3::text is null or id > $3)
        order by id limit $4`,
      [ctx.tenantId, projectId, opts.after ?? null, opts.limit],
    );
    const ids = r.rows.map((s) => s.id);
    const secrets = await liveSecretVersions(tx, ctx.tenantId, ids, deps.clock.now(), secretCap(deps));
    return r.rows.map((s) => toView(deps, s, secrets));
  });
}

export async function getSource(deps: SourceDeps, ctx: ActionContext, sourceId: string): Promise<SourceView> {
  requirePermission(ctx, "sources:read");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const row = await loadSource(tx, ctx, sourceId);
    return toView(
      deps,
      row,
      await liveSecretVersions(tx, ctx.tenantId, [sourceId], deps.clock.now(), secretCap(deps)),
    );
  });
}
