import { z } from "zod";
import { appendAudit } from "../../audit/index.ts";
import { type Actor, newId, parseInput, shownName } from "../../core/index.ts";
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
 * Names are names shown to people: no invisible or control characters.
 */
// Checked here, whoever calls: the CLI and the operator route pass names straight from a command line.
const NAMES = z.object({ name: shownName(200), projectName: shownName(200).optional() });

export async function createTenant(deps: TenancyDeps, input: CreateTenantInput): Promise<CreatedTenant> {
  const names = parseInput(NAMES, { name: input.name, projectName: input.projectName });
  const tenantId = newId("tenant");
  const projectId = newId("project");
  await deps.db.withTenant(tenantId, async (tx) => {
    await tx.query("insert into tenants (id, name) values ($1, $2)", [tenantId, names.name]);
    await tx.query("insert into projects (id, tenant_id, name) values ($1, $2, $3)", [
      projectId,
      tenantId,
      names.projectName ?? "default",
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
