/**
 * What every destination action shares: the dependencies, the stored row and
 * its API view (never a credential or a secret, only what kinds are present
 * and which secret versions sign), loading under the tenant fence, the
 * circuit-breaker gate, and the audit entry.
 */
import { type AuditEntryInput, appendAudit } from "../../audit/index.ts";
import { type ActionContext, ZenError } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { TenancyDeps } from "../../tenancy/index.ts";
import type { CredentialKind } from "./credentials.ts";
import type { DESTINATION_FORMATS, DESTINATION_METHODS } from "./input.ts";

export type DeliverDeps = TenancyDeps & {
  /** The egress role's raw X25519 public key; undefined when it is not configured. */
  egressBoxKey: () => Buffer | undefined;
};

export type DestinationMethod = (typeof DESTINATION_METHODS)[number];
export type DestinationFormat = (typeof DESTINATION_FORMATS)[number];
export type GateState = "closed" | "open" | "half_open" | "disabled";

export interface SecretVersionView {
  version: number;
  created_at: string;
  expires_at: string | null;
}

export interface DestinationHealth {
  state: GateState;
  consecutive_failures: number;
  failing_since: string | null;
  opened_at: string | null;
}

export interface DestinationView {
  id: string;
  project_id: string;
  name: string;
  url: string;
  method: DestinationMethod;
  headers: Record<string, string>;
  timeout_ms: number;
  format: DestinationFormat;
  max_in_flight: number;
  rate_limit_per_second: number | null;
  fifo: boolean;
  enabled: boolean;
  disabled_reason: "manual" | "failing" | null;
  disabled_at: string | null;
  allow_plain_http: boolean;
  auto_replay: boolean;
  secret_overlap_seconds: number;
  retry: { schedule_seconds: number[]; retry_after_cap_seconds: number };
  /** Which credentials are stored, never the credentials. */
  credentials: { kinds: CredentialKind[] };
  /** Versions that sign now, newest first. Never the secrets themselves. */
  secret_versions: SecretVersionView[];
  health: DestinationHealth;
  created_at: string;
  updated_at: string;
}

export interface DestinationRow {
  id: string;
  tenant_id: string;
  project_id: string;
  name: string;
  url: string;
  method: DestinationMethod;
  headers: Record<string, string>;
  timeout_ms: number;
  format: DestinationFormat;
  max_in_flight: number;
  rate_limit_per_second: number | null;
  fifo: boolean;
  enabled: boolean;
  disabled_reason: "manual" | "failing" | null;
  disabled_at: Date | null;
  allow_plain_http: boolean;
  credential_kinds: CredentialKind[];
  retry_schedule: number[];
  retry_after_cap_seconds: number;
  secret_overlap_seconds: number;
  auto_replay: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface SecretRow {
  destination_id: string;
  version: number;
  created_at: Date;
  expires_at: Date | null;
}

export interface GateRow {
  destination_id: string;
  state: GateState;
  consecutive_failures: number;
  failing_since: Date | null;
  opened_at: Date | null;
}

/** Every column but the sealed credentials, which no view or action reads. */
export const DESTINATION_COLUMNS = `id, tenant_id, project_id, name, url, method, headers, timeout_ms, format,
  max_in_flight, rate_limit_per_second, fifo, enabled, disabled_reason, disabled_at, allow_plain_http,
  credential_kinds, retry_schedule, retry_after_cap_seconds, secret_overlap_seconds, auto_replay,
  created_at, updated_at`;

export const iso = (d: Date | string) => new Date(d).toISOString();
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d));

export function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

/** What the view needs besides the row, for a set of destinations. */
export interface Related {
  secrets: readonly SecretRow[];
  gates: readonly GateRow[];
}

