/**
 * How a stored event is shown: its CloudEvents context attributes (built by
 * the envelope module from the stored columns) and zenmesh's own facts about
 * it. The sealed payload is never part of a row read here.
 */
import { buildEnvelope, type CloudEventEnvelope, envelopeAttributes } from "../cloudevents/index.ts";

export const EVENT_STATUSES = ["received", "delivered", "failed", "dead"] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export interface EventRow {
  id: string;
  project_id: string;
  source_id: string;
  type: string;
  subject: string | null;
  time: Date | string;
  datacontenttype: string | null;
  dataschema: string | null;
  extensions: Record<string, string> | null;
  received_at: Date | string;
  /** received_at in UTC at full (microsecond) precision, for cursors. */
  received_key: string;
  correlation_id: string;
  status: EventStatus;
  payload_bytes: number;
}

export const EVENT_COLUMNS = `id, project_id, source_id, type, subject, time, datacontenttype, dataschema,
  extensions, received_at, to_char(received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as received_key,
  correlation_id, status, payload_bytes`;

/** zenmesh's own facts about an event, beside (never inside) the CloudEvent. */
export interface EventFacts {
  source_id: string;
  received_at: string;
  status: EventStatus;
  payload_bytes: number;
}

/**
 * An event as the API shows it: `event` is a valid CloudEvent in the JSON
 * format (attributes, extensions flattened; data only where the caller may
 * read it), and zenmesh's facts sit beside it, so a client can hand `event`
 * to any CloudEvents SDK as it is.
 */
export type EventView = EventFacts & { event: Record<string, unknown> };

export function envelopeOf(row: EventRow): CloudEventEnvelope {
  return buildEnvelope({
    eventId: row.id,
    projectId: row.project_id,
    sourceId: row.source_id,
    type: row.type,
    subject: row.subject,
    time: new Date(row.time),
    datacontenttype: row.datacontenttype,
    dataschema: row.dataschema,
    correlationId: row.correlation_id,
    extensions: row.extensions ?? {},
  });
}

export function factsOf(row: EventRow): EventFacts {
  return {
    source_id: row.source_id,
    received_at: new Date(row.received_at).toISOString(),
    status: row.status,
    payload_bytes: Number(row.payload_bytes),
  };
}

export function toView(row: EventRow): EventView {
  return { event: envelopeAttributes(envelopeOf(row)), ...factsOf(row) };
}
