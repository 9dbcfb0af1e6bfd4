/**
 * What the backend pushes to ingesters: the sources changed since a revision,
 * with their secrets opened (ingesters hold them in memory only). Guards
 * against a change being skipped: revisions are handed out in order but commit
 * in any order, so the directory is read under the lock every writer holds
 * until it commits (see bumpRevision) and no revision still in flight can be
 * stepped over. The directory is read without a tenant; each tenant's sources
 * and secrets are read in a transaction fenced to that tenant, and every such
 * transaction that opens secrets records it in the tenant's audit chain.
 */
import { appendAudit } from "../../audit/index.ts";
import { type Actor, newId, ZenError } from "../../core/index.ts";
import type { Database, Tx } from "../../db/index.ts";
import type { ZenLock } from "../../zenlock/index.ts";
import type { SourceSnapshot } from "../types.ts";
import {
  DEFAULT_MAX_SECRET_VERSIONS,
  DIRECTORY_LOCK,
  iso,
  liveSecretsSql,
  SECRET_SEAL,
  SOURCE_COLUMNS,
  type SourceRow,
  secretRowId,
} from "./common.ts";

export const SNAPSHOT_PAGE_SIZE = 1000;

export interface SourceChanges {
  /** The highest revision covered, or the one asked from when nothing changed. */
  revision: number;
  upserts: SourceSnapshot[];
  deletes: string[];
  /** More changes wait beyond `revision`: ask again at once. */
  more: boolean;
  /**
   * Sources whose secrets could not be opened (the tenant's keys are gone or
   * unavailable). They are listed in `deletes` too: an ingester must stop
   * verifying with secrets it can no longer be told the truth about.
   */
  unavailable: string[];
}

export interface LoadSourceChangesOptions {
  /** Who is opening the secrets (default: the backend workload). */
  actor?: Actor;
  correlationId?: string;
  limit?: number;
  /** Secret versions handed out per source, newest first (default DEFAULT_MAX_SECRET_VERSIONS). */
  maxSecretVersions?: number;
}

interface DirectoryRow {
  source_id: string;
  tenant_id: string;
  revision: string | number;
  deleted: boolean;
}

interface SealedRow {
  source_id: string;
  version: number;
  sealed: string;
  expires_at: Date | null;
}

const BACKEND: Actor = { type: "workload", spiffeId: "backend" };

export async function loadSourceChanges(
  db: Database,
  zenlock: ZenLock,
  sinceRevision: number,
  now: Date,
  opts: LoadSourceChangesOptions = {},
): Promise<SourceChanges> {
  if (!Number.isSafeInteger(sinceRevision) || sinceRevision < 0) {
    throw new ZenError("VALIDATION_FAILED", { message: "since must be a non-negative integer" });
  }
  const limit = opts.limit ?? SNAPSHOT_PAGE_SIZE;
  const maxSecrets = opts.maxSecretVersions ?? DEFAULT_MAX_SECRET_VERSIONS;
  const rows = await db.withGlobal(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1::bigint)", [DIRECTORY_LOCK]);
    const r = await tx.query<DirectoryRow>(
      `select source_id, tenant_id, revision, deleted from source_directory
        where revision > $1 order by revision limit $2`,
      [sinceRevision, limit + 1],
    );
    return r.rows;
  });
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const out: SourceChanges = {
    revision: page.length > 0 ? Number(page.at(-1)!.revision) : sinceRevision,
    upserts: [],
    deletes: [],
    more,
    unavailable: [],
  };

  const byTenant = new Map<string, Map<string, number>>();
  for (const d of page) {
    if (d.deleted) {
      out.deletes.push(d.source_id);
      continue;
    }
    const m = byTenant.get(d.tenant_id) ?? new Map<string, number>();
    m.set(d.source_id, Number(d.revision));
    byTenant.set(d.tenant_id, m);
  }

  const audit = { actor: opts.actor ?? BACKEND, correlationId: opts.correlationId ?? newId("correlation") };
  for (const [tenantId, revisions] of byTenant) {
    const ids = [...revisions.keys()];
    let found: SourceSnapshot[];
    try {
      found = await db.withTenant(tenantId, (tx) =>
        readTenant(tx, zenlock, tenantId, revisions, now, audit, maxSecrets),
      );
    } catch (err) {
      if (!(err instanceof ZenError) || (err.code !== "KEY_UNAVAILABLE" && err.code !== "CRYPTO_FAILED")) {
        throw err;
      }
      out.deletes.push(...ids);
      out.unavailable.push(...ids);
      continue;
    }
    out.upserts.push(...found);
    // Deleted after the directory was read: its own later revision says so too.
    const seen = new Set(found.map((s) => s.id));
    for (const id of ids) if (!seen.has(id)) out.deletes.push(id);
  }
  out.upserts.sort((a, b) => a.revision - b.revision);
  return out;
}

async function readTenant(
  tx: Tx,
  zenlock: ZenLock,
  tenantId: string,
  revisions: ReadonlyMap<string, number>,
  now: Date,
  audit: { actor: Actor; correlationId: string },
  maxSecrets: number,
): Promise<SourceSnapshot[]> {
  const ids = [...revisions.keys()];
  const sources = await tx.query<SourceRow>(
    `select ${SOURCE_COLUMNS} from sources where tenant_id = $1 and id = any($2::text[]) order by id`,
    [tenantId, ids],
  );
  // A source that holds more live versions than the cap (made before there was one) hands out its newest only.
  const sealed = await tx.query<SealedRow>(liveSecretsSql("source_id, version, sealed, expires_at"), [
    tenantId,
    ids,
    now,
    maxSecrets,
  ]);
  const secrets = new Map<string, { version: number; value: string; expiresAt: string | null }[]>();
  for (const s of sealed.rows) {
    const version = Number(s.version);
    const value = await zenlock.open(
      tx,
      tenantId,
      { ...SECRET_SEAL, rowId: secretRowId(s.source_id, version) },
      s.sealed,
    );
    const list = secrets.get(s.source_id) ?? [];
    list.push({
      version,
      value: value.toString("utf8"),
      expiresAt: s.expires_at === null ? null : iso(s.expires_at),
    });
    secrets.set(s.source_id, list);
    value.fill(0);
  }
  if (sealed.rows.length > 0) {
    await appendAudit(tx, {
      tenantId,
      actor: audit.actor,
      action: "source.secrets_distributed",
      outcome: "success",
      correlationId: audit.correlationId,
      details: { count: sealed.rows.length, sources: sources.rows.length },
    });
  }
  return sources.rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    projectId: r.project_id,
    scheme: r.scheme,
    settings: r.settings,
    signatureRequired: r.signature_required,
    allowPlainHttp: r.allow_plain_http,
    clientCertPins: [...r.client_cert_pins],
    maxBodyBytes: Number(r.max_body_bytes),
    contentTypes: [...r.content_types],
    toleranceSeconds: Number(r.tolerance_seconds),
    cloudevents: r.cloudevents,
    enabled: r.enabled,
    secrets: secrets.get(r.id) ?? [],
    revision: revisions.get(r.id)!,
  }));
}
