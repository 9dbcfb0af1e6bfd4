import { appendAudit } from "../../audit/index.ts";
import { type ActionContext, ZenError } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import { isUniqueViolation } from "../../db/index.ts";
import type { TenancyDeps } from "../deps.ts";
import { canAssignRole, isRole, type Role, requirePermission } from "../permissions.ts";
import { findUserByEmail } from "../users/users.ts";

export interface Member {
  user_id: string;
  email: string;
  role: Role;
  created_at: string;
}

async function actorRole(tx: Tx, ctx: ActionContext): Promise<Role | undefined> {
  if (ctx.actor.type === "operator") return "owner";
  if (ctx.actor.type !== "user") return undefined;
  const r = await tx.query<{ role: Role }>(
    "select role from memberships where tenant_id = $1 and user_id = $2",
    [ctx.tenantId, ctx.actor.id],
  );
  return r.rows[0]?.role;
}

/**
 * Membership changes in one tenant run one at a time: two owners demoting
 * each other concurrently would otherwise both count two owners and leave none.
 */
async function lockMemberships(tx: Tx, tenantId: string): Promise<void> {
  const t = await tx.query("select id from tenants where id = $1 for update", [tenantId]);
  if (t.rows.length === 0) throw new ZenError("NOT_FOUND", { message: "no such tenant" });
}

/** The member's current role, with the tenant's memberships locked; NOT_FOUND for a non-member. */
async function lockedRoleOf(tx: Tx, tenantId: string, userId: string): Promise<Role> {
  await lockMemberships(tx, tenantId);
  const current = await tx.query<{ role: Role }>(
    "select role from memberships where tenant_id = $1 and user_id = $2 for update",
    [tenantId, userId],
  );
  const role = current.rows[0]?.role;
  if (!role) throw new ZenError("NOT_FOUND");
  return role;
}

async function ownerCount(tx: Tx, tenantId: string): Promise<number> {
  const r = await tx.query<{ n: number }>(
    "select count(*)::int as n from memberships where tenant_id = $1 and role = 'owner'",
    [tenantId],
  );
  return Number(r.rows[0]?.n ?? 0);
}

function audit(tx: Tx, ctx: ActionContext, action: string, userId: string, details: Record<string, string>) {
  return appendAudit(tx, {
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    action,
    outcome: "success",
    target: { type: "user", id: userId },
    correlationId: ctx.correlationId,
    details,
    ...(ctx.ip ? { ip: ctx.ip } : {}),
  });
}

export async function addMember(
  deps: TenancyDeps,
  ctx: ActionContext,
  input: { email: string; role: string },
): Promise<Member> {
  requirePermission(ctx, "members:write");
  if (!isRole(input.role)) throw new ZenError("VALIDATION_FAILED", { message: "unknown role" });
  const role = input.role;
  const user = await findUserByEmail(deps, input.email);
  // Only registered users can be added, so this tells a tenant admin whether an address has an
  // account; an invitation flow (always 202) would not. Noted as a known limit in docs/decisions.md.
  if (!user || user.disabled) throw new ZenError("NOT_FOUND", { message: "no such user" });
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    await lockMemberships(tx, ctx.tenantId);
    if (!canAssignRole(await actorRole(tx, ctx), role)) throw new ZenError("FORBIDDEN");
    let created: Date;
    try {
      const r = await tx.query<{ created_at: Date }>(
        "insert into memberships (tenant_id, user_id, role) values ($1, $2, $3) returning created_at",
        [ctx.tenantId, user.id, role],
      );
      created = r.rows[0]!.created_at;
    } catch (err) {
      if (isUniqueViolation(err)) throw new ZenError("CONFLICT", { message: "already a member" });
      throw err;
    }
    await audit(tx, ctx, "member.add", user.id, { role });
    return { user_id: user.id, email: user.email, role, created_at: new Date(created).toISOString() };
  });
}

