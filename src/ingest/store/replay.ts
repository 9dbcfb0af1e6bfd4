/**
 * Replay keys: a provider's delivery id and the signature that verified, each
 * remembered for a window per (tenant, source). A key still live means the
 * same delivery came again; a key past its window is re-armed by the next
 * delivery that carries it. Claims go through the primary key, so two
 * concurrent batches with one key serialize and exactly one of them wins.
 */
import { sha256 } from "../../crypto/index.ts";
import type { Tx } from "../../db/index.ts";

// Longer delivery ids are hashed: a btree key must stay well under a page.
const MAX_PLAIN_DELIVERY_ID = 256;

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

const CLAIM = `insert into ingest_replays (tenant_id, source_id, replay_key, event_id, expires_at)
  values ($1, $2, $3, $4, $5)
  on conflict (tenant_id, source_id, replay_key) do update
    set event_id = excluded.event_id, expires_at = excluded.expires_at
    where ingest_replays.expires_at <= $6
  returning replay_key`;

/**
 * Claims every key for `eventId`, or none: true when all were free or
 * expired, false (and nothing claimed) when any is still live.
 */
export async function claimReplayKeys(
  tx: Tx,
  at: { tenantId: string; sourceId: string; now: Date; expiresAt: Date },
  keys: readonly string[],
  eventId: string,
): Promise<boolean> {
  const claimed: string[] = [];
  for (const key of keys) {
    const r = await tx.query(CLAIM, [at.tenantId, at.sourceId, key, eventId, at.expiresAt, at.now]);
    if (r.rows.length === 1) {
      claimed.push(key);
      continue;
    }
    if (claimed.length > 0) {
      await tx.query(
        `delete from ingest_replays
          where tenant_id = $1 and source_id = $2 and replay_key = any($3::text[]) and event_id = $4`,
        [at.tenantId, at.sourceId, claimed, eventId],
      );
    }
    return false;
  }
  return true;
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