export function toView(r: DestinationRow, related: Related): DestinationView {
  const gate = related.gates.find((g) => g.destination_id === r.id);
  return {
    id: r.id,
    project_id: r.project_id,
    name: r.name,
    url: r.url,
    method: r.method,
    headers: { ...r.headers },
    timeout_ms: Number(r.timeout_ms),
    format: r.format,
    max_in_flight: Number(r.max_in_flight),
    rate_limit_per_second: r.rate_limit_per_second === null ? null : Number(r.rate_limit_per_second),
    fifo: r.fifo,
    enabled: r.enabled,
    disabled_reason: r.disabled_reason,
    disabled_at: isoOrNull(r.disabled_at),
    allow_plain_http: r.allow_plain_http,
    auto_replay: r.auto_replay,
    secret_overlap_seconds: Number(r.secret_overlap_seconds),
    retry: {
      schedule_seconds: r.retry_schedule.map(Number),
      retry_after_cap_seconds: Number(r.retry_after_cap_seconds),
    },
    credentials: { kinds: [...r.credential_kinds] },
    secret_versions: related.secrets
      .filter((s) => s.destination_id === r.id)
      .sort((a, b) => Number(b.version) - Number(a.version))
      .map((s) => ({
        version: Number(s.version),
        created_at: iso(s.created_at),
        expires_at: isoOrNull(s.expires_at),
      })),
    health: {
      state: gate?.state ?? "closed",
      consecutive_failures: Number(gate?.consecutive_failures ?? 0),
      failing_since: isoOrNull(gate?.failing_since ?? null),
      opened_at: isoOrNull(gate?.opened_at ?? null),
    },
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export async function loadDestination(
  tx: Tx,
  ctx: ActionContext,
  destinationId: string,
  lock = false,
): Promise<DestinationRow> {
  const r = await tx.query<DestinationRow>(
    `select ${DESTINATION_COLUMNS} from destinations
      where tenant_id = $1 and project_id = $2 and id = $3${lock ? " for update" : ""}`,
    [ctx.tenantId, projectOf(ctx), destinationId],
  );
  const row = r.rows[0];
  if (!row) throw new ZenError("NOT_FOUND");
  return row;
}

/** Secret versions (metadata only) of these destinations that still sign at `now`. */
export async function liveSecretVersions(
  tx: Tx,
  tenantId: string,
  ids: readonly string[],
  now: Date,
): Promise<SecretRow[]> {
  if (ids.length === 0) return [];
  const r = await tx.query<SecretRow>(
    `select destination_id, version, created_at, expires_at from destination_secrets
      where tenant_id = $1 and destination_id = any($2::text[]) and (expires_at is null or expires_at > $3)
      order by destination_id, version desc`,
    [tenantId, ids, now],
  );
  return r.rows;
}

/**
 * Circuit-breaker state. The gates table sits outside the tenant fence (the
 * scheduler reads it across tenants), so the tenant is named here explicitly.
 */
export async function gatesOf(tx: Tx, tenantId: string, ids: readonly string[]): Promise<GateRow[]> {
  if (ids.length === 0) return [];
  const r = await tx.query<GateRow>(
    `select destination_id, state, consecutive_failures, failing_since, opened_at from destination_gates
      where tenant_id = $1 and destination_id = any($2::text[])`,
    [tenantId, ids],
  );
  return r.rows;
}

export async function relatedOf(
  tx: Tx,
  tenantId: string,
  ids: readonly string[],
  now: Date,
): Promise<Related> {
  return {
    secrets: await liveSecretVersions(tx, tenantId, ids, now),
    gates: await gatesOf(tx, tenantId, ids),
  };
}

/**
 * Re-enabling closes the gate with its counters reset (a fresh start);
 * disabling parks it, keeping the failure history for the health view.
 */
export async function setGate(
  tx: Tx,
  tenantId: string,
  destinationId: string,
  state: "closed" | "disabled",
  now: Date,
): Promise<void> {
  const reset = state === "closed";
  await tx.query(
    `insert into destination_gates (destination_id, tenant_id, state, updated_at) values ($1, $2, $3, $4)
     on conflict (destination_id) do update
       set state = excluded.state, updated_at = excluded.updated_at,
           consecutive_failures = case when $5::boolean then 0 else destination_gates.consecutive_failures end,
           opened_at = case when $5::boolean then null else destination_gates.opened_at end,
           failing_since = case when $5::boolean then null else destination_gates.failing_since end
     where destination_gates.tenant_id = excluded.tenant_id`,
    [destinationId, tenantId, state, now, reset],
  );
}

export async function auditDestination(
  tx: Tx,
  ctx: ActionContext,
  action: string,
  destinationId: string,
  details: AuditEntryInput["details"],
): Promise<void> {
  await appendAudit(tx, {
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    action,
    outcome: "success",
    target: { type: "destination", id: destinationId },
    projectId: projectOf(ctx),
    correlationId: ctx.correlationId,
    ...(details ? { details } : {}),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
  });
}
