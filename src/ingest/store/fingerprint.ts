/**
 * The deduplication fingerprint: HMAC-SHA256 under the tenant's fingerprint
 * key, never a bare content hash, so equal bodies cannot be linked across
 * tenants and a database reader cannot confirm a guessed payload. Rotating
 * the key (a new version) deliberately breaks the link to older events.
 */
import { hmacSha256, sha256 } from "../../crypto/index.ts";
import type { Tx } from "../../db/index.ts";

/** Unambiguous: a source id and a media type hold no newline, and the digest is fixed-length hex. */
export function fingerprintInput(sourceId: string, contentType: string | null, body: Uint8Array): string {
  return `${sourceId}\n${contentType ?? ""}\n${sha256(body).toString("hex")}`;
}

export function fingerprint(
  key: Uint8Array,
  sourceId: string,
  contentType: string | null,
  body: Uint8Array,
): Buffer {
  return hmacSha256(key, fingerprintInput(sourceId, contentType, body));
}

/** The earliest event with this fingerprint under this key version, received since `since`. */
export async function findDuplicate(
  tx: Tx,
  tenantId: string,
  fp: Buffer,
  version: number,
  since: Date,
): Promise<string | undefined> {
  const r = await tx.query<{ id: string }>(
    `select id from events
      where tenant_id = $1 and fingerprint = $2 and fingerprint_version = $3 and received_at >= $4
      order by received_at, id limit 1`,
    [tenantId, fp, version, since],
  );
  return r.rows[0]?.id;
}

/**
 * Serializes concurrent batches that carry the same fingerprint, so two of
 * them cannot both store it. Locks are taken in sorted order, so two batches
 * never wait on each other in a cycle.
 */
export async function lockFingerprints(tx: Tx, fps: readonly Buffer[]): Promise<void> {
  const keys = [...new Set(fps.map((fp) => fp.readBigInt64BE(0).toString()))].sort();
  for (const key of keys) await tx.query("select pg_advisory_xact_lock($1::bigint)", [key]);
}
