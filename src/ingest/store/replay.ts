/**
 * Replay keys: a provider's delivery id, its idempotency key (the event's own
 * id, the same on every retry) and the signature that verified, each
 * remembered for a window per (tenant, source). A key still live means the
 * same delivery came again; a key past its window is re-armed by the next
 * delivery that carries it. Claims go through the primary key, so two
 * concurrent batches with one key serialize and exactly one of them wins.
 *
 * A live key held by the very event the request would make (same
 * fingerprint: same source, media type, data and signed identity) is a
 * redelivery: answered with that event's id, nothing stored. A live key held
 * by another event is a replay, refused: a reused delivery id or idempotency
 * key cannot carry a different body.
 *
 * A signature that covers no timestamp (GitHub, Shopify, GitLab tokens,
 * generic HMAC without a timestamp header) verifies forever, so it is
 * remembered for the whole dedupe window, and a request carrying it is the
 * event it first made: it is answered with that event's id, never stored
 * again, whatever unsigned headers came with it. An idempotency key is
 * remembered for the dedupe window too.
 */
import { sha256 } from "../../crypto/index.ts";
import type { Tx } from "../../db/index.ts";

// Longer delivery ids are hashed: a btree key must stay well under a page.
const MAX_PLAIN_DELIVERY_ID = 256;

/** A signature's key (`s:`), as opposed to a delivery id's or an idempotency key's. */
export const isSignatureKey = (key: string): boolean => key.startsWith("s:");

/** An idempotency key's key (`i:`): it stays the first event's for the whole dedupe window. */
export const isIdempotencyKey = (key: string): boolean => key.startsWith("i:");

const idKey = (prefix: string, id: string): string =>
  id.length <= MAX_PLAIN_DELIVERY_ID ? `${prefix}:${id}` : `${prefix}h:${sha256(id).toString("hex")}`;

/**
 * Every kind of key, prefixed so a delivery id, an idempotency key and a
 * signature can never collide. A delivery id that is also the idempotency key
 * (GitHub's, Standard Webhooks') is one key, the idempotency key's.
 */
export function replayKeys(item: {
  deliveryId: string | null;
  signature: string | null;
  idempotencyKey?: string | null;
}): string[] {
  const keys: string[] = [];
  const idempotencyKey = item.idempotencyKey ?? null;
  if (item.deliveryId !== null && item.deliveryId !== idempotencyKey) keys.push(idKey("d", item.deliveryId));
  if (idempotencyKey !== null) keys.push(idKey("i", idempotencyKey));
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
  /**
   * The event the claim would make: the earlier event with its fingerprint
   * when there is one, so a key held by this very id means "the same event
   * again" (a provider's retry), not a replay.
   */
  eventId: string;
}

/** Won; or lost, naming the first event when the claim is that event again. */
export type ClaimOutcome = { won: true } | { won: false; firstEventId?: string };

/** Who holds a key a claim lost: an earlier claim of the batch, or a stored event (unknown if it is gone). */
type Holder = { firstEvent: boolean } & ({ claim: number } | { eventId: string | undefined });

/**
 * Claims every claim's keys in one statement; a claim succeeds only if all
 * its keys were free (or expired). A claim that loses any key gives back the
 * ones it took. A key that two claims of the batch share goes to the earlier
 * one, and the later is refused even if the earlier fails on another key:
 * two requests in one batch carrying one key are not both let through.
 *
 * A lost claim names a first event (and is answered with its id, storing
 * nothing) when it lost an `isFirstEvent` key, or when every key it lost is
 * held by its own event id: the same delivery id, idempotency key or
 * signature with the same fingerprint as the event that holds it is that
 * event delivered again. Any other loss is a replay: a reused key with a
 * different body is refused.
 */
export async function claimReplayKeysBatch(
  tx: Tx,
  tenantId: string,
  now: Date,
  claims: readonly ReplayClaim[],
): Promise<ClaimOutcome[]> {
  const ok = claims.map(() => true);
  const lostTo = new Map<number, Holder[]>();
  const loses = (claim: number, holder: Holder) => lostTo.set(claim, [...(lostTo.get(claim) ?? []), holder]);
  const taken = new Map<string, number>();
  const rows: { claim: number; sourceId: string; key: ReplayKey }[] = [];
  claims.forEach((c, i) => {
    const mine = c.keys.map((k) => `${c.sourceId}\n${k.key}`);
    if (!mine.some((k) => taken.has(k))) {
      for (const [j, k] of mine.entries()) {
        taken.set(k, i);
        rows.push({ claim: i, sourceId: c.sourceId, key: c.keys[j]! });
      }
      return;
    }
    ok[i] = false;
    for (const [j, k] of mine.entries()) {
      const holder = taken.get(k);
      if (holder !== undefined) loses(i, { claim: holder, firstEvent: c.keys[j]!.isFirstEvent });
    }
  });
  const eventOf = (h: Holder): string | undefined =>
    "claim" in h ? (ok[h.claim] ? claims[h.claim]!.eventId : undefined) : h.eventId;
  const outcomes = (): ClaimOutcome[] =>
    ok.map((won, i) => {
      if (won) return { won: true };
      const holders = lostTo.get(i) ?? [];
      const first = holders.find((h) => h.firstEvent);
      if (first !== undefined) {
        const eventId = eventOf(first);
        return eventId === undefined ? { won: false } : { won: false, firstEventId: eventId };
      }
      const own = claims[i]!.eventId;
      return holders.length > 0 && holders.every((h) => eventOf(h) === own)
        ? { won: false, firstEventId: own }
        : { won: false };
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
  const holders = await holdersOf(tx, tenantId, lost);
  for (const x of lost) {
    loses(x.claim, { eventId: holders.get(`${x.sourceId}\n${x.key.key}`), firstEvent: x.key.isFirstEvent });
  }
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

/** The events holding these lost keys, by "source\nkey"; one query, and only when a key was lost. */
async function holdersOf(
  tx: Tx,
  tenantId: string,
  lost: readonly { sourceId: string; key: ReplayKey }[],
): Promise<Map<string, string>> {
  if (lost.length === 0) return new Map();
  const r = await tx.query<{ source_id: string; replay_key: string; event_id: string }>(
    `select r.source_id, r.replay_key, r.event_id from ingest_replays r
       join unnest($2::text[], $3::text[]) as t(source_id, replay_key)
         on r.source_id = t.source_id and r.replay_key = t.replay_key
      where r.tenant_id = $1`,
    [tenantId, lost.map((x) => x.sourceId), lost.map((x) => x.key.key)],
  );
  return new Map(r.rows.map((x) => [`${x.source_id}\n${x.replay_key}`, x.event_id]));
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
