/**
 * Reading a tenant's audit log, page by page in chain order. Row Level
 * Security fences it to the transaction's tenant; the explicit predicate
 * keeps the scan on the (tenant_id, seq) key.
 */
import { ZenError } from "../core/index.ts";
import type { Tx } from "../db/index.ts";
import { RECORD_COLUMNS, type RecordRow, toRecord } from "./records.ts";
import type { AuditRecord } from "./types.ts";

export const MAX_LIST_LIMIT = 1000;

export interface ListAuditOptions {
  limit: number;
  /** Entries with seq greater than this (keyset pagination); default 0. */
  afterSeq?: number;
  /** Only entries with exactly this action. */
  action?: string;
}

export async function listAudit(tx: Tx, opts: ListAuditOptions): Promise<AuditRecord[]> {
  const { limit, afterSeq = 0, action } = opts;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new ZenError("VALIDATION_FAILED", { message: `limit must be an integer in 1..${MAX_LIST_LIMIT}` });
  }
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
    throw new ZenError("VALIDATION_FAILED", { message: "afterSeq must be a non-negative integer" });
  }
  if (action !== undefined && (typeof action !== "string" || action.length === 0 || action.length > 256)) {
    throw new ZenError("VALIDATION_FAILED", { message: "action must be a string of 1..256 characters" });
  }
  const r = await tx.query<RecordRow>(
    `select ${RECORD_COLUMNS} from audit_log
      where tenant_id = (select zm_fence_tenant())
        and seq > $1::bigint and ($2::text is null or action = $2)
      order by seq limit $3`,
    [afterSeq, action ?? null, limit],
  );
  return r.rows.map(toRecord);
}
