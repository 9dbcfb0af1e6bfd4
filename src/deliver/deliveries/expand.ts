/**
 * Fan-out at ingest (ARCHITECTURE.md section 3, step 3): in the transaction
 * that stores the events, every matching subscription becomes one delivery
 * per event and destination, queued, so an acknowledged event can never be
 * without its deliveries. Deliveries that may go at once (not FIFO, circuit
 * closed) are leased to the fast path and returned as a dispatch batch; the
 * rest wait for the scheduler. A lease the fast path never reports on runs
 * out and the scheduler claims the delivery again.
 */
import { newId } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { CloudEventEnvelope } from "../../ingest/cloudevents/index.ts";
import type { ZenLock } from "../../zenlock/index.ts";
import { loadDestinationsForDispatch } from "../destinations/index.ts";
import { matchesConditions, matchesType } from "../filter.ts";
import { loadSubscriptionsForProjects, type SubscriptionRule } from "../subscriptions/index.ts";
import { type DispatchBatch, type DispatchDestination, emptyBatch } from "../types.ts";
import { type DeliveryQueue, newLeaseToken, type QueueEntry } from "./queue.ts";

export interface StoredEvent {
  envelope: CloudEventEnvelope;
  projectId: string;
  sourceId: string;
  /** The payload, base64, as stored (before sealing). */
  payload: string;
  /** zenmesh's own notifications reach only subscriptions that name their type. */
  system?: { aboutDestination?: string };
}

export interface ExpandDeps {
  zenlock: ZenLock;
  queue: DeliveryQueue;
  /** How long a fast-path hand-off holds its deliveries before the scheduler may claim them. */
  leaseMs: number;
}

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json$/i;

