import { type ActionContext, newId } from "../../core/index.ts";
import { checkProjectQuota, requirePermission } from "../../tenancy/index.ts";
import { getScheme } from "../schemes/index.ts";
import {
  auditSource,
  bumpRevision,
  liveSecretVersions,
  projectOf,
  SECRET_SEAL,
  SOURCE_COLUMNS,
  type SourceDeps,
  type SourceRow,
  type SourceView,
  secretCap,
  secretRowId,
  toView,
} from "./common.ts";
import {
  type CreateSourceInput,
  createSourceInput,
  DEFAULT_CONTENT_TYPES,
  DEFAULT_MAX_BODY_BYTES,
  parseInput,
  unique,
} from "./input.ts";
import { checkCloudEventsMode, checkSecret, checkSettings, newSecret } from "./scheme-rules.ts";

/** Creates a source with secret version 1. The secret is returned here and by rotation only. */
export async function createSource(
  deps: SourceDeps,
  ctx: ActionContext,
  input: CreateSourceInput,
): Promise<{ source: SourceView; secret: string }> {
  requirePermission(ctx, "sources:write");
  const projectId = projectOf(ctx);
  const v = parseInput(createSourceInput, input);
  const settings = checkSettings(v.scheme, v.settings ?? {});
  const cloudevents = checkCloudEventsMode(v.scheme, v.cloudevents ?? "off");
  const secret = v.secret === undefined ? newSecret(v.scheme) : checkSecret(v.scheme, v.secret, "secret");
  const id = newId("source");
  const now = deps.clock.now();
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    await checkProjectQuota(tx, deps.quotas, ctx, "sources", now);
    const r = await tx.query<SourceRow>(
      `insert into sources (id, tenant_id, project_id, name, scheme, settings, signature_required, allow_plain_http,
         client_cert_pins, max_body_bytes, content_types, tolerance_seconds, secret_overlap_seconds, cloudevents,
         created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::text[], $10, $11::text[], $12, $13, $15, $14, $14)
       returning ${SOURCE_COLUMNS}`,
      [
        id,
        ctx.tenantId,
        projectId,
        v.name,
        v.scheme,
        JSON.stringify(settings),
        v.signature_required ?? true,
        v.allow_plain_http ?? false,
        unique(v.client_cert_pins ?? []),
        v.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
        // What the provider sends by default (GitHub: JSON or its form encoding), unless the creator chose.
        unique(v.content_types ?? getScheme(v.scheme).contentTypes ?? DEFAULT_CONTENT_TYPES),
        v.tolerance_seconds ?? 300,
        v.secret_overlap_seconds ?? 86_400,
        now,
        cloudevents,
      ],
    );
    const sealed = await deps.zenlock.seal(
      tx,
      ctx.tenantId,
      { ...SECRET_SEAL, rowId: secretRowId(id, 1) },
      secret,
    );
    await tx.query(
      `insert into source_secrets (tenant_id, source_id, version, sealed, created_at, expires_at)
       values ($1, $2, 1, $3, $4, null)`,
      [ctx.tenantId, id, sealed, now],
    );
    await bumpRevision(tx, ctx.tenantId, id, "create");
    await auditSource(tx, ctx, "source.create", id, {
      scheme: v.scheme,
      version: 1,
      secret_origin: v.secret === undefined ? "generated" : "supplied",
    });
    const secrets = await liveSecretVersions(tx, ctx.tenantId, [id], now, secretCap(deps));
    return { source: toView(deps, r.rows[0]!, secrets), secret };
  });
}
