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

export interface ReplayClaim {
  sourceId: string;
  keys: readonly string[];
  eventId: string;
  expiresAt: Date;
}

/**
 * Claims every claim's keys in one statement; a claim succeeds only if all
 * its keys were free (or expired). A claim that loses any key gives back the
 * ones it took. A key that two claims of the batch share goes to the earlier
 * one, and the later is refused even if the earlier fails on another key:
 * two requests in one batch carrying one delivery id or one signature are
 * not both let through.
 */
export async function claimReplayKeysBatch(
  tx: Tx,
  tenantId: string,
  now: Date,
  claims: readonly ReplayClaim[],
): Promise<boolean[]> {
  const ok = claims.map(() => true);
  const taken = new Set<string>();
  const rows: { claim: number; sourceId: string; key: string }[] = [];
  claims.forEach((c, i) => {
    const mine = c.keys.map((k) => `${c.sourceId}\n${k}`);
    if (mine.some((k) => taken.has(k))) {
      ok[i] = false;
      return;
    }
    for (const [j, k] of mine.entries()) {
      taken.add(k);
      rows.push({ claim: i, sourceId: c.sourceId, key: c.keys[j]! });
    }
  });
  if (rows.length === 0) return ok;
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
      rows.map((x) => x.key),
      rows.map((x) => claims[x.claim]!.eventId),
      rows.map((x) => claims[x.claim]!.expiresAt),
      now,
    ],
  );
  const won = new Set(r.rows.map((x) => `${x.source_id}\n${x.replay_key}`));
  for (const x of rows) if (!won.has(`${x.sourceId}\n${x.key}`)) ok[x.claim] = false;
  const giveBack = rows.filter((x) => !ok[x.claim] && won.has(`${x.sourceId}\n${x.key}`));
  if (giveBack.length > 0) {
    await tx.query(
      `delete from ingest_replays r using unnest($2::text[], $3::text[], $4::text[]) as t(source_id, replay_key, event_id)
        where r.tenant_id = $1 and r.source_id = t.source_id and r.replay_key = t.replay_key and r.event_id = t.event_id`,
      [
        tenantId,
        giveBack.map((x) => x.sourceId),
        giveBack.map((x) => x.key),
        giveBack.map((x) => claims[x.claim]!.eventId),
      ],
    );
  }
  return ok;
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