function parsedPayload(event: StoredEvent): unknown {
  const type = event.envelope.datacontenttype?.split(";")[0]?.trim() ?? "";
  if (!JSON_TYPE.test(type)) return undefined;
  try {
    return JSON.parse(Buffer.from(event.payload, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
}

function matches(rule: SubscriptionRule, event: StoredEvent, payload: () => unknown): boolean {
  if (rule.projectId !== event.projectId) return false;
  if (event.system) {
    // A catch-all subscription was made for the customer's own events, not for zenmesh's notices.
    if (rule.eventTypes.length === 0 || rule.eventTypes.includes("*")) return false;
    if (rule.destinationId === event.system.aboutDestination) return false;
  } else if (rule.sourceIds.length > 0 && !rule.sourceIds.includes(event.sourceId)) {
    return false;
  }
  if (!matchesType(rule.eventTypes, event.envelope.type)) return false;
  return rule.conditions.length === 0 || matchesConditions(rule.conditions, payload());
}

interface NewDelivery {
  id: string;
  projectId: string;
  eventId: string;
  destinationId: string;
  subscriptionId: string;
}

/** Creates and queues the deliveries of freshly stored events; returns what the fast path may send now. */
export async function expandDeliveries(
  deps: ExpandDeps,
  tx: Tx,
  tenantId: string,
  events: readonly StoredEvent[],
  now: Date,
  opts: { fastPath: boolean },
): Promise<DispatchBatch> {
  const batch = emptyBatch();
  if (events.length === 0) return batch;
  const rules = await loadSubscriptionsForProjects(tx, tenantId, [
    ...new Set(events.map((e) => e.projectId)),
  ]);
  if (rules.length === 0) return batch;

  const wanted: NewDelivery[] = [];
  for (const event of events) {
    let parsed: { value: unknown } | undefined;
    const payload = () => {
      parsed ??= { value: parsedPayload(event) };
      return parsed.value;
    };
    const seen = new Set<string>();
    for (const rule of rules) {
      if (seen.has(rule.destinationId) || !matches(rule, event, payload)) continue;
      seen.add(rule.destinationId);
      wanted.push({
        id: newId("delivery"),
        projectId: event.projectId,
        eventId: event.envelope.id,
        destinationId: rule.destinationId,
        subscriptionId: rule.id,
      });
    }
  }
  if (wanted.length === 0) return batch;

  const inserted = await tx.query<{
    id: string;
    seq: string | number;
    destination_id: string;
    event_id: string;
  }>(
    `insert into deliveries (id, tenant_id, project_id, event_id, destination_id, subscription_id, seq, status,
       next_attempt_at, created_at, updated_at)
     select t.id, $1, t.project_id, t.event_id, t.destination_id, t.subscription_id, nextval('delivery_seq'),
            'pending', $2, $2, $2
       from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
            with ordinality as t(id, project_id, event_id, destination_id, subscription_id, n)
      order by t.n
     on conflict (event_id, destination_id) do nothing
     returning id, seq, destination_id, event_id`,
    [
      tenantId,
      now,
      wanted.map((w) => w.id),
      wanted.map((w) => w.projectId),
      wanted.map((w) => w.eventId),
      wanted.map((w) => w.destinationId),
      wanted.map((w) => w.subscriptionId),
    ],
  );
  const destinationIds = [...new Set(inserted.rows.map((r) => r.destination_id))];
  const destinations = await loadDestinationsForDispatch(deps, tx, tenantId, destinationIds, now);
  const gates = await tx.query<{ destination_id: string; state: string }>(
    "select destination_id, state from destination_gates where destination_id = any($1::text[])",
    [destinationIds],
  );
  const closed = new Set(destinationIds);
  for (const g of gates.rows) if (g.state !== "closed") closed.delete(g.destination_id);

  const leaseUntil = new Date(now.getTime() + deps.leaseMs);
  const entries: QueueEntry[] = [];
  const byId = new Map(events.map((e) => [e.envelope.id, e]));
  for (const row of inserted.rows) {
    const destination = destinations.get(row.destination_id);
    const fast =
      opts.fastPath && destination !== undefined && !destination.fifo && closed.has(destination.id);
    const entry: QueueEntry = {
      deliveryId: row.id,
      tenantId,
      destinationId: row.destination_id,
      seq: Number(row.seq),
      fifo: destination?.fifo ?? false,
      dueAt: now,
    };
    if (fast && destination) {
      const token = newLeaseToken();
      entry.lease = { token, until: leaseUntil };
      const event = byId.get(row.event_id)!;
      batch.events[row.event_id] = { envelope: event.envelope, payload: event.payload };
      batch.destinations[destination.id] = toWire(destination);
      batch.jobs.push({
        deliveryId: row.id,
        eventId: row.event_id,
        destinationId: destination.id,
        leaseToken: token,
        startBy: startBy(leaseUntil, destination.timeoutMs, now).toISOString(),
      });
    }
    entries.push(entry);
  }
  await deps.queue.enqueue(tx, entries);
  return batch;
}

/**
 * An attempt started after this could still be running when its lease ends.
 * A lease shorter than the destination's timeout still leaves a moment to
 * start: the attempt may then outlive its lease and run beside a re-claimed
 * one (a duplicate the receiver dedupes), rather than never being made.
 */
export function startBy(leaseUntil: Date, timeoutMs: number, now = new Date()): Date {
  const latest = leaseUntil.getTime() - timeoutMs - 2000;
  return new Date(Math.max(latest, Math.min(now.getTime() + 1000, leaseUntil.getTime())));
}

type LoadedDestination = DispatchDestination & { fifo: boolean };

export function toWire(d: LoadedDestination): DispatchDestination {
  return {
    id: d.id,
    tenantId: d.tenantId,
    url: d.url,
    method: d.method,
    headers: d.headers,
    timeoutMs: d.timeoutMs,
    format: d.format,
    maxInFlight: d.maxInFlight,
    rateLimitPerSecond: d.rateLimitPerSecond,
    allowPlainHttp: d.allowPlainHttp,
    credentials: d.credentials,
    secrets: d.secrets,
  };
}