export async function listMembers(deps: TenancyDeps, ctx: ActionContext): Promise<Member[]> {
  requirePermission(ctx, "members:read");
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<{ user_id: string; role: Role; created_at: Date }>(
      "select user_id, role, created_at from memberships where tenant_id = $1 order by created_at, user_id",
      [ctx.tenantId],
    );
    const ids = r.rows.map((m) => m.user_id);
    const emails = new Map<string, string>();
    if (ids.length > 0) {
      const u = await tx.query<{ id: string; email: string }>(
        "select id, email from users where id = any($1)",
        [ids],
      );
      for (const row of u.rows) emails.set(row.id, row.email);
    }
    return r.rows.map((m) => ({
      user_id: m.user_id,
      email: emails.get(m.user_id) ?? "",
      role: m.role,
      created_at: new Date(m.created_at).toISOString(),
    }));
  });
}

export async function updateMemberRole(
  deps: TenancyDeps,
  ctx: ActionContext,
  input: { userId: string; role: string },
): Promise<void> {
  requirePermission(ctx, "members:write");
  if (!isRole(input.role)) throw new ZenError("VALIDATION_FAILED", { message: "unknown role" });
  const role = input.role;
  await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await lockedRoleOf(tx, ctx.tenantId, input.userId);
    const mine = await actorRole(tx, ctx);
    if (!canAssignRole(mine, role) || !canAssignRole(mine, before)) throw new ZenError("FORBIDDEN");
    if (before === "owner" && role !== "owner" && (await ownerCount(tx, ctx.tenantId)) <= 1) {
      throw new ZenError("CONFLICT", { message: "a tenant keeps at least one owner" });
    }
    await tx.query("update memberships set role = $3 where tenant_id = $1 and user_id = $2", [
      ctx.tenantId,
      input.userId,
      role,
    ]);
    await audit(tx, ctx, "member.role_change", input.userId, { from: before, to: role });
  });
}

export async function removeMember(
  deps: TenancyDeps,
  ctx: ActionContext,
  input: { userId: string },
): Promise<void> {
  requirePermission(ctx, "members:write");
  await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await lockedRoleOf(tx, ctx.tenantId, input.userId);
    if (!canAssignRole(await actorRole(tx, ctx), before)) throw new ZenError("FORBIDDEN");
    if (before === "owner" && (await ownerCount(tx, ctx.tenantId)) <= 1) {
      throw new ZenError("CONFLICT", { message: "a tenant keeps at least one owner" });
    }
    await tx.query("delete from memberships where tenant_id = $1 and user_id = $2", [
      ctx.tenantId,
      input.userId,
    ]);
    await audit(tx, ctx, "member.remove", input.userId, { role: before });
  });
}

/**
 * Operator bootstrap: give an existing user a role without an acting member
 * (CLI only). The last owner is kept like everywhere else.
 */
export async function grantMembership(
  deps: TenancyDeps,
  input: {
    tenantId: string;
    userId: string;
    role: Role;
    correlationId: string;
    actor: ActionContext["actor"];
  },
): Promise<void> {
  await deps.db.withTenant(input.tenantId, async (tx) => {
    await lockMemberships(tx, input.tenantId);
    const current = await tx.query<{ role: Role }>(
      "select role from memberships where tenant_id = $1 and user_id = $2",
      [input.tenantId, input.userId],
    );
    const before = current.rows[0]?.role;
    if (before === "owner" && input.role !== "owner" && (await ownerCount(tx, input.tenantId)) <= 1) {
      throw new ZenError("CONFLICT", { message: "a tenant keeps at least one owner" });
    }
    await tx.query(
      `insert into memberships (tenant_id, user_id, role) values ($1, $2, $3)
       on conflict (tenant_id, user_id) do update set role = excluded.role`,
      [input.tenantId, input.userId, input.role],
    );
    await appendAudit(tx, {
      tenantId: input.tenantId,
      actor: input.actor,
      action: before === undefined ? "member.grant" : "member.role_change",
      outcome: "success",
      target: { type: "user", id: input.userId },
      correlationId: input.correlationId,
      details: before === undefined ? { role: input.role } : { from: before, to: input.role },
    });
  });
}
