import { type ActionContext, newId } from "../../core/index.ts";
import { checkProjectQuota, requirePermission } from "../../tenancy/index.ts";
import { newSigningSecret } from "../signing.ts";
import {
  auditDestination,
  DESTINATION_COLUMNS,
  type DeliverDeps,
  type DestinationRow,
  type DestinationView,
  projectOf,
  relatedOf,
  setGate,
  toView,
} from "./common.ts";
import {
  checkCredentialsAt,
  credentialKinds,
  credentialsDocument,
  credentialsSeal,
  requireEgressKey,
  sealTwice,
  secretSeal,
} from "./credentials.ts";
import {
  type CreateDestinationInput,
  createDestinationInput,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_RETRY_AFTER_CAP_SECONDS,
  DEFAULT_RETRY_SCHEDULE,
  DEFAULT_SECRET_OVERLAP_SECONDS,
  DEFAULT_TIMEOUT_MS,
  parseInput,
} from "./input.ts";

/**
 * Creates a destination with signing secret version 1, its credentials (if
 * any) sealed for egress, and a closed circuit-breaker gate. The secret is
 * returned here and by rotation only.
 */
export async function createDestination(
  deps: DeliverDeps,
  ctx: ActionContext,
  input: CreateDestinationInput,
): Promise<{ destination: DestinationView; secret: string }> {
  requirePermission(ctx, "destinations:write");
  const projectId = projectOf(ctx);
  const v = parseInput(createDestinationInput, input);
  const now = deps.clock.now();
  if (v.credentials) checkCredentialsAt(v.credentials, now);
  // The signing secret must be sealed for egress, so there is no destination without its key.
  const egressKey = requireEgressKey(deps.egressBoxKey);
  const secret = v.secret ?? newSigningSecret();
  const id = newId("destination");
  const enabled = v.enabled ?? true;
  const document = v.credentials ? credentialsDocument(v.credentials) : null;
  const kinds = v.credentials ? credentialKinds(v.credentials) : [];
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    await checkProjectQuota(tx, deps.quotas, ctx, "destinations", now);
    const credentials =
      document === null
        ? null
        : await sealTwice(deps.zenlock, tx, ctx.tenantId, egressKey, credentialsSeal(id), document);
    const r = await tx.query<DestinationRow>(
      `insert into destinations (id, tenant_id, project_id, name, url, method, headers, timeout_ms, format,
         max_in_flight, rate_limit_per_second, fifo, enabled, disabled_reason, disabled_at, allow_plain_http,
         credentials_sealed, credential_kinds, retry_schedule, retry_after_cap_seconds, secret_overlap_seconds,
         auto_replay, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::text[],
         $19::integer[], $20, $21, $22, $23, $23)
       returning ${DESTINATION_COLUMNS}`,
      [
        id,
        ctx.tenantId,
        projectId,
        v.name,
        v.url,
        v.method ?? "POST",
        JSON.stringify(v.headers ?? {}),
        v.timeout_ms ?? DEFAULT_TIMEOUT_MS,
        v.format ?? "cloudevents-structured",
        v.max_in_flight ?? DEFAULT_MAX_IN_FLIGHT,
        v.rate_limit_per_second ?? null,
        v.fifo ?? false,
        enabled,
        enabled ? null : "manual",
        enabled ? null : now,
        v.allow_plain_http ?? false,
        credentials,
        kinds,
        v.retry?.schedule_seconds ?? [...DEFAULT_RETRY_SCHEDULE],
        v.retry?.retry_after_cap_seconds ?? DEFAULT_RETRY_AFTER_CAP_SECONDS,
        v.secret_overlap_seconds ?? DEFAULT_SECRET_OVERLAP_SECONDS,
        v.auto_replay ?? false,
        now,
      ],
    );
    const seal = secretSeal(id, 1);
    const sealed = await sealTwice(deps.zenlock, tx, ctx.tenantId, egressKey, seal, secret);
    await tx.query(
      `insert into destination_secrets (tenant_id, destination_id, version, sealed, created_at, expires_at)
       values ($1, $2, 1, $3, $4, null)`,
      [ctx.tenantId, id, sealed, now],
    );
    await setGate(tx, ctx.tenantId, id, enabled ? "closed" : "disabled", now);
    await auditDestination(tx, ctx, "destination.create", id, {
      host: new URL(v.url).host,
      version: 1,
      secret_origin: v.secret === undefined ? "generated" : "supplied",
      credential_kinds: kinds.join(" "),
    });
    return { destination: toView(r.rows[0]!, await relatedOf(tx, ctx.tenantId, [id], now)), secret };
  });
}
