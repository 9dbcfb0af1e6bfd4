/**
 * Replay keys: a provider's delivery id and the signature that verified, each
 * remembered for a window per (tenant, source). A key still live means the
 * same delivery came again; a key past its window is re-armed by the next
 * delivery that carries it. Claims go through the primary key, so two
 * concurrent batches with one key serialize and exactly one of them wins.
 *
 * A signature that covers no timestamp (GitHub, Shopify, GitLab tokens,
 * generic HMAC without a timestamp header) verifies forever, so it is
 * remembered for the whole dedupe window, and a request carrying it is the
 * event it first made: it is answered with that event's id, never stored
 * again, whatever unsigned headers came with it.
 */
import { sha256 } from "../../crypto/index.ts";
import type { Tx } from "../../db/index.ts";

// Longer delivery ids are hashed: a btree key must stay well under a page.
const MAX_PLAIN_DELIVERY_ID = 256;

/** A signature's key (`s:`), as opposed to a delivery id's. */
export const isSignatureKey = (key: string): boolean => key.startsWith("s:");

/** Both kinds of key, prefixed so a delivery id can never collide with a signature. */
export function replayKeys(item: { deliveryId: string | null; signature: string | null }): string[] {
  const keys: string[] = [];
  if (item.deliveryId !== null) {
    keys.push(
      item.deliveryId.length <= MAX_PLAIN_DELIVERY_ID
        ? `d:${item.deliveryId}`
        : `dh:${sha256(item.deliveryId).toString("hex")}`,
    );
  }
  // Hashed: signatures can be long, and the key only needs to be equal for equal signatures.
  if (item.signature !== null) keys.push(`s:${sha256(item.signature).toString("hex")}`);
  return keys;
}

export interface ReplayKey {
  key: string;
  expiresAt: Date;
  /** A live holder of this key makes the claim its event again (answered with its id), not a replay. */
  isFirstEvent: boolean;
}

export interface ReplayClaim {
  sourceId: string;
  keys: readonly ReplayKey[];
  eventId: string;
}

/** Won; or lost, naming the first event when a key that answers with it was held. */
export type ClaimOutcome = { won: true } | { won: false; firstEventId?: string };

/**
 * Claims every claim's keys in one statement; a claim succeeds only if all
 * its keys were free (or expired). A claim that loses any key gives back the
 * ones it took. A key that two claims of the batch share goes to the earlier
 * one, and the later is refused even if the earlier fails on another key:
 * two requests in one batch carrying one delivery id or one signature are
 * not both let through. A claim lost on an `isFirstEvent` key names the
 * event its holder made (the earlier claim's, if that one won).
 */
