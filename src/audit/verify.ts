/**
 * Verifying a chain from its stored rows (ARCHITECTURE.md section 7). Guards
 * against edits, deletions, insertions and reordering by anyone who can write
 * the table directly: every hash is recomputed from the stored fields, every
 * prev link and seq step is checked, and the head must name the last entry.
 *
 * The head and the highest seq are read in one statement (one snapshot);
 * appends commit the head and their entry together, so in that snapshot no
 * entry lies beyond the head. Entries are then read in pages of their own
 * short transactions up to that head, so a long chain is never held in memory
 * or in one long-running transaction, and concurrent appends do not disturb it.
 */
import type { Database } from "../db/index.ts";
import { entryHash, GENESIS_HASH } from "./canonical.ts";
import { hashedFields, RECORD_COLUMNS, type RecordRow, toRecord } from "./records.ts";
import { type AuditRecord, type AuditVerification, SYSTEM_CHAIN } from "./types.ts";

export const VERIFY_PAGE_SIZE = 500;

interface HeadSnapshot {
  headSeq: number;
  headHash: string;
  maxSeq: number;
}

async function readHead(db: Database, chain: string): Promise<HeadSnapshot> {
  const r = await db.withTenant(chain, (tx) =>
    tx.query<{ head_seq: number | null; head_hash: string | null; max_seq: number | null }>(
      `select (select seq from audit_heads where tenant_id = $1) as head_seq,
              (select encode(entry_hash, 'hex') from audit_heads where tenant_id = $1) as head_hash,
              (select max(seq) from audit_log where tenant_id = $1) as max_seq`,
      [chain],
    ),
  );
  const row = r.rows[0];
  return {
    headSeq: Number(row?.head_seq ?? 0),
    headHash: row?.head_hash ?? GENESIS_HASH.toString("hex"),
    maxSeq: Number(row?.max_seq ?? 0),
  };
}

async function readPage(db: Database, chain: string, afterSeq: number, upTo: number): Promise<AuditRecord[]> {
  const r = await db.withTenant(chain, (tx) =>
    tx.query<RecordRow>(
      `select ${RECORD_COLUMNS} from audit_log
        where tenant_id = $1 and seq > $2 and seq <= $3 order by seq limit $4`,
      [chain, afterSeq, upTo, VERIFY_PAGE_SIZE],
    ),
  );
  return r.rows.map(toRecord);
}

function recompute(entry: AuditRecord): string | undefined {
  try {
    return entryHash(Buffer.from(entry.prevHash, "hex"), hashedFields(entry)).toString("hex");
  } catch {
    // A stored value with no canonical form (e.g. a number beyond a double) was not written by appendAudit.
    return undefined;
  }
}

/** Walks the chain in order, calling `visit` for each entry that verifies; stops at the first break. */
export async function walkAuditChain(
  db: Database,
  tenantId: string | null,
  visit?: (entry: AuditRecord) => void,
): Promise<AuditVerification> {
  const chain = tenantId ?? SYSTEM_CHAIN;
  const head = await readHead(db, chain);
  let seq = 0;
  let prev = GENESIS_HASH.toString("hex");
  for (;;) {
    const page = await readPage(db, chain, seq, head.headSeq);
    for (const entry of page) {
      if (entry.tenantId !== chain || entry.seq !== seq + 1) {
        return { ok: false, brokenAt: seq + 1, reason: "seq_gap" };
      }
      if (entry.prevHash !== prev) return { ok: false, brokenAt: entry.seq, reason: "prev_mismatch" };
      if (recompute(entry) !== entry.entryHash) {
        return { ok: false, brokenAt: entry.seq, reason: "hash_mismatch" };
      }
      visit?.(entry);
      seq = entry.seq;
      prev = entry.entryHash;
    }
    if (page.length < VERIFY_PAGE_SIZE) break;
  }
  // A missing tail is the same break as a missing middle: the seq where entries stop.
  if (seq < head.headSeq) return { ok: false, brokenAt: seq + 1, reason: "seq_gap" };
  if (prev !== head.headHash) return { ok: false, brokenAt: head.headSeq, reason: "head_mismatch" };
  if (head.maxSeq > head.headSeq) return { ok: false, brokenAt: head.headSeq + 1, reason: "head_mismatch" };
  return { ok: true, count: seq, headHash: prev };
}

export function verifyAuditChain(db: Database, tenantId: string | null): Promise<AuditVerification> {
  return walkAuditChain(db, tenantId);
}
