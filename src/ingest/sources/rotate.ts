import type { ActionContext } from "../../core/index.ts";
import { checkRotationQuota, requirePermission } from "../../tenancy/index.ts";
import {
  auditSource,
  bumpRevision,
  liveSecretVersions,
  loadSource,
  SECRET_SEAL,
  type SourceDeps,
  type SourceView,
  secretCap,
  secretRowId,
  toView,
} from "./common.ts";
import { parseInput, type RotateSecretInput, rotateSecretInput } from "./input.ts";
import { checkSecret, newSecret } from "./scheme-rules.ts";

/**
 * Adds a new secret version. The previous newest keeps verifying for the
 * overlap (the input's, else the source's), so senders can switch over; no
 * older version outlives it, and versions already past their expiry are
 * deleted. An overlap of 0 retires the old secret at once (a leaked secret).
 * At most the cap of live versions remain (`ingest.maxSecretVersions`): the
 * oldest beyond it are deleted, whatever their overlap, so rotating in a loop
 * cannot multiply the HMAC work every request to the source costs.
 */
export async function rotateSourceSecret(
  deps: SourceDeps,
  ctx: ActionContext,
  sourceId: string,
  input: RotateSecretInput,
): Promise<{ source: SourceView; secret: string }> {
  requirePermission(ctx, "sources:write");
  const v = parseInput(rotateSecretInput, input);
  const now = deps.clock.now();
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const source = await loadSource(tx, ctx, sourceId, true);
    await checkRotationQuota(tx, deps.quotas, ctx, "source.secret_rotate", sourceId);
    const secret =
      v.secret === undefined ? newSecret(source.scheme) : checkSecret(source.scheme, v.secret, "secret");
    const overlap = v.overlap_seconds ?? Number(source.secret_overlap_seconds);
    const expiresAt = new Date(now.getTime() + overlap * 1000);
    const top = await tx.query<{ version: number | null }>(
      "select max(version) as version from source_secrets where tenant_id = $1 and source_id = $2",
      [ctx.tenantId, sourceId],
    );
    const previous = Number(top.rows[0]?.version ?? 0);
    const version = previous + 1;
    // least() never extends an expiry: an older version keeps its earlier end, or ends with its successor.
    await tx.query(
      `update source_secrets set expires_at = least(coalesce(expires_at, $3), $3)
        where tenant_id = $1 and source_id = $2`,
      [ctx.tenantId, sourceId, expiresAt],
    );
    await tx.query(
      "delete from source_secrets where tenant_id = $1 and source_id = $2 and expires_at is not null and expires_at <= $3",
      [ctx.tenantId, sourceId, now],
    );
    const sealed = await deps.zenlock.seal(
      tx,
      ctx.tenantId,
      { ...SECRET_SEAL, rowId: secretRowId(sourceId, version) },
      secret,
    );
    await tx.query(
      `insert into source_secrets (tenant_id, source_id, version, sealed, created_at, expires_at)
       values ($1, $2, $3, $4, $5, null)`,
      [ctx.tenantId, sourceId, version, sealed, now],
    );
    // Versions only grow, so the newest `cap` are the versions above version - cap.
    const cap = secretCap(deps);
    const retired = await tx.query<{ version: number }>(
      "delete from source_secrets where tenant_id = $1 and source_id = $2 and version <= $3 returning version",
      [ctx.tenantId, sourceId, version - cap],
    );
    await tx.query("update sources set updated_at = $3 where tenant_id = $1 and id = $2", [
      ctx.tenantId,
      sourceId,
      now,
    ]);
    await bumpRevision(tx, ctx.tenantId, sourceId, "update");
    await auditSource(tx, ctx, "source.secret_rotate", sourceId, {
      scheme: source.scheme,
      version,
      overlap_seconds: overlap,
      retired_versions: retired.rows.length,
      secret_origin: v.secret === undefined ? "generated" : "supplied",
    });
    const secrets = await liveSecretVersions(tx, ctx.tenantId, [sourceId], now, cap);
    return { source: toView(deps, { ...source, updated_at: now }, secrets), secret };
  });
}
