/**
 * The deduplication fingerprint: HMAC-SHA256 under the tenant's fingerprint
 * key, never a bare content hash, so equal bodies cannot be linked across
 * tenants and a database reader cannot confirm a guessed payload. Rotating
 * the key (a new version) deliberately breaks the link to older events.
 *
 * What it covers: the source, the normalised media type (lower-case
 * type/subtype, parameters dropped, so `application/json; v=1` is not a new
 * event), the data, and the event's identity when there is one (a digest of
 * a CloudEvent's source, id, type and subject, or of a provider's signed
 * delivery id), so two events with the same data are two events.
 */
import { hmacSha256, sha256 } from "../../crypto/index.ts";
import type { Tx } from "../../db/index.ts";
import { essence } from "../cloudevents/index.ts";

/**
 * Unambiguous: a source id and a media type hold no newline, and the digests are fixed-length hex.
 * Without an identity the input is what it was before identities, so older events still match.
 */
export function fingerprintInput(
  sourceId: string,
  contentType: string | null,
  body: Uint8Array,
  identity: string | null = null,
): string {
  const base = `${sourceId}\n${contentType === null ? "" : essence(contentType)}\n${sha256(body).toString("hex")}`;
  return identity === null ? base : `${base}\n${identity}`;
}

export function fingerprint(
  key: Uint8Array,
  sourceId: string,
  contentType: string | null,
  body: Uint8Array,
  identity: string | null = null,
): Buffer {
  return hmacSha256(key, fingerprintInput(sourceId, contentType, body, identity));
}

/**
 * Serializes concurrent batches that carry the same fingerprint, so two of
 * them cannot both store it. Locks are taken in sorted order, so two batches
 * never wait on each other in a cycle.
 */
export async function lockFingerprints(tx: Tx, fps: readonly Buffer[]): Promise<void> {
  const keys = [...new Set(fps.map((fp) => fp.readBigInt64BE(0).toString()))].sort();
  if (keys.length === 0) return;
  // One round trip; taken in sorted order, so two batches sharing keys cannot deadlock.
  await tx.query("select pg_advisory_xact_lock(k) from unnest($1::bigint[]) as k order by k", [keys]);
}

/**
 * One index probe per fingerprint (events_fingerprint), whatever the table's
 * size or statistics (the embedded database may not have any yet). The fingerprints are decoded
 * before the join: Row Level Security lets only leakproof conditions into an
 * index scan, and decode() is not, so `fingerprint = decode(…)` read every
 * row of the tenant. Parameters: tenant, fingerprints (hex), key version, since.
 */
export const DUPLICATES_SQL = `with f as materialized (select h, decode(h, 'hex') as fp from unnest($2::text[]) as h)
  select f.h as fp, e.id from f
    cross join lateral (
      select id from events
       where tenant_id = $1 and fingerprint = f.fp
         and fingerprint_version = $3 and received_at >= $4
       order by received_at, id limit 1) e`;

/** For each fingerprint (hex) that has one, the earliest event under this key version since `since`. */
export async function findDuplicates(
  tx: Tx,
  tenantId: string,
  fps: readonly Buffer[],
  version: number,
  since: Date,
): Promise<Map<string, string>> {
  if (fps.length === 0) return new Map();
  const r = await tx.query<{ fp: string; id: string }>(DUPLICATES_SQL, [
    tenantId,
    [...new Set(fps.map((fp) => fp.toString("hex")))],
    version,
    since,
  ]);
  return new Map(r.rows.map((row) => [row.fp, row.id]));
}
