/**
 * Operator actions: what the CLI can do to a zenmesh installation. They run
 * either directly against the database (nothing else has it open) or inside
 * the running backend, reached over the operator socket.
 */
import { verifyAuditChain } from "../audit/index.ts";
import type { Config } from "../config/index.ts";
import { isId, newId, systemClock, ZenError } from "../core/index.ts";
import type { Database } from "../db/index.ts";
import { CertificateAuthority, createJoinToken } from "../identity/index.ts";
import type { Services } from "../roles/services.ts";
import {
  createApiKey,
  createTenant,
  createUser,
  findUserByEmail,
  grantMembership,
  isRole,
  PROJECT_PERMISSIONS,
  projectQuotaReport,
  type QuotaOverrides,
  setProjectQuotas,
} from "../tenancy/index.ts";
import { loadMasterKeyRing } from "../zenlock/index.ts";

const OPERATOR = { type: "operator", id: "cli" } as const;

export interface TenantCreated {
  tenant_id: string;
  project_id: string;
  api_key: string;
}

export async function createTenantWithKey(svc: Services, input: { name: string }): Promise<TenantCreated> {
  const correlationId = newId("correlation");
  const { tenantId, projectId } = await createTenant(svc.tenancy, {
    name: input.name,
    correlationId,
    actor: OPERATOR,
  });
  const { secret } = await createApiKey(
    svc.tenancy,
    { tenantId, projectId, actor: OPERATOR, permissions: new Set(PROJECT_PERMISSIONS), correlationId },
    { name: "initial key", permissions: [...PROJECT_PERMISSIONS] },
  );
  return { tenant_id: tenantId, project_id: projectId, api_key: secret };
}

/** A new user, optionally with a role in a tenant. An existing email is refused: its password stays its own. */
export async function createUserInTenant(
  svc: Services,
  input: { email: string; password: string; tenantId?: string | undefined; role?: string | undefined },
): Promise<{ user_id: string; tenant_id: string | null; role: string | null }> {
  const role = input.role ?? "owner";
  if (input.tenantId !== undefined && !isRole(role)) {
    throw new ZenError("VALIDATION_FAILED", { message: `unknown role ${JSON.stringify(role)}` });
  }
  if (await findUserByEmail(svc.tenancy, input.email)) {
    throw new ZenError("CONFLICT", {
      message: "a user with this email already exists; give them a role with `zenmesh user grant`",
    });
  }
  const user = await createUser(svc.tenancy, { email: input.email, password: input.password });
  if (input.tenantId !== undefined && isRole(role)) {
    await grantMembership(svc.tenancy, {
      tenantId: input.tenantId,
      userId: user.id,
      role,
      correlationId: newId("correlation"),
      actor: OPERATOR,
    });
  }
  return { user_id: user.id, tenant_id: input.tenantId ?? null, role: input.tenantId ? role : null };
}

/** An existing user's role in a tenant; keeps the tenant's last owner. */
export async function grantUserRole(
  svc: Services,
  input: { email: string; tenantId: string; role: string },
): Promise<{ user_id: string; tenant_id: string; role: string }> {
  if (!isRole(input.role))
    throw new ZenError("VALIDATION_FAILED", { message: `unknown role ${JSON.stringify(input.role)}` });
  const user = await findUserByEmail(svc.tenancy, input.email);
  if (!user) throw new ZenError("NOT_FOUND", { message: "no user with this email" });
  await grantMembership(svc.tenancy, {
    tenantId: input.tenantId,
    userId: user.id,
    role: input.role,
    correlationId: newId("correlation"),
    actor: OPERATOR,
  });
  return { user_id: user.id, tenant_id: input.tenantId, role: input.role };
}

/**
 * An integrity check must not pass for want of anything to check: a tenant
 * id this database does not hold (a typo, or the wrong database) is refused
 * with AUDIT_TENANT_UNKNOWN, not reported as an empty chain that verifies.
 * Every tenant's chain holds at least its creation, so an empty chain of a
 * known tenant is refused as broken too.
 */
