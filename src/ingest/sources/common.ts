/**
 * What every source action shares: the dependencies, the stored row and its
 * API view, loading a row under the tenant fence, and the directory revision
 * that tells ingesters a source changed.
 */
import { type AuditEntryInput, appendAudit } from "../../audit/index.ts";
import { type ActionContext, ZenError } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { TenancyDeps } from "../../tenancy/index.ts";
import type { CloudEventsMode, SchemeName } from "../types.ts";

export type SourceDeps = TenancyDeps & {
  /** Public base URL of the ingesters, without a trailing slash: `https://in.example.com`. */
  ingestBaseUrl: () => string;
  /** Live secret versions a source may hold (default DEFAULT_MAX_SECRET_VERSIONS). */
  maxSecretVersions?: number;
};

/**
 * How many secret versions of one source verify at once. Every version costs
 * one HMAC over the body of every request, so the cap bounds the work a
 * forged request causes: rotation past it retires the oldest, and the
 * versions handed to ingesters (and shown) are the newest this many only.
 */
export const DEFAULT_MAX_SECRET_VERSIONS = 3;
/** The highest cap the configuration accepts (`ingest.maxSecretVersions`). */
export const MAX_SECRET_VERSIONS_LIMIT = 8;

export const secretCap = (deps: { maxSecretVersions?: number }): number =>
  deps.maxSecretVersions ?? DEFAULT_MAX_SECRET_VERSIONS;

/**
 * The newest `$4` secret versions of each source in `$2` that still verify
 * at `$3`, newest first. `columns` are read from `source_secrets`.
 */
export const liveSecretsSql = (columns: string) => `select ${columns} from (
    select ${columns}, row_number() over (partition by source_id order by version desc) as live_rank
      from source_secrets
     where tenant_id = $1 and source_id = any($2::text[]) and (expires_at is null or expires_at > $3)
  ) live
  where live_rank <= $4
  order by source_id, version desc`;

export interface SecretVersionView {
  version: number;
  created_at: string;
  expires_at: string | null;
}

export interface SourceView {
  id: string;
  project_id: string;
  name: string;
  scheme: SchemeName;
  settings: Record<string, unknown>;
  ingest_url: string;
  signature_required: boolean;
  allow_plain_http: boolean;
  client_cert_pins: string[];
  max_body_bytes: number;
  content_types: string[];
  tolerance_seconds: number;
  secret_overlap_seconds: number;
  cloudevents: CloudEventsMode;
  enabled: boolean;
  /** Versions that verify now, newest first. Never the secrets themselves. */
  secret_versions: SecretVersionView[];
  created_at: string;
  updated_at: string;
}

