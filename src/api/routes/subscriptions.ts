import { z } from "zod";
import {
  createSubscription,
  createSubscriptionInput,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  updateSubscription,
  updateSubscriptionInput,
} from "../../deliver/subscriptions/index.ts";
import { projectContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { asBody, defineRoute } from "../route.ts";
import { idParam, listOf, pageQuery } from "../schemas.ts";

const subscription = z.object({
  id: z.string(),
  project_id: z.string(),
  name: z.string(),
  destination_id: z.string(),
  source_ids: z.array(z.string()),
  event_types: z.array(z.string()),
  conditions: z.array(z.object({ path: z.string(), op: z.string(), value: z.unknown().optional() })),
  enabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

const projectParams = z.strictObject({ project_id: idParam("prj") });
const subscriptionParams = z.strictObject({ project_id: idParam("prj"), subscription_id: idParam("sub") });
const listQuery = pageQuery.extend({ destination_id: idParam("dst").optional() });

/**
 * A destination or source id that is not the project's (another project's,
 * another tenant's, or none at all) answers 400 VALIDATION_FAILED on the body
 * field that names it: the same answer for each, so ids outside the project
 * stay unknowable, and the error points at what to fix.
 */
export function subscriptionRoutes(rc: RouteContext): void {
  const deps = rc.tenancy;
  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/subscriptions",
    operationId: "createSubscription",
    summary:
      "Route the project's events (optionally by source, type and payload conditions) to a destination",
    tag: "subscriptions",
    auth: true,
    params: projectParams,
    body: createSubscriptionInput,
    responses: { 201: { description: "Created", schema: subscription } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const view = await asBody(createSubscription(deps, ctx, body));
      reply.code(201);
      return view;
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/subscriptions",
    operationId: "listSubscriptions",
    summary: "List the project's subscriptions, optionally only those of one destination",
    tag: "subscriptions",
    auth: true,
    params: projectParams,
    query: listQuery,
    responses: { 200: { description: "A page of subscriptions", schema: listOf(subscription) } },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const rows = await listSubscriptions(deps, ctx, {
        limit: query.limit + 1,
        after: rc.cursors.open(ctx, "subscriptions", query.after),
        destinationId: query.destination_id,
      });
      const page = rows.slice(0, query.limit);
      return rc.cursors.page(ctx, "subscriptions", {
        data: page,
        next_cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      });
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/subscriptions/:subscription_id",
    operationId: "getSubscription",
    summary: "One subscription",
    tag: "subscriptions",
    auth: true,
    params: subscriptionParams,
    responses: { 200: { description: "The subscription", schema: subscription } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getSubscription(deps, ctx, params.subscription_id);
    },
  });

  defineRoute(rc, {
    method: "PATCH",
    url: "/v1/projects/:project_id/subscriptions/:subscription_id",
    operationId: "updateSubscription",
    summary: "Change a subscription's destination, filters, name or enabled flag",
    tag: "subscriptions",
    auth: true,
    params: subscriptionParams,
    body: updateSubscriptionInput,
    responses: { 200: { description: "The updated subscription", schema: subscription } },
    async handler(req, _reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return asBody(updateSubscription(deps, ctx, params.subscription_id, body));
    },
  });

  defineRoute(rc, {
    method: "DELETE",
    url: "/v1/projects/:project_id/subscriptions/:subscription_id",
    operationId: "deleteSubscription",
    summary: "Delete a subscription; deliveries already made are kept",
    tag: "subscriptions",
    auth: true,
    params: subscriptionParams,
    responses: { 204: { description: "Deleted" } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      await deleteSubscription(deps, ctx, params.subscription_id);
    },
  });
}
