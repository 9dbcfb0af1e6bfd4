import { z } from "zod";
import {
  createApiKey,
  getApiKey,
  listApiKeys,
  PROJECT_PERMISSIONS,
  revokeApiKey,
} from "../../tenancy/index.ts";
import { projectContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { defineRoute } from "../route.ts";
import { idParam, listOf, name, pageQuery } from "../schemas.ts";

const apiKey = z.object({
  id: z.string(),
  project_id: z.string(),
  name: z.string(),
  prefix: z.string(),
  permissions: z.array(z.string()),
  created_by: z.string(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
});

const projectParams = z.strictObject({ project_id: idParam("prj") });
const keyParams = z.strictObject({ project_id: idParam("prj"), key_id: idParam("key") });

export function apiKeyRoutes(rc: RouteContext): void {
  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/api-keys",
    operationId: "createApiKey",
    summary: "Create an API key (the secret is returned once, in this response only)",
    tag: "api-keys",
    auth: true,
    params: projectParams,
    body: z.strictObject({
      name,
      permissions: z.array(z.enum(PROJECT_PERMISSIONS)).min(1).max(PROJECT_PERMISSIONS.length),
      expires_at: z.iso
        .datetime({ offset: true })
        // Checked here too, so a past expiry is reported like any other invalid field.
        .refine((v) => Date.parse(v) > rc.tenancy.clock.now().getTime(), "must be in the future")
        .nullable()
        .optional(),
    }),
    responses: { 201: { description: "Created", schema: apiKey.extend({ secret: z.string() }) } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const { key, secret } = await createApiKey(rc.tenancy, ctx, {
        name: body.name,
        permissions: body.permissions,
        expiresAt: body.expires_at ? new Date(body.expires_at) : null,
      });
      reply.code(201).header("cache-control", "no-store");
      return { ...key, secret };
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/api-keys",
    operationId: "listApiKeys",
    summary: "List the project's API keys (masked)",
    tag: "api-keys",
    auth: true,
    params: projectParams,
    query: pageQuery,
    responses: { 200: { description: "A page of keys", schema: listOf(apiKey) } },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const rows = await listApiKeys(rc.tenancy, ctx, {
        limit: query.limit + 1,
        after: rc.cursors.open(ctx, "api_keys", query.after),
      });
      const page = rows.slice(0, query.limit);
      return rc.cursors.page(ctx, "api_keys", {
        data: page,
        next_cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      });
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/api-keys/:key_id",
    operationId: "getApiKey",
    summary: "One API key (masked)",
    tag: "api-keys",
    auth: true,
    params: keyParams,
    responses: { 200: { description: "The key", schema: apiKey } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getApiKey(rc.tenancy, ctx, params.key_id);
    },
  });

  defineRoute(rc, {
    method: "DELETE",
    url: "/v1/projects/:project_id/api-keys/:key_id",
    operationId: "revokeApiKey",
    summary: "Revoke an API key, effective immediately",
    tag: "api-keys",
    auth: true,
    params: keyParams,
    responses: { 200: { description: "The revoked key", schema: apiKey } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return revokeApiKey(rc.tenancy, ctx, params.key_id);
    },
  });
}