export async function claimReplayKeysBatch(
  tx: Tx,
  tenantId: string,
  now: Date,
  claims: readonly ReplayClaim[],
): Promise<ClaimOutcome[]> {
  const ok = claims.map(() => true);
  // Per claim lost on an isFirstEvent key: the earlier claim of the batch holding it, or the stored event.
  const heldBy = new Map<number, { claim: number } | { eventId: string }>();
  const taken = new Map<string, number>();
  const rows: { claim: number; sourceId: string; key: ReplayKey }[] = [];
  claims.forEach((c, i) => {
    const mine = c.keys.map((k) => `${c.sourceId}\n${k.key}`);
    const clash = mine.findIndex((k) => taken.has(k));
    if (clash >= 0) {
      ok[i] = false;
      const first = c.keys.findIndex((k, j) => k.isFirstEvent && taken.has(mine[j]!));
      if (first >= 0) heldBy.set(i, { claim: taken.get(mine[first]!)! });
      return;
    }
    for (const [j, k] of mine.entries()) {
      taken.set(k, i);
      rows.push({ claim: i, sourceId: c.sourceId, key: c.keys[j]! });
    }
  });
  const outcomes = (): ClaimOutcome[] =>
    ok.map((won, i) => {
      if (won) return { won: true };
      const h = heldBy.get(i);
      if (h === undefined) return { won: false };
      if ("eventId" in h) return { won: false, firstEventId: h.eventId };
      return ok[h.claim] ? { won: false, firstEventId: claims[h.claim]!.eventId } : { won: false };
    });
  if (rows.length === 0) return outcomes();
  const r = await tx.query<{ source_id: string; replay_key: string }>(
    `insert into ingest_replays (tenant_id, source_id, replay_key, event_id, expires_at)
     select $1, t.source_id, t.replay_key, t.event_id, t.expires_at
       from unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) as t(source_id, replay_key, event_id, expires_at)
     on conflict (tenant_id, source_id, replay_key) do update
       set event_id = excluded.event_id, expires_at = excluded.expires_at
       where ingest_replays.expires_at <= $6
     returning source_id, replay_key`,
    [
      tenantId,
      rows.map((x) => x.sourceId),
      rows.map((x) => x.key.key),
      rows.map((x) => claims[x.claim]!.eventId),
      rows.map((x) => x.key.expiresAt),
      now,
    ],
  );
  const won = new Set(r.rows.map((x) => `${x.source_id}\n${x.replay_key}`));
  const lost = rows.filter((x) => !won.has(`${x.sourceId}\n${x.key.key}`));
  for (const x of lost) ok[x.claim] = false;
  await findFirstEvents(
    tx,
    tenantId,
    lost.filter((x) => x.key.isFirstEvent),
    heldBy,
  );
  const giveBack = rows.filter((x) => !ok[x.claim] && won.has(`${x.sourceId}\n${x.key.key}`));
  if (giveBack.length > 0) {
    await tx.query(
      `delete from ingest_replays r using unnest($2::text[], $3::text[], $4::text[]) as t(source_id, replay_key, event_id)
        where r.tenant_id = $1 and r.source_id = t.source_id and r.replay_key = t.replay_key and r.event_id = t.event_id`,
      [
        tenantId,
        giveBack.map((x) => x.sourceId),
        giveBack.map((x) => x.key.key),
        giveBack.map((x) => claims[x.claim]!.eventId),
      ],
    );
  }
  return outcomes();
}

/** The events that live holders of these lost keys made; one query, and only when such a key was lost. */
async function findFirstEvents(
  tx: Tx,
  tenantId: string,
  lost: readonly { claim: number; sourceId: string; key: ReplayKey }[],
  heldBy: Map<number, { claim: number } | { eventId: string }>,
): Promise<void> {
  if (lost.length === 0) return;
  const r = await tx.query<{ source_id: string; replay_key: string; event_id: string }>(
    `select r.source_id, r.replay_key, r.event_id from ingest_replays r
       join unnest($2::text[], $3::text[]) as t(source_id, replay_key)
         on r.source_id = t.source_id and r.replay_key = t.replay_key
      where r.tenant_id = $1`,
    [tenantId, lost.map((x) => x.sourceId), lost.map((x) => x.key.key)],
  );
  const holders = new Map(r.rows.map((x) => [`${x.source_id}\n${x.replay_key}`, x.event_id]));
  for (const x of lost) {
    const eventId = holders.get(`${x.sourceId}\n${x.key.key}`);
    if (eventId !== undefined && !heldBy.has(x.claim)) heldBy.set(x.claim, { eventId });
  }
}

/** Deletes up to `limit` expired keys of the tenant, skipping any another batch holds; returns how many. */
export async function sweepExpiredReplays(tx: Tx, tenantId: string, now: Date, limit = 500): Promise<number> {
  const r = await tx.query(
    `delete from ingest_replays where (tenant_id, source_id, replay_key) in (
       select tenant_id, source_id, replay_key from ingest_replays
        where tenant_id = $1 and expires_at <= $2 limit $3 for update skip locked)`,
    [tenantId, now, limit],
  );
  return r.rowCount;
}
