import { z } from "zod";
import {
  createSource,
  createSourceBody,
  deleteSource,
  getSource,
  listSources,
  rotateSecretInput,
  rotateSourceSecret,
  type SourceDeps,
  sendTestEvent,
  updateSource,
  updateSourceInput,
} from "../../ingest/sources/index.ts";
import { CLOUDEVENTS_MODES, SCHEME_NAMES } from "../../ingest/types.ts";
import { projectContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { asBody, defineRoute } from "../route.ts";
import { idParam, listOf, pageQuery } from "../schemas.ts";

const source = z.object({
  id: z.string(),
  project_id: z.string(),
  name: z.string(),
  scheme: z.enum(SCHEME_NAMES),
  settings: z.record(z.string(), z.unknown()),
  ingest_url: z.string(),
  signature_required: z.boolean(),
  allow_plain_http: z.boolean(),
  client_cert_pins: z.array(z.string()),
  max_body_bytes: z.number().int(),
  content_types: z.array(z.string()),
  tolerance_seconds: z.number().int(),
  secret_overlap_seconds: z.number().int(),
  cloudevents: z.enum(CLOUDEVENTS_MODES),
  enabled: z.boolean(),
  secret_versions: z.array(
    z.object({ version: z.number().int(), created_at: z.string(), expires_at: z.string().nullable() }),
  ),
  created_at: z.string(),
  updated_at: z.string(),
});
const withSecret = source.extend({ secret: z.string() });

const testSent = z.object({
  event_id: z.string(),
  duplicate: z.boolean(),
  scheme: z.enum(SCHEME_NAMES),
  ingest_url: z.string(),
});

const projectParams = z.strictObject({ project_id: idParam("prj") });
const sourceParams = z.strictObject({ project_id: idParam("prj"), source_id: idParam("src") });

export function sourceRoutes(
  rc: RouteContext,
  ingestBaseUrl: () => string,
  maxSecretVersions?: number,
): void {
  const deps: SourceDeps = {
    ...rc.tenancy,
    ingestBaseUrl,
    ...(maxSecretVersions === undefined ? {} : { maxSecretVersions }),
  };
  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/sources",
    operationId: "createSource",
    summary: "Create a source (its verification secret is returned once, here and on rotation only)",
    tag: "sources",
    auth: true,
    params: projectParams,
    body: createSourceBody,
    responses: { 201: { description: "Created", schema: withSecret } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const { source: view, secret } = await asBody(createSource(deps, ctx, body));
      reply.code(201).header("cache-control", "no-store");
      return { ...view, secret };
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/sources",
    operationId: "listSources",
    summary: "List the project's sources (never their secrets)",
    tag: "sources",
    auth: true,
    params: projectParams,
    query: pageQuery,
    responses: { 200: { description: "A page of sources", schema: listOf(source) } },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const rows = await listSources(deps, ctx, {
        limit: query.limit + 1,
        after: rc.cursors.open(ctx, "sources", query.after),
      });
      const page = rows.slice(0, query.limit);
      return rc.cursors.page(ctx, "sources", {
        data: page,
        next_cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      });
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/sources/:source_id",
    operationId: "getSource",
    summary: "One source (never its secret)",
    tag: "sources",
    auth: true,
    params: sourceParams,
    responses: { 200: { description: "The source", schema: source } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getSource(deps, ctx, params.source_id);
    },
  });

  defineRoute(rc, {
    method: "PATCH",
    url: "/v1/projects/:project_id/sources/:source_id",
    operationId: "updateSource",
    summary: "Change a source's name, settings, security settings or enabled flag",
    tag: "sources",
    auth: true,
    params: sourceParams,
    body: updateSourceInput,
    responses: { 200: { description: "The updated source", schema: source } },
    async handler(req, _reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return asBody(updateSource(deps, ctx, params.source_id, body));
    },
  });

  defineRoute(rc, {
    method: "DELETE",
    url: "/v1/projects/:project_id/sources/:source_id",
    operationId: "deleteSource",
    summary: "Delete a source and its secrets; ingesters stop accepting its events",
    tag: "sources",
    auth: true,
    params: sourceParams,
    responses: { 204: { description: "Deleted" } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      await deleteSource(deps, ctx, params.source_id);
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/sources/:source_id/rotate-secret",
    operationId: "rotateSourceSecret",
    summary: "Rotate a source's secret; the previous one keeps verifying for the overlap",
    tag: "sources",
    auth: true,
    params: sourceParams,
    body: rotateSecretInput,
    responses: { 200: { description: "The source and its new secret", schema: withSecret } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const { source: view, secret } = await asBody(rotateSourceSecret(deps, ctx, params.source_id, body));
      reply.header("cache-control", "no-store");
      return { ...view, secret };
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/sources/:source_id/test",
    operationId: "testSource",
    summary:
      "Send the provider's sample event, signed with the source's current secret, to its ingest URL; returns the stored event's id",
    tag: "sources",
    auth: true,
    params: sourceParams,
    responses: { 200: { description: "The ingester accepted the sample", schema: testSent } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return sendTestEvent(deps, ctx, params.source_id);
    },
  });
}
