/**
 * Reading entries back in exactly the form they were hashed. The database
 * formats the timestamp and the hashes itself, so the two drivers (which
 * parse timestamptz and bytea differently) read identical values.
 */
import type { HashedFields } from "./canonical.ts";
import type { AuditRecord } from "./types.ts";

// Microseconds are read too: a stored value with any below the millisecond was not written by appendAudit.
export const RECORD_COLUMNS = `tenant_id, seq, id,
  to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as occurred_at,
  actor_type, actor_id, action, outcome, target_type, target_id, project_id, correlation_id, ip,
  details::text as details, encode(prev_hash, 'hex') as prev_hash, encode(entry_hash, 'hex') as entry_hash`;

export interface RecordRow {
  tenant_id: string;
  seq: number;
  id: string;
  occurred_at: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  outcome: string;
  target_type: string | null;
  target_id: string | null;
  project_id: string | null;
  correlation_id: string;
  ip: string | null;
  details: string;
  prev_hash: string;
  entry_hash: string;
}

const WHOLE_MS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})000$/;

function isoMillis(stored: string): string {
  const m = WHOLE_MS.exec(stored);
  // Anything else keeps its raw form, which no hashed value can equal.
  return m?.[1] === undefined ? stored : `${m[1]}Z`;
}

export function toRecord(row: RecordRow): AuditRecord {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    id: row.id,
    occurredAt: isoMillis(row.occurred_at),
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    outcome: row.outcome,
    targetType: row.target_type,
    targetId: row.target_id,
    projectId: row.project_id,
    correlationId: row.correlation_id,
    ip: row.ip,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prev_hash,
    entryHash: row.entry_hash,
  };
}

export function hashedFields(r: AuditRecord): HashedFields {
  return {
    tenantId: r.tenantId,
    seq: r.seq,
    id: r.id,
    occurredAt: r.occurredAt,
    actorType: r.actorType,
    actorId: r.actorId,
    action: r.action,
    outcome: r.outcome,
    targetType: r.targetType,
    targetId: r.targetId,
    projectId: r.projectId,
    correlationId: r.correlationId,
    ip: r.ip,
    details: r.details,
  };
}
