import { appendAudit } from "../../audit/index.ts";
import { type ActionContext, newId, ZenError } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { TenancyDeps } from "../deps.ts";
import { isProjectPermission, type ProjectPermission, requirePermission } from "../permissions.ts";
import { checkProjectQuota } from "../quotas.ts";
import { generateApiKey, hashApiKey, maskedPrefix, newSalt } from "./format.ts";

export interface ApiKeyView {
  id: string;
  project_id: string;
  name: string;
  prefix: string;
  permissions: ProjectPermission[];
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

interface ApiKeyRow {
  id: string;
  project_id: string;
  name: string;
  prefix: string;
  permissions: string[];
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS =
  "id, project_id, name, prefix, permissions, created_by, created_at, expires_at, revoked_at, last_used_at";
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function toView(r: ApiKeyRow): ApiKeyView {
  return {
    id: r.id,
    project_id: r.project_id,
    name: r.name,
    prefix: `${r.prefix}…`,
    permissions: r.permissions.filter(isProjectPermission),
    created_by: r.created_by,
    created_at: iso(r.created_at)!,
    expires_at: iso(r.expires_at),
    revoked_at: iso(r.revoked_at),
    last_used_at: iso(r.last_used_at),
  };
}

function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

function actorLabel(ctx: ActionContext): string {
  const a = ctx.actor;
  return a.type === "user" || a.type === "api_key" || a.type === "operator" ? `${a.type}:${a.id}` : a.type;
}

export interface CreateApiKeyInput {
  name: string;
  permissions: string[];
  /** Absolute expiry; must lie in the future. */
  expiresAt?: Date | null;
}

export async function createApiKey(
  deps: TenancyDeps,
  ctx: ActionContext,
  input: CreateApiKeyInput,
): Promise<{ key: ApiKeyView; secret: string }> {
  requirePermission(ctx, "api_keys:write");
  const projectId = projectOf(ctx);
  const unknown = input.permissions.filter((p) => !isProjectPermission(p));
  if (unknown.length > 0) {
    throw new ZenError("VALIDATION_FAILED", { message: "unknown permission", details: { unknown } });
  }
  const permissions = [...new Set(input.permissions)].sort() as ProjectPermission[];
  if (permissions.length === 0) {
    throw new ZenError("VALIDATION_FAILED", { message: "a key needs at least one permission" });
  }
  // No escalation: a key can grant only what its creator holds.
  const beyond = permissions.filter((p) => !ctx.permissions.has(p));
  if (beyond.length > 0) {
    throw new ZenError("FORBIDDEN", {
      message: "cannot grant permissions you do not hold",
      details: { beyond },
    });
  }
  if (input.expiresAt && input.expiresAt.getTime() <= deps.clock.now().getTime()) {
    throw new ZenError("VALIDATION_FAILED", { message: "expires_at must be in the future" });
  }
  const id = newId("apiKey");
  const parsed = generateApiKey(deps.apiKeyEnvironment);
  const salt = newSalt();
  const row = await deps.db.withTenant(ctx.tenantId, async (tx) => {
    await checkProjectQuota(tx, deps.quotas, ctx, "apiKeys", deps.clock.now());
    const r = await tx.query<ApiKeyRow>(
      `insert into api_keys (id, tenant_id, project_id, name, prefix, salt, key_hash, permissions, created_by, expires_at, created_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning ${COLUMNS}`,
      [
        id,
        ctx.tenantId,
        projectId,
        input.name,
        maskedPrefix(parsed),
        salt,
        hashApiKey(parsed.raw, salt),
        permissions,
        actorLabel(ctx),
        input.expiresAt ?? null,
        deps.clock.now(),
      ],
    );
    await tx.query("insert into api_key_lookup (lookup, tenant_id, key_id) values ($1, $2, $3)", [
      parsed.lookup,
      ctx.tenantId,
      id,
    ]);
    await appendAudit(tx, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "api_key.create",
      outcome: "success",
      target: { type: "api_key", id },
      projectId,
      correlationId: ctx.correlationId,
      details: {
        permissions: permissions.join(" "),
        expires: input.expiresAt ? input.expiresAt.toISOString() : null,
      },
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
    return r.rows[0]!;
  });
  return { key: toView(row), secret: parsed.raw };
}

export async function listApiKeys(
  deps: TenancyDeps,
  ctx: ActionContext,
  opts: { limit: number; after?: string | undefined },
): Promise<ApiKeyView[]> {
  requirePermission(ctx, "api_keys:read");
  const projectId = projectOf(ctx);
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<ApiKeyRow>(
      `select ${COLUMNS} from api_keys where tenant_id = $1 and project_id = $2 and ($3::text is null or id > $3)
       order by id limit $4`,
      [ctx.tenantId, projectId, opts.after ?? null, opts.limit],
    );
    return r.rows.map(toView);
  });
}

async function loadKey(tx: Tx, ctx: ActionContext, keyId: string, lock = false): Promise<ApiKeyRow> {
  const r = await tx.query<ApiKeyRow>(
    `select ${COLUMNS} from api_keys where tenant_id = $1 and project_id = $2 and id = $3${lock ? " for update" : ""}`,
    [ctx.tenantId, projectOf(ctx), keyId],
  );
  const row = r.rows[0];
  if (!row) throw new ZenError("NOT_FOUND");
  return row;
}

export async function getApiKey(deps: TenancyDeps, ctx: ActionContext, keyId: string): Promise<ApiKeyView> {
  requirePermission(ctx, "api_keys:read");
  return toView(await deps.db.withTenant(ctx.tenantId, (tx) => loadKey(tx, ctx, keyId)));
}

/**
 * Revocation is immediate and idempotent; the row stays for the audit trail.
 * The caller must hold every permission of the key it revokes.
 */
export async function revokeApiKey(
  deps: TenancyDeps,
  ctx: ActionContext,
  keyId: string,
): Promise<ApiKeyView> {
  requirePermission(ctx, "api_keys:write");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadKey(tx, ctx, keyId, true);
    // No escalation the other way round: a narrow key cannot take a wider one out of service.
    if (before.permissions.some((p) => !ctx.permissions.has(p as ProjectPermission))) {
      throw new ZenError("REVOKE_BEYOND_PERMISSIONS");
    }
    if (before.revoked_at !== null) return toView(before);
    const r = await tx.query<ApiKeyRow>(
      `update api_keys set revoked_at = $4 where tenant_id = $1 and project_id = $2 and id = $3 returning ${COLUMNS}`,
      [ctx.tenantId, projectOf(ctx), keyId, deps.clock.now()],
    );
    await appendAudit(tx, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "api_key.revoke",
      outcome: "success",
      target: { type: "api_key", id: keyId },
      projectId: projectOf(ctx),
      correlationId: ctx.correlationId,
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
    return toView(r.rows[0]!);
  });
}