export interface SourceRow {
  id: string;
  tenant_id: string;
  project_id: string;
  name: string;
  scheme: SchemeName;
  settings: Record<string, unknown>;
  signature_required: boolean;
  allow_plain_http: boolean;
  client_cert_pins: string[];
  max_body_bytes: number;
  content_types: string[];
  tolerance_seconds: number;
  secret_overlap_seconds: number;
  cloudevents: CloudEventsMode;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface SecretRow {
  source_id: string;
  version: number;
  created_at: Date;
  expires_at: Date | null;
}

export const SOURCE_COLUMNS = `id, tenant_id, project_id, name, scheme, settings, signature_required, allow_plain_http,
  client_cert_pins, max_body_bytes, content_types, tolerance_seconds, secret_overlap_seconds, cloudevents,
  enabled, created_at, updated_at`;

export const iso = (d: Date | string) => new Date(d).toISOString();

/** The AAD row id of one sealed secret version. */
export const secretRowId = (sourceId: string, version: number) => `${sourceId}:v${version}`;
export const SECRET_SEAL = { table: "source_secrets", column: "sealed" } as const;

export function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

export function toView(deps: SourceDeps, r: SourceRow, secrets: readonly SecretRow[]): SourceView {
  return {
    id: r.id,
    project_id: r.project_id,
    name: r.name,
    scheme: r.scheme,
    settings: r.settings,
    ingest_url: `${deps.ingestBaseUrl().replace(/\/+$/, "")}/e/${r.id}`,
    signature_required: r.signature_required,
    allow_plain_http: r.allow_plain_http,
    client_cert_pins: [...r.client_cert_pins],
    max_body_bytes: Number(r.max_body_bytes),
    content_types: [...r.content_types],
    tolerance_seconds: Number(r.tolerance_seconds),
    secret_overlap_seconds: Number(r.secret_overlap_seconds),
    cloudevents: r.cloudevents,
    enabled: r.enabled,
    secret_versions: secrets
      .filter((s) => s.source_id === r.id)
      .sort((a, b) => Number(b.version) - Number(a.version))
      .map((s) => ({
        version: Number(s.version),
        created_at: iso(s.created_at),
        expires_at: s.expires_at === null ? null : iso(s.expires_at),
      })),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export async function loadSource(
  tx: Tx,
  ctx: ActionContext,
  sourceId: string,
  lock = false,
): Promise<SourceRow> {
  const r = await tx.query<SourceRow>(
    `select ${SOURCE_COLUMNS} from sources where tenant_id = $1 and project_id = $2 and id = $3${lock ? " for update" : ""}`,
    [ctx.tenantId, projectOf(ctx), sourceId],
  );
  const row = r.rows[0];
  if (!row) throw new ZenError("NOT_FOUND");
  return row;
}

/** Secret versions (metadata only) of these sources that verify at `now`: the newest `max` live ones. */
export async function liveSecretVersions(
  tx: Tx,
  tenantId: string,
  sourceIds: readonly string[],
  now: Date,
  max: number,
): Promise<SecretRow[]> {
  if (sourceIds.length === 0) return [];
  const r = await tx.query<SecretRow>(liveSecretsSql("source_id, version, created_at, expires_at"), [
    tenantId,
    sourceIds,
    now,
    max,
  ]);
  return r.rows;
}

/**
 * Any transaction that changes what an ingester must know of a source calls
 * this last. Revisions come from a sequence, so they are handed out in order
 * but may commit out of order; the shared lock held to commit lets the
 * snapshot loader (which takes it exclusively) wait until every revision
 * handed out so far is committed, so it never steps past one still in flight.
 */
export async function bumpRevision(
  tx: Tx,
  tenantId: string,
  sourceId: string,
  change: "create" | "update" | "delete",
): Promise<number> {
  await tx.query("select pg_advisory_xact_lock_shared($1::bigint)", [DIRECTORY_LOCK]);
  const r =
    change === "create"
      ? await tx.query<{ revision: string | number }>(
          `insert into source_directory (source_id, tenant_id, revision)
           values ($1, $2, nextval('source_revision_seq')) returning revision`,
          [sourceId, tenantId],
        )
      : await tx.query<{ revision: string | number }>(
          `update source_directory set revision = nextval('source_revision_seq'), deleted = $3
            where source_id = $1 and tenant_id = $2 returning revision`,
          [sourceId, tenantId, change === "delete"],
        );
  const row = r.rows[0];
  if (!row) throw new ZenError("INTERNAL", { message: "source has no directory entry" });
  return Number(row.revision);
}

/** Advisory lock key of the source directory (an arbitrary constant, "zmsrcdir"). */
export const DIRECTORY_LOCK = "8749237712346624114";

export async function auditSource(
  tx: Tx,
  ctx: ActionContext,
  action: string,
  sourceId: string,
  details: AuditEntryInput["details"],
): Promise<void> {
  await appendAudit(tx, {
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    action,
    outcome: "success",
    target: { type: "source", id: sourceId },
    projectId: projectOf(ctx),
    correlationId: ctx.correlationId,
    ...(details ? { details } : {}),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
  });
}
