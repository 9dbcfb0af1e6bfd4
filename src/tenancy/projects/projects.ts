import { appendAudit } from "../../audit/index.ts";
import { type ActionContext, newId, ZenError } from "../../core/index.ts";
import type { TenancyDeps } from "../deps.ts";
import { requirePermission } from "../permissions.ts";

export interface Project {
  id: string;
  name: string;
  created_at: string;
}

function toProject(row: { id: string; name: string; created_at: Date | string }): Project {
  return { id: row.id, name: row.name, created_at: new Date(row.created_at).toISOString() };
}

export async function createProject(
  deps: TenancyDeps,
  ctx: ActionContext,
  input: { name: string },
): Promise<Project> {
  requirePermission(ctx, "projects:write");
  const id = newId("project");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<{ id: string; name: string; created_at: Date }>(
      "insert into projects (id, tenant_id, name) values ($1, $2, $3) returning id, name, created_at",
      [id, ctx.tenantId, input.name],
    );
    await appendAudit(tx, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "project.create",
      outcome: "success",
      target: { type: "project", id },
      projectId: id,
      correlationId: ctx.correlationId,
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
    return toProject(r.rows[0]!);
  });
}

export async function listProjects(deps: TenancyDeps, ctx: ActionContext): Promise<Project[]> {
  requirePermission(ctx, "projects:read");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<{ id: string; name: string; created_at: Date }>(
      "select id, name, created_at from projects where tenant_id = $1 order by created_at, id",
      [ctx.tenantId],
    );
    return r.rows.map(toProject);
  });
}

/** A project of another tenant is indistinguishable from one that does not exist. */
export async function getProject(deps: TenancyDeps, tenantId: string, projectId: string): Promise<Project> {
  const row = await deps.db.withTenant(tenantId, async (tx) => {
    const r = await tx.query<{ id: string; name: string; created_at: Date }>(
      "select id, name, created_at from projects where tenant_id = $1 and id = $2",
      [tenantId, projectId],
    );
    return r.rows[0];
  });
  if (!row) throw new ZenError("NOT_FOUND");
  return toProject(row);
}
