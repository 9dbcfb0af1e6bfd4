import { z } from "zod";
import {
  addMember,
  createProject,
  listMembers,
  listProjects,
  ROLES,
  removeMember,
  updateMemberRole,
} from "../../tenancy/index.ts";
import { tenantContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { defineRoute } from "../route.ts";
import { idParam, listOf, name } from "../schemas.ts";

const project = z.object({ id: z.string(), name: z.string(), created_at: z.string() });
const member = z.object({
  user_id: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  created_at: z.string(),
});
const tenantParams = z.strictObject({ tenant_id: idParam("tnt") });
const memberParams = z.strictObject({ tenant_id: idParam("tnt"), user_id: idParam("usr") });

export function tenantRoutes(rc: RouteContext): void {
  defineRoute(rc, {
    method: "GET",
    url: "/v1/tenants/:tenant_id/projects",
    operationId: "listProjects",
    summary: "List the tenant's projects",
    tag: "projects",
    auth: true,
    params: tenantParams,
    responses: { 200: { description: "Projects", schema: listOf(project) } },
    async handler(req, _reply, { params }) {
      const ctx = await tenantContext(rc.auth, req, params.tenant_id);
      return { data: await listProjects(rc.tenancy, ctx), next_cursor: null };
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/tenants/:tenant_id/projects",
    operationId: "createProject",
    summary: "Create a project",
    tag: "projects",
    auth: true,
    params: tenantParams,
    body: z.strictObject({ name }),
    responses: { 201: { description: "Created", schema: project } },
    async handler(req, reply, { params, body }) {
      const ctx = await tenantContext(rc.auth, req, params.tenant_id);
      const p = await createProject(rc.tenancy, ctx, body);
      reply.code(201);
      return p;
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/tenants/:tenant_id/members",
    operationId: "listMembers",
    summary: "List the tenant's members and their roles",
    tag: "members",
    auth: true,
    params: tenantParams,
    responses: { 200: { description: "Members", schema: listOf(member) } },
    async handler(req, _reply, { params }) {
      const ctx = await tenantContext(rc.auth, req, params.tenant_id);
      return { data: await listMembers(rc.tenancy, ctx), next_cursor: null };
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/tenants/:tenant_id/members",
    operationId: "addMember",
    summary: "Add an existing user to the tenant with a role",
    tag: "members",
    auth: true,
    params: tenantParams,
    body: z.strictObject({ email: z.string().max(320), role: z.enum(ROLES) }),
    responses: { 201: { description: "Added", schema: member } },
    async handler(req, reply, { params, body }) {
      const ctx = await tenantContext(rc.auth, req, params.tenant_id);
      const m = await addMember(rc.tenancy, ctx, body);
      reply.code(201);
      return m;
    },
  });

  defineRoute(rc, {
    method: "PATCH",
    url: "/v1/tenants/:tenant_id/members/:user_id",
    operationId: "updateMember",
    summary: "Change a member's role",
    tag: "members",
    auth: true,
    params: memberParams,
    body: z.strictObject({ role: z.enum(ROLES) }),
    responses: { 204: { description: "Changed" } },
    async handler(req, _reply, { params, body }) {
      const ctx = await tenantContext(rc.auth, req, params.tenant_id);
      await updateMemberRole(rc.tenancy, ctx, { userId: params.user_id, role: body.role });
      return undefined;
    },
  });

  defineRoute(rc, {
    method: "DELETE",
    url: "/v1/tenants/:tenant_id/members/:user_id",
    operationId: "removeMember",
    summary: "Remove a member",
    tag: "members",
    auth: true,
    params: memberParams,
    responses: { 204: { description: "Removed" } },
    async handler(req, _reply, { params }) {
      const ctx = await tenantContext(rc.auth, req, params.tenant_id);
      await removeMember(rc.tenancy, ctx, { userId: params.user_id });
      return undefined;
    },
  });
}
