import { z } from "zod";
import { shownText } from "../../core/index.ts";
import {
  createReplayJob,
  createTableQueue,
  DELIVERY_STATUSES,
  type DeliveryQueue,
  getDelivery,
  getReplayJob,
  listDeliveries,
  MAX_DELIVERIES_PAGE,
  replayDelivery,
} from "../../deliver/index.ts";
import { projectContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { defineRoute } from "../route.ts";
import { cursor, idParam } from "../schemas.ts";

const delivery = z.object({
  id: z.string(),
  project_id: z.string(),
  event_id: z.string(),
  destination_id: z.string(),
  subscription_id: z.string().nullable(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  replays: z.number().int(),
  next_attempt_at: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: z.string(),
  succeeded_at: z.string().nullable(),
  dead_at: z.string().nullable(),
  event_type: z.string(),
});

const attempt = z.object({
  attempt: z.number().int(),
  started_at: z.string(),
  latency_ms: z.number().int(),
  verdict: z.enum(["success", "retry", "fail"]),
  status_code: z.number().int().nullable(),
  error_class: z.string().nullable(),
  detail: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
});

const timestamp = z.iso.datetime({ offset: true });
const eventType = shownText()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII");
const replayFilter = z.strictObject({
  destination_id: idParam("dst").optional(),
  event_type: eventType.optional(),
  dead_after: timestamp.optional(),
  dead_before: timestamp.optional(),
});

const replayJob = z.object({
  id: z.string(),
  project_id: z.string(),
  status: z.enum(["running", "done", "failed"]),
  trigger: z.enum(["api", "recovery"]),
  filter: z.record(z.string(), z.unknown()),
  total: z.number().int(),
  replayed: z.number().int(),
  created_at: z.string(),
  finished_at: z.string().nullable(),
});

const page = z.object({ data: z.array(delivery), next_cursor: z.string().nullable() });
const projectParams = z.strictObject({ project_id: idParam("prj") });
const deliveryParams = z.strictObject({ project_id: idParam("prj"), delivery_id: idParam("dlv") });
const jobParams = z.strictObject({ project_id: idParam("prj"), job_id: idParam("rpl") });
const limit = z.coerce.number().int().min(1).max(MAX_DELIVERIES_PAGE).default(50);

export interface DeliveryRouteDeps {
  queue?: DeliveryQueue | undefined;
  /** Runs the scheduler soon, so a replay does not wait for its next poll. */
  kick?: () => void;
}

export function deliveryRoutes(rc: RouteContext, opts: DeliveryRouteDeps = {}): void {
  const deps = {
    db: rc.tenancy.db,
    clock: rc.tenancy.clock,
    queue: opts.queue ?? createTableQueue(rc.tenancy.db),
  };
  const kick = opts.kick ?? (() => {});

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/deliveries",
    operationId: "listDeliveries",
    summary: "List the project's deliveries, newest first",
    tag: "deliveries",
    auth: true,
    params: projectParams,
    query: z.strictObject({
      status: z.enum(DELIVERY_STATUSES).optional(),
      destination_id: idParam("dst").optional(),
      event_id: idParam("evt").optional(),
      limit,
      after: cursor.optional(),
    }),
    responses: { 200: { description: "A page of deliveries", schema: page } },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const page = await listDeliveries(deps, ctx, {
        status: query.status,
        destinationId: query.destination_id,
        eventId: query.event_id,
        limit: query.limit,
        after: rc.cursors.open(ctx, "deliveries", query.after),
      });
      return rc.cursors.page(ctx, "deliveries", page);
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/deliveries/:delivery_id",
    operationId: "getDelivery",
    summary:
      "One delivery with every attempt: time, latency, status, a sanitized response excerpt, error class",
    tag: "deliveries",
    auth: true,
    params: deliveryParams,
    responses: {
      200: { description: "The delivery", schema: delivery.extend({ attempt_history: z.array(attempt) }) },
    },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getDelivery(deps, ctx, params.delivery_id);
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/deliveries/:delivery_id/replay",
    operationId: "replayDelivery",
    summary: "Deliver again (same webhook-id), with the retry schedule started over",
    tag: "deliveries",
    auth: true,
    params: deliveryParams,
    responses: { 202: { description: "Queued", schema: delivery } },
    async handler(req, reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      await replayDelivery(deps, ctx, params.delivery_id);
      kick();
      reply.code(202);
      const { attempt_history: _, ...view } = await getDelivery(deps, ctx, params.delivery_id);
      return view;
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/dlq",
    operationId: "listDeadLetters",
    summary:
      "The dead letter queue: deliveries that exhausted their schedule or failed for good, latest first",
    tag: "deliveries",
    auth: true,
    params: projectParams,
    query: z.strictObject({
      destination_id: idParam("dst").optional(),
      event_type: eventType.optional(),
      limit,
      after: cursor.optional(),
    }),
    responses: { 200: { description: "A page of dead deliveries", schema: page } },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const page = await listDeliveries(deps, ctx, {
        dlq: true,
        destinationId: query.destination_id,
        eventType: query.event_type,
        limit: query.limit,
        after: rc.cursors.open(ctx, "dlq", query.after),
      });
      return rc.cursors.page(ctx, "dlq", page);
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/projects/:project_id/dlq/replay",
    operationId: "replayDeadLetters",
    summary:
      "Replay the dead letter queue by filter (destination, event type, time range) as a background job",
    tag: "deliveries",
    auth: true,
    params: projectParams,
    body: replayFilter,
    responses: { 202: { description: "The replay job", schema: replayJob } },
    async handler(req, reply, { params, body }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const job = await createReplayJob(deps, ctx, body);
      kick();
      reply.code(202);
      return job;
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/replay-jobs/:job_id",
    operationId: "getReplayJob",
    summary: "A bulk replay's progress",
    tag: "deliveries",
    auth: true,
    params: jobParams,
    responses: { 200: { description: "The replay job", schema: replayJob } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getReplayJob(deps, ctx, params.job_id);
    },
  });
}
