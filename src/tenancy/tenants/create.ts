import { appendAudit } from "../../audit/index.ts";
import { type Actor, newId } from "../../core/index.ts";
import type { TenancyDeps } from "../deps.ts";

export interface CreateTenantInput {
  name: string;
  projectName?: string;
  correlationId: string;
  actor: Actor;
}

export interface CreatedTenant {
  tenantId: string;
  projectId: string;
}

/**
 * Creates a tenant, its first project and its data keys in one transaction,
 * audited in the new tenant's own chain. Operators call this (CLI), not tenants.
 */
export async function createTenant(deps: TenancyDeps, input: CreateTenantInput): Promise<CreatedTenant> {
  const tenantId = newId("tenant");
  const projectId = newId("project");
  await deps.db.withTenant(tenantId, async (tx) => {
    await tx.query("insert into tenants (id, name) values ($1, $2)", [tenantId, input.name]);
    await tx.query("insert into projects (id, tenant_id, name) values ($1, $2, $3)", [
      projectId,
      tenantId,
      input.projectName ?? "default",
    ]);
    await deps.zenlock.createTenantKeys(tx, tenantId);
    await appendAudit(tx, {
      tenantId,
      actor: input.actor,
      action: "tenant.create",
      outcome: "success",
      target: { type: "tenant", id: tenantId },
      projectId,
      correlationId: input.correlationId,
    });
  });
  return { tenantId, projectId };
}
