/**
 * Turns claimed queue entries into what egress needs for the attempts: the
 * events (payload opened from its seal, in the tenant's own transaction),
 * the destinations (secrets still boxed for egress), and one job per claim.
 * A claim whose delivery can no longer go (destination disabled or deleted,
 * delivery already finished) is settled here instead of being sent.
 */
import type { Database } from "../../db/index.ts";
import { EVENT_COLUMNS, type EventRow, envelopeOf } from "../../ingest/events/view.ts";
import type { ZenLock } from "../../zenlock/index.ts";
import { loadDestinationsForDispatch } from "../destinations/index.ts";
import { type DispatchBatch, emptyBatch } from "../types.ts";
import { startBy, toWire } from "./expand.ts";
import type { Claim, DeliveryQueue } from "./queue.ts";

export interface DispatchDeps {
  db: Database;
  zenlock: ZenLock;
  queue: DeliveryQueue;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  destination_id: string;
  status: string;
}

/** One tenant's claims as a batch; deliveries that cannot go are dead-lettered or dropped from the queue. */
export async function buildDispatch(
  deps: DispatchDeps,
  tenantId: string,
  claims: readonly Claim[],
  now: Date,
): Promise<DispatchBatch> {
  return deps.db.withTenant(tenantId, async (tx) => {
    const batch = emptyBatch();
    const ids = claims.map((c) => c.deliveryId);
    const rows = await tx.query<DeliveryRow>(
      "select id, event_id, destination_id, status from deliveries where tenant_id = $1 and id = any($2::text[])",
      [tenantId, ids],
    );
    const byId = new Map(rows.rows.map((r) => [r.id, r]));
    const destinations = await loadDestinationsForDispatch(
      deps,
      tx,
      tenantId,
      [...new Set(rows.rows.map((r) => r.destination_id))],
      now,
    );
    const finished: string[] = [];
    const disabled: string[] = [];
    const live: { claim: Claim; row: DeliveryRow }[] = [];
    for (const claim of claims) {
      const row = byId.get(claim.deliveryId);
      const destination = row ? destinations.get(row.destination_id) : undefined;
      if (row?.status !== "pending") finished.push(claim.deliveryId);
      else if (!destination) finished.push(claim.deliveryId);
      else if (!destination.enabled) disabled.push(claim.deliveryId);
      else live.push({ claim, row });
    }
    if (disabled.length > 0) {
      // Kept in the dead letter queue, so a replay (or auto-replay on re-enable) can bring them back.
      await tx.query(
        `update deliveries set status = 'dead', dead_at = $3, updated_at = $3, last_error = 'destination_disabled'
          where tenant_id = $1 and id = any($2::text[]) and status = 'pending'`,
        [tenantId, disabled, now],
      );
    }
    await deps.queue.remove(tx, [...finished, ...disabled]);
    if (live.length === 0) return batch;

    const eventIds = [...new Set(live.map((l) => l.row.event_id))];
    const events = await tx.query<EventRow & { payload_sealed: string }>(
      `select ${EVENT_COLUMNS}, payload_sealed from events where tenant_id = $1 and id = any($2::text[])`,
      [tenantId, eventIds],
    );
    for (const e of events.rows) {
      const payload = await deps.zenlock.open(
        tx,
        tenantId,
        { table: "events", column: "payload", rowId: e.id },
        e.payload_sealed,
      );
      batch.events[e.id] = { envelope: envelopeOf(e), payload: payload.toString("base64") };
    }
    for (const { claim, row } of live) {
      const destination = destinations.get(row.destination_id)!;
      batch.destinations[destination.id] = toWire(destination);
      batch.jobs.push({
        deliveryId: row.id,
        eventId: row.event_id,
        destinationId: destination.id,
        leaseToken: claim.leaseToken,
        startBy: startBy(claim.leaseUntil, destination.timeoutMs, now).toISOString(),
      });
    }
    return batch;
  });
}
