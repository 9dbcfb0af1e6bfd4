import type { Actor } from "../core/index.ts";
import type { HashedFields } from "./canonical.ts";

/** The chain for entries that belong to no tenant (e.g. a failed login for an unknown key). */
export const SYSTEM_CHAIN = "_system";

export type AuditOutcome = "success" | "failure" | "denied";

export type AuditDetailValue = string | number | boolean | null;

export interface AuditEntryInput {
  /** The tenant whose chain records the entry; null for the system chain. */
  tenantId: string | null;
  actor: Actor;
  /** Dotted lower-case verb, e.g. "auth.login", "api_key.create". */
  action: string;
  outcome: AuditOutcome;
  target?: { type: string; id: string };
  projectId?: string;
  correlationId: string;
  ip?: string;
  /** Metadata only, never secrets: scalar values under snake_case keys. */
  details?: Record<string, AuditDetailValue>;
  /** When it happened; defaults to now. Stored and hashed at millisecond precision. */
  at?: Date;
}

export interface AppendedAudit {
  id: string;
  seq: number;
  /** entry_hash, lower-case hex. */
  hash: string;
}

/** An entry as stored: the fields its hash covers, and the links. `tenantId` is the chain: a tenant id or SYSTEM_CHAIN. */
export interface AuditRecord extends HashedFields {
  details: Record<string, unknown>;
  /** Lower-case hex. */
  prevHash: string;
  entryHash: string;
}

export type AuditVerification =
  | { ok: true; count: number; headHash: string }
  | {
      ok: false;
      /** The seq of the first entry that does not verify. */
      brokenAt: number;
      reason: "hash_mismatch" | "prev_mismatch" | "seq_gap" | "head_mismatch";
    };
