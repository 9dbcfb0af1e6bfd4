import { z } from "zod";
import { shownText } from "../../core/index.ts";
import { EVENT_STATUSES, getEvent, listEvents, MAX_EVENTS_PAGE } from "../../ingest/events/index.ts";
import { projectContext } from "../auth.ts";
import type { RouteContext } from "../context.ts";
import { defineRoute } from "../route.ts";
import { cursor, idParam } from "../schemas.ts";

// A CloudEvent in the JSON event format (extensions flattened), as any CloudEvents SDK reads it.
const cloudEvent = z.looseObject({
  specversion: z.literal("1.0"),
  id: z.string(),
  source: z.string(),
  type: z.string(),
  time: z.string(),
  subject: z.string().optional(),
  datacontenttype: z.string().optional(),
  dataschema: z.string().optional(),
  correlationid: z.string(),
});

// zenmesh's facts sit beside the CloudEvent, never inside it.
const eventEnvelope = z.object({
  event: cloudEvent,
  source_id: z.string(),
  received_at: z.string(),
  status: z.enum(EVENT_STATUSES),
  payload_bytes: z.number().int(),
});

const eventDetail = eventEnvelope.extend({
  event: cloudEvent.extend({ data: z.unknown().optional(), data_base64: z.string().optional() }),
  payload_omitted: z.boolean(),
});

const timestamp = z.iso.datetime({ offset: true });
const listQuery = z.strictObject({
  source_id: idParam("src").optional(),
  type: shownText().min(1).max(256).optional(),
  status: z.enum(EVENT_STATUSES).optional(),
  received_after: timestamp.optional(),
  received_before: timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_PAGE).default(50),
  cursor: cursor.optional(),
});

const projectParams = z.strictObject({ project_id: idParam("prj") });
const eventParams = z.strictObject({ project_id: idParam("prj"), event_id: idParam("evt") });

export function eventRoutes(rc: RouteContext): void {
  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/events",
    operationId: "listEvents",
    summary: "List the project's events, newest first (envelopes only, never payloads)",
    tag: "events",
    auth: true,
    params: projectParams,
    query: listQuery,
    responses: {
      200: {
        description: "A page of events",
        schema: z.object({ data: z.array(eventEnvelope), next_cursor: z.string().nullable() }),
      },
    },
    async handler(req, _reply, { params, query }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      const page = await listEvents(rc.tenancy, ctx, {
        sourceId: query.source_id,
        type: query.type,
        status: query.status,
        receivedAfter: query.received_after === undefined ? undefined : new Date(query.received_after),
        receivedBefore: query.received_before === undefined ? undefined : new Date(query.received_before),
        limit: query.limit,
        cursor: rc.cursors.open(ctx, "events", query.cursor),
      });
      return rc.cursors.page(ctx, "events", page);
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/projects/:project_id/events/:event_id",
    operationId: "getEvent",
    summary:
      "One event in the CloudEvents JSON format; the payload (data or data_base64) only with events:payload, and every payload read is audited",
    tag: "events",
    auth: true,
    params: eventParams,
    responses: { 200: { description: "The event", schema: eventDetail } },
    async handler(req, _reply, { params }) {
      const ctx = await projectContext(rc.auth, req, params.project_id);
      return getEvent(rc.tenancy, ctx, params.event_id);
    },
  });
}
