import type { ActionContext } from "../../core/index.ts";
import { checkRotationQuota, requirePermission } from "../../tenancy/index.ts";
import { MAX_SIGNING_SECRETS, newSigningSecret } from "../signing.ts";
import {
  auditDestination,
  type DeliverDeps,
  type DestinationView,
  loadDestination,
  relatedOf,
  toView,
} from "./common.ts";
import { requireEgressKey, sealTwice, secretSeal } from "./credentials.ts";
import { parseInput, type RotateDestinationSecretInput, rotateDestinationSecretInput } from "./input.ts";

/**
 * Adds a signing secret version. The previous newest keeps signing beside
 * it for the overlap (the input's, else the destination's), so receivers can
 * switch over; no older version outlives it, and versions already past their
 * expiry are deleted. An overlap of 0 retires the old secret at once (a
 * leaked secret).
 */
export async function rotateDestinationSecret(
  deps: DeliverDeps,
  ctx: ActionContext,
  destinationId: string,
  input: RotateDestinationSecretInput,
): Promise<{ destination: DestinationView; secret: string }> {
  requirePermission(ctx, "destinations:write");
  const v = parseInput(rotateDestinationSecretInput, input);
  const egressKey = requireEgressKey(deps.egressBoxKey);
  const now = deps.clock.now();
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const destination = await loadDestination(tx, ctx, destinationId, true);
    await checkRotationQuota(tx, deps.quotas, ctx, "destination.secret_rotate", destinationId);
    const secret = v.secret ?? newSigningSecret();
    const overlap = v.overlap_seconds ?? Number(destination.secret_overlap_seconds);
    const expiresAt = new Date(now.getTime() + overlap * 1000);
    const top = await tx.query<{ version: number | null }>(
      "select max(version) as version from destination_secrets where tenant_id = $1 and destination_id = $2",
      [ctx.tenantId, destinationId],
    );
    const version = Number(top.rows[0]?.version ?? 0) + 1;
    // least() never extends an expiry: an older version keeps its earlier end, or ends with its successor.
    await tx.query(
      `update destination_secrets set expires_at = least(coalesce(expires_at, $3), $3)
        where tenant_id = $1 and destination_id = $2`,
      [ctx.tenantId, destinationId, expiresAt],
    );
    // Expired versions go, and so does any beyond the newest the signature header may carry.
    await tx.query(
      `delete from destination_secrets
        where tenant_id = $1 and destination_id = $2
          and ((expires_at is not null and expires_at <= $3) or version <= $4)`,
      [ctx.tenantId, destinationId, now, version - MAX_SIGNING_SECRETS],
    );
    const sealed = await sealTwice(
      deps.zenlock,
      tx,
      ctx.tenantId,
      egressKey,
      secretSeal(destinationId, version),
      secret,
    );
    await tx.query(
      `insert into destination_secrets (tenant_id, destination_id, version, sealed, created_at, expires_at)
       values ($1, $2, $3, $4, $5, null)`,
      [ctx.tenantId, destinationId, version, sealed, now],
    );
    await tx.query("update destinations set updated_at = $3 where tenant_id = $1 and id = $2", [
      ctx.tenantId,
      destinationId,
      now,
    ]);
    await auditDestination(tx, ctx, "destination.secret_rotate", destinationId, {
      version,
      overlap_seconds: overlap,
      secret_origin: v.secret === undefined ? "generated" : "supplied",
    });
    const related = await relatedOf(tx, ctx.tenantId, [destinationId], now);
    return { destination: toView({ ...destination, updated_at: now }, related), secret };
  });
}
