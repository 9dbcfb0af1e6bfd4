/**
 * Authorization: a closed catalogue of permissions, the role → permission map
 * for humans, and the scope check that opens every action. API keys carry an
 * explicit subset (least privilege) and can never mint a key wider than
 * themselves.
 */
import { type ActionContext, ZenError } from "../core/index.ts";

export const PROJECT_PERMISSIONS = [
  "api_keys:read",
  "api_keys:write",
  "sources:read",
  "sources:write",
  "destinations:read",
  "destinations:write",
  "subscriptions:read",
  "subscriptions:write",
  "events:read",
  "events:payload",
  "deliveries:read",
  "deliveries:write",
  "audit:read",
] as const;

export const TENANT_PERMISSIONS = [
  "members:read",
  "members:write",
  "projects:read",
  "projects:write",
] as const;

export type ProjectPermission = (typeof PROJECT_PERMISSIONS)[number];
export type TenantPermission = (typeof TENANT_PERMISSIONS)[number];
export type Permission = ProjectPermission | TenantPermission;

export const ROLES = ["owner", "admin", "developer", "viewer"] as const;
export type Role = (typeof ROLES)[number];

const READ_ONLY = PROJECT_PERMISSIONS.filter((p) => p.endsWith(":read"));

export function permissionsForRole(role: Role): ReadonlySet<Permission> {
  switch (role) {
    case "owner":
    case "admin":
      return new Set<Permission>([...PROJECT_PERMISSIONS, ...TENANT_PERMISSIONS]);
    case "developer":
      return new Set<Permission>([...PROJECT_PERMISSIONS, "members:read", "projects:read"]);
    case "viewer":
      return new Set<Permission>([...READ_ONLY, "members:read", "projects:read"]);
    default: {
      const never: never = role;
      throw new Error(`unknown role ${String(never)}`);
    }
  }
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function isProjectPermission(value: unknown): value is ProjectPermission {
  return typeof value === "string" && (PROJECT_PERMISSIONS as readonly string[]).includes(value);
}

/** The first line of every action. Throws FORBIDDEN; the API layer audits the denial. */
export function requirePermission(ctx: ActionContext, permission: Permission): void {
  if (!ctx.permissions.has(permission)) {
    throw new ZenError("FORBIDDEN", { details: { permission } });
  }
}

/** Owners outrank admins: only an owner may grant or remove the owner role. */
export function canAssignRole(actorRole: Role | undefined, target: Role): boolean {
  if (actorRole === "owner") return true;
  if (actorRole === "admin") return target !== "owner";
  return false;
}
