/**
 * The bytes an audit entry's hash commits to. Guards against an entry being
 * rewritten, reordered, moved to another chain or dropped without the chain
 * noticing.
 *
 *   entry_hash = SHA-256( prev_hash (32 bytes) || UTF-8( canonical(fields) ) )
 *
 * canonical() is the RFC 8785 JSON Canonicalization Scheme over the values we
 * admit: object keys sorted by UTF-16 code units, no whitespace, strings and
 * numbers serialized as ECMAScript JSON.stringify does (finite numbers only,
 * well-formed strings only). The fields object is
 *
 *   { v: 1, tenant_id, seq, id, occurred_at, actor_type, actor_id, action,
 *     outcome, target_type, target_id, project_id, correlation_id, ip, details }
 *
 * with JSON null for an absent optional, occurred_at as ISO-8601 UTC with
 * milliseconds ("2024-05-01T12:00:00.000Z"), and tenant_id the chain (a tenant
 * id or "_system"), so an entry copied into another chain does not verify.
 * prev_hash of the first entry is 32 zero bytes. Being self-delimiting JSON
 * behind a fixed-length prefix, the encoding is unambiguous.
 */
import { createHash } from "node:crypto";
import { ZenError } from "../core/index.ts";

export const HASH_BYTES = 32;
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);
export const CANONICAL_VERSION = 1;

/** The stored fields an entry hash covers, in their stored form. */
export interface HashedFields {
  tenantId: string;
  seq: number;
  id: string;
  /** ISO-8601 UTC with milliseconds, exactly as hashed. */
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  action: string;
  outcome: string;
  targetType: string | null;
  targetId: string | null;
  projectId: string | null;
  correlationId: string;
  ip: string | null;
  details: unknown;
}

function fail(message: string): never {
  throw new ZenError("INTERNAL", { message: `audit canonical encoding: ${message}` });
}

export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) fail("non-finite number");
      return JSON.stringify(value);
    case "string":
      if (!value.isWellFormed()) fail("string with a lone surrogate");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) fail("not a plain object");
      const obj = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(obj).sort()) {
        // JSON.stringify would silently drop it, so the hash would not cover what the caller passed.
        if (obj[key] === undefined) fail("undefined value");
        parts.push(`${canonicalJson(key)}:${canonicalJson(obj[key])}`);
      }
      return `{${parts.join(",")}}`;
    }
    default:
      return fail(`unsupported ${typeof value}`);
  }
}

export function canonicalEntry(f: HashedFields): string {
  return canonicalJson({
    v: CANONICAL_VERSION,
    tenant_id: f.tenantId,
    seq: f.seq,
    id: f.id,
    occurred_at: f.occurredAt,
    actor_type: f.actorType,
    actor_id: f.actorId,
    action: f.action,
    outcome: f.outcome,
    target_type: f.targetType,
    target_id: f.targetId,
    project_id: f.projectId,
    correlation_id: f.correlationId,
    ip: f.ip,
    details: f.details,
  });
}

export function entryHash(prevHash: Uint8Array, fields: HashedFields): Buffer {
  if (prevHash.length !== HASH_BYTES) fail("prev_hash must be 32 bytes");
  return createHash("sha256").update(prevHash).update(canonicalEntry(fields), "utf8").digest();
}
