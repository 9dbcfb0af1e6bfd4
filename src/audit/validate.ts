/**
 * Admission of an audit entry. The log is evidence, so what goes in must be
 * exactly what comes back out of the database (or the chain would not verify)
 * and must stay metadata: details are a bounded map of scalars under
 * snake_case keys, and keys that name a secret are refused outright.
 * A bad entry is a bug in the caller, so it fails closed with INTERNAL and the
 * write it records rolls back with it.
 */
import { isIP } from "node:net";
import { type Actor, actorId, ZenError } from "../core/index.ts";
import { type AuditDetailValue, type AuditEntryInput, type AuditOutcome, SYSTEM_CHAIN } from "./types.ts";

export const MAX_DETAIL_KEYS = 32;
export const MAX_DETAIL_STRING = 512;
const DETAIL_KEY = /^[a-z][a-z0-9_]{0,63}$/;
// Keys ending in these words would hold the secret itself; an id or a version of one is fine.
const SECRET_KEY =
  /(^|_)(password|passwd|passphrase|secret|token|cookie|authorization|credential|private_key|raw_key|plaintext)$/;
const ACTION = /^[a-z][a-z0-9_]{0,63}(\.[a-z][a-z0-9_]{0,63}){0,3}$/;
const TARGET_TYPE = /^[a-z][a-z0-9_]{0,63}$/;
const CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;
const OUTCOMES: ReadonlySet<string> = new Set<AuditOutcome>(["success", "failure", "denied"]);
const ACTOR_TYPES: ReadonlySet<string> = new Set<Actor["type"]>([
  "user",
  "api_key",
  "workload",
  "operator",
  "anonymous",
]);
const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** An entry ready to chain: every field in its stored form. */
export interface PreparedEntry {
  chain: string;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  action: string;
  outcome: AuditOutcome;
  targetType: string | null;
  targetId: string | null;
  projectId: string | null;
  correlationId: string;
  ip: string | null;
  details: Record<string, AuditDetailValue>;
}

function invalid(field: string, why: string): never {
  throw new ZenError("INTERNAL", {
    message: `invalid audit entry: ${field} ${why}`,
    details: { field },
  });
}

function identifier(field: string, value: unknown, max: number): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    invalid(field, `must be a string of 1..${max} characters`);
  }
  if (CONTROL.test(value) || !value.isWellFormed())
    invalid(field, "has control characters or lone surrogates");
  return value;
}

function optionalIdentifier(field: string, value: unknown, max: number): string | null {
  return value === undefined ? null : identifier(field, value, max);
}

function chainOf(tenantId: unknown): string {
  if (tenantId === null) return SYSTEM_CHAIN;
  const id = identifier("tenantId", tenantId, 128);
  // The system chain is named by null, so no tenant can write into it by name.
  if (id === SYSTEM_CHAIN) invalid("tenantId", "must be null for the system chain");
  return id;
}

function occurredAt(at: unknown): string {
  const date = at === undefined ? new Date() : at;
  if (!(date instanceof Date)) invalid("at", "must be a Date");
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms < MIN_TIME || ms > MAX_TIME) invalid("at", "is out of range");
  return date.toISOString();
}

function truncate(s: string): string {
  if (s.length <= MAX_DETAIL_STRING) return s;
  const cut = s.slice(0, MAX_DETAIL_STRING);
  const last = cut.charCodeAt(cut.length - 1);
  // Never split a surrogate pair: half of one does not survive the database.
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

function detailValue(key: string, value: unknown): AuditDetailValue {
  const field = `details.${key}`;
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) invalid(field, "must be a finite number");
    // -0 stores as 0; normalize so the hash covers the stored value.
    return value === 0 ? 0 : value;
  }
  if (typeof value === "string") {
    // jsonb refuses U+0000 and the database cannot store a lone surrogate.
    if (value.includes("\u0000") || !value.isWellFormed()) invalid(field, "has NUL or lone surrogates");
    return truncate(value);
  }
  return invalid(field, "must be a string, number, boolean or null");
}

export function validateDetails(details: unknown): Record<string, AuditDetailValue> {
  if (details === undefined) return {};
  if (typeof details !== "object" || details === null || Array.isArray(details)) {
    invalid("details", "must be an object");
  }
  const proto = Object.getPrototypeOf(details);
  if (proto !== Object.prototype && proto !== null) invalid("details", "must be a plain object");
  const keys = Object.keys(details);
  if (keys.length > MAX_DETAIL_KEYS) invalid("details", `has more than ${MAX_DETAIL_KEYS} keys`);
  const out: Record<string, AuditDetailValue> = {};
  for (const key of keys) {
    if (!DETAIL_KEY.test(key)) invalid("details", "has a key that is not snake_case (max 64)");
    if (SECRET_KEY.test(key)) invalid(`details.${key}`, "names a secret; details are metadata only");
    out[key] = detailValue(key, (details as Record<string, unknown>)[key]);
  }
  return out;
}

function actorFields(actor: unknown): { actorType: string; actorId: string | null } {
  if (typeof actor !== "object" || actor === null) invalid("actor", "must be an object");
  const type = (actor as { type?: unknown }).type;
  if (typeof type !== "string" || !ACTOR_TYPES.has(type)) invalid("actor.type", "is unknown");
  const typed = actor as Actor;
  if (typed.type === "anonymous") return { actorType: type, actorId: null };
  return { actorType: type, actorId: identifier("actor.id", actorId(typed), 2048) };
}

export function prepareEntry(entry: AuditEntryInput): PreparedEntry {
  if (typeof entry !== "object" || entry === null) invalid("entry", "must be an object");
  const chain = chainOf(entry.tenantId);
  const { actorType, actorId: actor } = actorFields(entry.actor);
  if (typeof entry.action !== "string" || !ACTION.test(entry.action)) {
    invalid("action", "must be dotted snake_case, e.g. api_key.create");
  }
  if (!OUTCOMES.has(entry.outcome)) invalid("outcome", "must be success, failure or denied");
  let targetType: string | null = null;
  let targetId: string | null = null;
  if (entry.target !== undefined) {
    if (typeof entry.target !== "object" || entry.target === null) invalid("target", "must be an object");
    if (typeof entry.target.type !== "string" || !TARGET_TYPE.test(entry.target.type)) {
      invalid("target.type", "must be snake_case");
    }
    targetType = entry.target.type;
    targetId = identifier("target.id", entry.target.id, 256);
  }
  if (typeof entry.correlationId !== "string" || !CORRELATION_ID.test(entry.correlationId)) {
    invalid("correlationId", "must be 1..128 visible ASCII characters");
  }
  if (
    entry.ip !== undefined &&
    (typeof entry.ip !== "string" || entry.ip.length > 64 || isIP(entry.ip) === 0)
  ) {
    invalid("ip", "must be an IP address");
  }
  return {
    chain,
    occurredAt: occurredAt(entry.at),
    actorType,
    actorId: actor,
    action: entry.action,
    outcome: entry.outcome,
    targetType,
    targetId,
    projectId: optionalIdentifier("projectId", entry.projectId, 256),
    correlationId: entry.correlationId,
    ip: entry.ip ?? null,
    details: validateDetails(entry.details),
  };
}