export async function verifyAudit(db: Database, input: { tenantId: string | null }) {
  const tenantId = input.tenantId;
  if (tenantId === null) return verifyAuditChain(db, null);
  if (!/^tnt_[A-Za-z0-9]{1,64}$/.test(tenantId)) {
    throw new ZenError("VALIDATION_FAILED", { message: "--tenant-id must be a tenant id (tnt_…)" });
  }
  const known = await db.withTenant(tenantId, (tx) =>
    tx.query<{ id: string }>("select id from tenants where id = $1", [tenantId]),
  );
  if (known.rows.length === 0) {
    throw new ZenError("AUDIT_TENANT_UNKNOWN", {
      message: `no tenant ${tenantId} in this database: check --tenant-id, and that --database-url or --data-dir names the installation it belongs to`,
    });
  }
  const verdict = await verifyAuditChain(db, tenantId);
  if (verdict.ok && verdict.count === 0) {
    throw new ZenError("AUDIT_CHAIN_BROKEN", {
      message: `tenant ${tenantId} exists but its audit chain is empty: its entries were removed`,
    });
  }
  return verdict;
}

function checkProjectIds(req: { tenantId: unknown; projectId: unknown }): void {
  if (!isId("tenant", req.tenantId) || !isId("project", req.projectId)) {
    throw new ZenError("VALIDATION_FAILED", {
      message: "--tenant-id must be a tnt_ id and --project-id a prj_ id",
    });
  }
}

export type OperatorRequest =
  | { op: "tenant.create"; name: string }
  | { op: "user.create"; email: string; password: string; tenantId?: string; role?: string }
  | { op: "user.grant"; email: string; tenantId: string; role: string }
  | { op: "audit.verify"; tenantId: string | null }
  | { op: "status" }
  | { op: "join_token.create"; workload: string; ttlSeconds?: number }
  | { op: "quota.show"; tenantId: string; projectId: string }
  | { op: "quota.set"; tenantId: string; projectId: string; set: QuotaOverrides };

/** What only a running system knows (its roles' heartbeats); absent when the CLI opened the data dir itself. */
export interface OperationExtras {
  status?: () => unknown;
}

export async function runOperation(
  svc: Services,
  req: OperatorRequest,
  extras: OperationExtras = {},
): Promise<unknown> {
  switch (req.op) {
    case "status":
      if (!extras.status)
        throw new ZenError("UNAVAILABLE", { message: "zenmesh is not running on this data dir" });
      return extras.status();
    case "tenant.create":
      return createTenantWithKey(svc, { name: req.name });
    case "user.create":
      return createUserInTenant(svc, req);
    case "user.grant":
      return grantUserRole(svc, req);
    case "audit.verify":
      return verifyAudit(svc.db, { tenantId: req.tenantId });
    case "join_token.create": {
      const t = await createJoinToken(svc.db, {
        workload: req.workload,
        ...(req.ttlSeconds === undefined ? {} : { ttlSeconds: req.ttlSeconds }),
        createdBy: "operator:cli",
        correlationId: newId("correlation"),
        clock: systemClock,
      });
      return { id: t.id, token: t.token, expires_at: t.expiresAt.toISOString() };
    }
    case "quota.show":
      checkProjectIds(req);
      return projectQuotaReport(svc.tenancy, { tenantId: req.tenantId, projectId: req.projectId });
    case "quota.set":
      checkProjectIds(req);
      return setProjectQuotas(svc.tenancy, {
        tenantId: req.tenantId,
        projectId: req.projectId,
        set: req.set,
        actor: OPERATOR,
        correlationId: newId("correlation"),
      });
    default: {
      const never: never = req;
      throw new ZenError("VALIDATION_FAILED", { message: `unknown operation ${JSON.stringify(never)}` });
    }
  }
}

/** Creates the built-in CA's sealed state (or loads the existing one) for the configured trust domain. */
export async function initCa(cfg: Config): Promise<CertificateAuthority> {
  const masterKeys = loadMasterKeyRing({
    profile: cfg.profile,
    dataDir: cfg.dataDir,
    key: cfg.masterKey,
    keyFile: cfg.masterKeyFile,
  });
  return CertificateAuthority.loadOrCreate(cfg.mesh.caFile, {
    trustDomain: cfg.mesh.trustDomain,
    masterKeys,
  });
}
