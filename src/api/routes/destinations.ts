import { z } from "zod";
import {
  CREDENTIAL_KINDS,
  createDestination,
  createDestinationInput,
  DESTINATION_FORMATS,
  DESTINATION_METHODS,
  type DeliverDeps,
  deleteDestination,
  getDestination,
  listDestinations,
  rotateDestinationSecret,
  rotateDestinationSecretInput,
  updateDestination,
  updateDestinationInput,
} from "../../deliver/destinations/index.ts";
import { projectContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { asBody, defineRoute } from "../route.ts";
import { idParam, listOf, pageQuery } from "../schemas.ts";

const time = z.string().nullable();
const destination = z.object({
  id: z.string(),
  project_id: z.string(),
  name: z.string(),
  url: z.string(),
  method: z.enum(DESTINATION_METHODS),
  headers: z.record(z.string(), z.string()),
  timeout_ms: z.number().int(),
  format: z.enum(DESTINATION_FORMATS),
  max_in_flight: z.number().int(),
  rate_limit_per_second: z.number().int().nullable(),
  fifo: z.boolean(),
  enabled: z.boolean(),
  disabled_reason: z.enum(["manual", "failing"]).nullable(),
  disabled_at: time,
  allow_plain_http: z.boolean(),
  auto_replay: z.boolean(),
  secret_overlap_seconds: z.number().int(),
  retry: z.object({ schedule_seconds: z.array(z.number().int()), retry_after_cap_seconds: z.number().int() }),
  credentials: z.object({ kinds: z.array(z.enum(CREDENTIAL_KINDS)) }),
  secret_versions: z.array(z.object({ version: z.number().int(), created_at: z.string(), expires_at: time })),
  health: z.object({
    state: z.enum(["closed", "open", "half_open", "disabled"]),
    consecutive_failures: z.number().int(),
    failing_since: time,
    opened_at: time,
  }),
  created_at: z.string(),
  updated_at: z.string(),
});
const withSecret = destination.extend({ secret: z.string() });

const projectParams = z.strictObject({ project_id: idParam("prj") });
const destinationParams = z.strictObject({ project_id: idParam("prj"), destination_id: idParam("dst") });

export function destinationRoutes(rc: RouteContext, egressBoxKey: () => Buffer | undefined): void {
  const deps: DeliverDeps = { ...rc.tenancy, egressBoxKey };
  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/destinations",
    operationId: "createDestination",
    summary: "Create a destination (its signing secret is returned once, here and on rotation only)",
    tag: "destinations",
    auth: true,
    params: projectParams,
    body: createDestinationInput,
    responses: { 201: { description: "Created", schema: withSecret } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const { destination: view, secret } = await asBody(createDestination(deps, ctx, body));
      reply.code(201).header("cache-control", "no-store");
      return { ...view, secret };
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/destinations",
    operationId: "listDestinations",
    summary: "List the project's destinations (never their secrets or credentials)",
    tag: "destinations",
    auth: true,
    params: projectParams,
    query: pageQuery,
    responses: { 200: { description: "A page of destinations", schema: listOf(destination) } },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const rows = await listDestinations(deps, ctx, {
        limit: query.limit + 1,
        after: rc.cursors.open(ctx, "destinations", query.after),
      });
      const page = rows.slice(0, query.limit);
      return rc.cursors.page(ctx, "destinations", {
        data: page,
        next_cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      });
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/destinations/:destination_id",
    operationId: "getDestination",
    summary: "One destination with its health (never its secret or credentials)",
    tag: "destinations",
    auth: true,
    params: destinationParams,
    responses: { 200: { description: "The destination", schema: destination } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getDestination(deps, ctx, params.destination_id);
    },
  });

  defineRoute(rc, {
    method: "PATCH",
    url: "/v1/projects/:project_id/destinations/:destination_id",
    operationId: "updateDestination",
    summary:
      "Change a destination; credentials null clears them, an object replaces them all; a URL on another origin clears them unless given again",
    tag: "destinations",
    auth: true,
    params: destinationParams,
    body: updateDestinationInput,
    responses: { 200: { description: "The updated destination", schema: destination } },
    async handler(req, _reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return asBody(updateDestination(deps, ctx, params.destination_id, body));
    },
  });

  defineRoute(rc, {
    method: "DELETE",
    url: "/v1/projects/:project_id/destinations/:destination_id",
    operationId: "deleteDestination",
    summary: "Delete a destination with its secrets, subscriptions, deliveries and queued work",
    tag: "destinations",
    auth: true,
    params: destinationParams,
    responses: { 204: { description: "Deleted" } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      await deleteDestination(deps, ctx, params.destination_id);
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/destinations/:destination_id/rotate-secret",
    operationId: "rotateDestinationSecret",
    summary: "Rotate a destination's signing secret; the previous one keeps signing for the overlap",
    tag: "destinations",
    auth: true,
    params: destinationParams,
    body: rotateDestinationSecretInput,
    responses: { 200: { description: "The destination and its new secret", schema: withSecret } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const { destination: view, secret } = await asBody(
        rotateDestinationSecret(deps, ctx, params.destination_id, body),
      );
      reply.header("cache-control", "no-store");
      return { ...view, secret };
    },
  });
}
