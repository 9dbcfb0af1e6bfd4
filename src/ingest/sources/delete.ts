import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { auditSource, bumpRevision, loadSource, projectOf, type SourceDeps } from "./common.ts";

/**
 * Deletes a source and every secret version for good; the directory keeps the
 * id, marked deleted under a new revision, so ingesters drop it too.
 */
export async function deleteSource(deps: SourceDeps, ctx: ActionContext, sourceId: string): Promise<void> {
  requirePermission(ctx, "sources:write");
  const projectId = projectOf(ctx);
  await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadSource(tx, ctx, sourceId, true);
    const secrets = await tx.query("delete from source_secrets where tenant_id = $1 and source_id = $2", [
      ctx.tenantId,
      sourceId,
    ]);
    await tx.query("delete from sources where tenant_id = $1 and project_id = $2 and id = $3", [
      ctx.tenantId,
      projectId,
      sourceId,
    ]);
    await bumpRevision(tx, ctx.tenantId, sourceId, "delete");
    await auditSource(tx, ctx, "source.delete", sourceId, {
      scheme: before.scheme,
      secret_versions: secrets.rowCount,
    });
  });
}
