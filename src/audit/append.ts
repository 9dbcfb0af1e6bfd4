/**
 * Appending to a tenant's hash chain (ARCHITECTURE.md section 7). Guards
 * against a lost or forked chain under concurrency: the chain head row is
 * locked FOR UPDATE, so appends to one chain serialize and every seq is used
 * exactly once; and against an entry landing in the wrong chain: the
 * transaction must already be fenced to that chain. The entry commits or
 * rolls back with the change it records.
 */

import { newId, ZenError } from "../core/index.ts";
import { assertFencedTo, type Database, type Tx } from "../db/index.ts";
import { entryHash, GENESIS_HASH, HASH_BYTES } from "./canonical.ts";
import type { AppendedAudit, AuditEntryInput } from "./types.ts";
import { prepareEntry } from "./validate.ts";

interface Head {
  seq: number;
  hash: Buffer;
}

async function lockHead(tx: Tx, chain: string): Promise<Head | undefined> {
  const r = await tx.query<{ seq: number; hash: string }>(
    "select seq, encode(entry_hash, 'hex') as hash from audit_heads where tenant_id = $1 for update",
    [chain],
  );
  const row = r.rows[0];
  if (row === undefined) return undefined;
  const hash = Buffer.from(row.hash, "hex");
  if (!Number.isSafeInteger(row.seq) || row.seq < 0 || hash.length !== HASH_BYTES) {
    throw new ZenError("AUDIT_CHAIN_BROKEN", { details: { chain, at: "head" } });
  }
  return { seq: row.seq, hash };
}

async function lockOrCreateHead(tx: Tx, chain: string): Promise<Head> {
  const found = await lockHead(tx, chain);
  if (found) return found;
  // Two first writers: the loser's insert waits for the winner and does nothing; both then lock the one row.
  await tx.query(
    "insert into audit_heads (tenant_id, seq, entry_hash) values ($1, 0, $2) on conflict (tenant_id) do nothing",
    [chain, GENESIS_HASH],
  );
  const created = await lockHead(tx, chain);
  if (!created) throw new ZenError("INTERNAL", { message: "audit chain head could not be created" });
  return created;
}

// The entry and the advanced head in one statement (one round trip); the head row is already locked.
const INSERT_AND_ADVANCE = `with entry as (
    insert into audit_log (tenant_id, seq, id, occurred_at, actor_type, actor_id, action, outcome,
      target_type, target_id, project_id, correlation_id, ip, details, prev_hash, entry_hash)
    values ($1, $2, $3, $4::timestamptz, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16)
    returning tenant_id)
  update audit_heads set seq = $2, entry_hash = $16 where tenant_id = (select tenant_id from entry)`;

/** Appends in `tx`, which must be a transaction of db.withTenant(entry.tenantId ?? SYSTEM_CHAIN). */
export async function appendAudit(tx: Tx, entry: AuditEntryInput): Promise<AppendedAudit> {
  const e = prepareEntry(entry);
  await assertFencedTo(tx, e.chain, "audit entry written");
  const head = await lockOrCreateHead(tx, e.chain);
  const seq = head.seq + 1;
  const id = newId("audit");
  const hash = entryHash(head.hash, { ...e, tenantId: e.chain, seq, id });
  const updated = await tx.query(INSERT_AND_ADVANCE, [
    e.chain,
    seq,
    id,
    e.occurredAt,
    e.actorType,
    e.actorId,
    e.action,
    e.outcome,
    e.targetType,
    e.targetId,
    e.projectId,
    e.correlationId,
    e.ip,
    JSON.stringify(e.details),
    head.hash,
    hash,
  ]);
  if (updated.rowCount !== 1)
    throw new ZenError("INTERNAL", { message: "audit chain head was not advanced" });
  return { id, seq, hash: hash.toString("hex") };
}

/** Appends in a transaction of its own, for events that change nothing else. */
export function appendAuditIn(db: Database, entry: AuditEntryInput): Promise<AppendedAudit> {
  const chain = prepareEntry(entry).chain;
  return db.withTenant(chain, (tx) => appendAudit(tx, entry));
}
