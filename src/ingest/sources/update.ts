import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import {
  auditSource,
  bumpRevision,
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
import { parseInput, type UpdateSourceInput, unique, updateSourceInput } from "./input.ts";
import { checkCloudEventsMode, checkSettings } from "./scheme-rules.ts";

/** Changes a source's name, settings, security settings or enabled flag; never its scheme or secret. */
export async function updateSource(
  deps: SourceDeps,
  ctx: ActionContext,
  sourceId: string,
  input: UpdateSourceInput,
): Promise<SourceView> {
  requirePermission(ctx, "sources:write");
  const projectId = projectOf(ctx);
  const v = parseInput(updateSourceInput, input);
  const now = deps.clock.now();
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadSource(tx, ctx, sourceId, true);
    const settings = v.settings === undefined ? before.settings : checkSettings(before.scheme, v.settings);
    const cloudevents = checkCloudEventsMode(before.scheme, v.cloudevents ?? before.cloudevents);
    const r = await tx.query<SourceRow>(
      `update sources set name = $4, settings = $5::jsonb, signature_required = $6, allow_plain_http = $7,
         client_cert_pins = $8::text[], max_body_bytes = $9, content_types = $10::text[], tolerance_seconds = $11,
         secret_overlap_seconds = $12, enabled = $13, updated_at = $14, cloudevents = $15
       where tenant_id = $1 and project_id = $2 and id = $3 returning ${SOURCE_COLUMNS}`,
      [
        ctx.tenantId,
        projectId,
        sourceId,
        v.name ?? before.name,
        JSON.stringify(settings),
        v.signature_required ?? before.signature_required,
        v.allow_plain_http ?? before.allow_plain_http,
        v.client_cert_pins === undefined ? before.client_cert_pins : unique(v.client_cert_pins),
        v.max_body_bytes ?? before.max_body_bytes,
        v.content_types === undefined ? before.content_types : unique(v.content_types),
        v.tolerance_seconds ?? before.tolerance_seconds,
        v.secret_overlap_seconds ?? before.secret_overlap_seconds,
        v.enabled ?? before.enabled,
        now,
        cloudevents,
      ],
    );
    await bumpRevision(tx, ctx.tenantId, sourceId, "update");
    const fields = Object.keys(v)
      .filter((k) => v[k as keyof typeof v] !== undefined)
      .sort()
      .join(" ");
    await auditSource(tx, ctx, "source.update", sourceId, { scheme: before.scheme, fields });
    return toView(
      deps,
      r.rows[0]!,
      await liveSecretVersions(tx, ctx.tenantId, [sourceId], now, secretCap(deps)),
    );
  });
}
