export {
  type ApiKeyView,
  type CreateApiKeyInput,
  createApiKey,
  getApiKey,
  listApiKeys,
  revokeApiKey,
} from "./api-keys/api-keys.ts";
export { type ApiKeyFailure, type ApiKeyPrincipal, authenticateApiKey } from "./api-keys/authenticate.ts";
export { parseApiKey } from "./api-keys/format.ts";
export type { TenancyDeps } from "./deps.ts";
export {
  addMember,
  grantMembership,
  listMembers,
  type Member,
  removeMember,
  updateMemberRole,
} from "./members/members.ts";
export {
  isProjectPermission,
  isRole,
  type Permission,
  PROJECT_PERMISSIONS,
  type ProjectPermission,
  permissionsForRole,
  ROLES,
  type Role,
  requirePermission,
  TENANT_PERMISSIONS,
} from "./permissions.ts";
export { createProject, getProject, listProjects, type Project } from "./projects/projects.ts";
export {
  type CountedQuota,
  checkProjectQuota,
  checkRotationQuota,
  DEFAULT_QUOTAS,
  type ProjectQuotas,
  projectQuotaReport,
  type QuotaOverrides,
  type QuotaReport,
  setProjectQuotas,
} from "./quotas.ts";
export {
  authenticateSession,
  login,
  logout,
  type Membership,
  membershipsOf,
  SESSION_COOKIE,
  type SessionPrincipal,
} from "./sessions/sessions.ts";
export { type CreatedTenant, type CreateTenantInput, createTenant } from "./tenants/create.ts";
export { createUser, findUserByEmail, getUser, MIN_PASSWORD_LENGTH, type User } from "./users/users.ts";
