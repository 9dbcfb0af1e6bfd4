/**
 * The delivery pipeline's shared shapes: what the backend (or, on the fast
 * path, the ingester) hands egress for one round of attempts, and what egress
 * reports back. Destination secrets travel only as boxes sealed to egress's
 * key: the backend and the ingester carry them but can never open them.
 */
import type { CloudEventEnvelope } from "../ingest/cloudevents/index.ts";

export const DELIVERY_FORMATS = ["cloudevents-structured", "cloudevents-binary", "original"] as const;
export type DeliveryFormat = (typeof DELIVERY_FORMATS)[number];

export const DELIVERY_STATUSES = ["pending", "succeeded", "dead"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A destination as egress needs it for an attempt. */
export interface DispatchDestination {
  id: string;
  /** The tenant whose share of egress's job slots the destination's jobs use. */
  tenantId: string;
  url: string;
  method: "POST" | "PUT" | "PATCH";
  headers: Record<string, string>;
  timeoutMs: number;
  format: DeliveryFormat;
  maxInFlight: number;
  rateLimitPerSecond: number | null;
  allowPlainHttp: boolean;
  /** Box sealed to egress: `{ auth?, client_certificate? }` as JSON; null when the customer brought none. */
  credentials: string | null;
  /** Boxes sealed to egress, one per signing secret version valid now, newest first. */
  secrets: string[];
}

export interface DispatchEvent {
  envelope: CloudEventEnvelope;
  /** The stored payload, base64. */
  payload: string;
}

export interface DispatchJob {
  deliveryId: string;
  eventId: string;
  destinationId: string;
  /** Proves the report belongs to this hand-off; a lease that expired and was claimed again has another. */
  leaseToken: string;
  /** Egress must not start the attempt after this (ISO 8601); it reports `deferred` instead. */
  startBy: string;
}

export interface DispatchBatch {
  events: Record<string, DispatchEvent>;
  destinations: Record<string, DispatchDestination>;
  jobs: DispatchJob[];
}

/** The customer's credentials, as the box holds them (egress only). */
export interface DestinationCredentials {
  auth?:
    | { type: "bearer"; token: string }
    | { type: "basic"; username: string; password: string }
    | { type: "header"; name: string; value: string };
  client_certificate?: { cert_pem: string; key_pem: string };
}

/** What one attempt came to, as egress saw it. Never a header value or a credential. */
export type ReportedOutcome =
  | { kind: "response"; status: number; retryAfter?: string | undefined; excerpt: string }
  | { kind: "refused"; reason: string; detail: string }
  | { kind: "error"; errorClass: string; detail: string }
  /** Not attempted: the destination's in-flight or rate limit would not let it start in time. */
  | { kind: "deferred"; retryInMs: number };

export interface AttemptReport {
  deliveryId: string;
  leaseToken: string;
  startedAt: string;
  latencyMs: number;
  outcome: ReportedOutcome;
}

export function emptyBatch(): DispatchBatch {
  return { events: {}, destinations: {}, jobs: [] };
}

/**
 * Splits a batch so no part carries more than `maxBytes` of payload (a part
 * always takes at least one job), each part with only the events and
 * destinations its jobs name.
 */
export function splitBatch(batch: DispatchBatch, maxBytes: number): DispatchBatch[] {
  const parts: DispatchBatch[] = [];
  let part = emptyBatch();
  let bytes = 0;
  for (const job of batch.jobs) {
    const event = batch.events[job.eventId];
    const destination = batch.destinations[job.destinationId];
    if (!event || !destination) continue;
    const cost = part.events[job.eventId] ? 0 : event.payload.length;
    if (part.jobs.length > 0 && bytes + cost > maxBytes) {
      parts.push(part);
      part = emptyBatch();
      bytes = 0;
    }
    if (!part.events[job.eventId]) {
      part.events[job.eventId] = event;
      bytes += event.payload.length;
    }
    part.destinations[job.destinationId] = destination;
    part.jobs.push(job);
  }
  if (part.jobs.length > 0) parts.push(part);
  return parts;
}

/** Merges `from` into `into` (jobs appended, events and destinations by id). */
export function mergeBatch(into: DispatchBatch, from: DispatchBatch): DispatchBatch {
  Object.assign(into.events, from.events);
  Object.assign(into.destinations, from.destinations);
  into.jobs.push(...from.jobs);
  return into;
}
