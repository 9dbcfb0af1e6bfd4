/**
 * The backend's half of ingest (ARCHITECTURE.md section 3, step 3): a batch of
 * verified requests becomes stored events, one transaction per tenant, and the
 * ingester answers its sources only after that commit. Guards against replays
 * (delivery id and signature remembered for a window), against storing one
 * delivery twice (a keyed fingerprint), against a payload readable from the
 * database (sealed with the tenant's data key, bound to the event id), and
 * against one tenant's batch touching another's rows (every statement runs
 * fenced to the source's tenant, found through the id-only directory).
 */
import { appendAudit } from "../../audit/index.ts";
import { type Actor, type Clock, newId } from "../../core/index.ts";
import type { Database, Tx } from "../../db/index.ts";
import type { ZenLock } from "../../zenlock/index.ts";
import type { IngestItem, IngestOutcome } from "../types.ts";
import { findDuplicate, fingerprint, lockFingerprints } from "./fingerprint.ts";
import { claimReplayKeys, replayKeys, sweepExpiredReplays } from "./replay.ts";
import { type ValidItem, validateItem } from "./validate.ts";

export interface PersistDeps {
  db: Database;
  zenlock: ZenLock;
  clock: Clock;
  /** How long a replay key stays live; default max(source tolerance, 300 s) × 2, per source. */
  replayWindowSeconds?: number;
  /** How far back a fingerprint counts as a duplicate; default 7 days. */
  dedupeWindowSeconds?: number;
  /**
   * Called in each tenant's transaction with the events it stored, before it
   * commits (the delivery fan-out): a failure fails the transaction.
   */
  onStored?(tx: Tx, tenantId: string, events: readonly StoredEventFacts[], now: Date): Promise<void>;
}

/** A freshly stored event, for what runs in the same transaction. */
export interface StoredEventFacts {
  eventId: string;
  projectId: string;
  sourceId: string;
  item: ValidItem;
}

export interface PersistOptions {
  /** Who hands the batch over, for the audit entry; default the ingester workload. */
  actor?: Actor;
  /** The batch's correlation id for the audit entries; default each tenant's first item's. */
  correlationId?: string;
}

export const INGESTER_ACTOR: Actor = { type: "workload", spiffeId: "spiffe://zenmesh/ingester" };
export const DEFAULT_DEDUPE_WINDOW_SECONDS = 7 * 24 * 3600;
const MIN_REPLAY_TOLERANCE_SECONDS = 300;

interface Pending {
  index: number;
  item: ValidItem;
}

interface SourceRow {
  id: string;
  project_id: string;
  enabled: boolean;
  tolerance_seconds: number;
}

const rejected = (code: "SOURCE_NOT_FOUND" | "SOURCE_DISABLED" | "VALIDATION_FAILED"): IngestOutcome => ({
  status: "rejected",
  code,
});

/** Outcomes in the order of `items`. Throws only when a tenant's transaction fails (nothing of it stored). */
export async function persistBatch(
  deps: PersistDeps,
  items: readonly IngestItem[],
  opts: PersistOptions = {},
): Promise<IngestOutcome[]> {
  const outcomes = new Array<IngestOutcome | undefined>(items.length).fill(undefined);
  const valid: Pending[] = [];
  items.forEach((raw, index) => {
    const v = validateItem(raw);
    if (v.ok) valid.push({ index, item: v.value });
    else outcomes[index] = rejected("VALIDATION_FAILED");
  });

  const owners = await tenantsOf(deps.db, [...new Set(valid.map((p) => p.item.sourceId))]);
  const byTenant = new Map<string, Pending[]>();
  for (const p of valid) {
    const tenantId = owners.get(p.item.sourceId);
    if (tenantId === undefined) outcomes[p.index] = rejected("SOURCE_NOT_FOUND");
    else byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), p]);
  }

  const settled = await Promise.allSettled(
    [...byTenant].map(([tenantId, group]) => persistTenant(deps, opts, tenantId, group)),
  );
  for (const s of settled) {
    if (s.status === "rejected") throw s.reason;
    for (const [index, outcome] of s.value) outcomes[index] = outcome;
  }
  return outcomes.map((o) => {
    if (o === undefined) throw new Error("an ingest item was left without an outcome");
    return o;
  });
}

/** The directory holds ids only, so it is read without a tenant fence. */
async function tenantsOf(db: Database, sourceIds: string[]): Promise<Map<string, string>> {
  if (sourceIds.length === 0) return new Map();
  const r = await db.withGlobal((tx) =>
    tx.query<{ source_id: string; tenant_id: string }>(
      "select source_id, tenant_id from source_directory where source_id = any($1::text[]) and not deleted",
      [sourceIds],
    ),
  );
  return new Map(r.rows.map((row) => [row.source_id, row.tenant_id]));
}

function persistTenant(
  deps: PersistDeps,
  opts: PersistOptions,
  tenantId: string,
  group: Pending[],
): Promise<Map<number, IngestOutcome>> {
  return deps.db.withTenant(tenantId, async (tx) => {
    const out = new Map<number, IngestOutcome>();
    const now = deps.clock.now();
    const sources = await loadSources(tx, tenantId, [...new Set(group.map((p) => p.item.sourceId))]);
    const live: { p: Pending; source: SourceRow }[] = [];
    for (const p of group) {
      const source = sources.get(p.item.sourceId);
      // The directory and the row can disagree for a moment around a deletion; the row decides.
      if (source === undefined) out.set(p.index, rejected("SOURCE_NOT_FOUND"));
      else if (!source.enabled) out.set(p.index, rejected("SOURCE_DISABLED"));
      else live.push({ p, source });
    }

    const counts = { stored: 0, duplicates: 0, replayed: 0 };
    const stored: StoredEventFacts[] = [];
    if (live.length > 0) {
      const fpKey = await deps.zenlock.fingerprintKey(tx, tenantId);
      try {
        const fps = live.map(({ p }) =>
          fingerprint(fpKey.key, p.item.sourceId, p.item.contentType, p.item.body),
        );
        await lockFingerprints(tx, fps);
        const dedupeSince = new Date(
          now.getTime() - (deps.dedupeWindowSeconds ?? DEFAULT_DEDUPE_WINDOW_SECONDS) * 1000,
        );
        for (const [i, { p, source }] of live.entries()) {
          const fp = fps[i]!;
          const original = await findDuplicate(tx, tenantId, fp, fpKey.version, dedupeSince);
          const eventId = original ?? newId("event");
          const windowSeconds =
            deps.replayWindowSeconds ?? Math.max(source.tolerance_seconds, MIN_REPLAY_TOLERANCE_SECONDS) * 2;
          const claimed = await claimReplayKeys(
            tx,
            {
              tenantId,
              sourceId: source.id,
              now,
              expiresAt: new Date(now.getTime() + windowSeconds * 1000),
            },
            replayKeys(p.item),
            eventId,
          );
          if (!claimed) {
            counts.replayed++;
            out.set(p.index, { status: "replayed" });
          } else if (original !== undefined) {
            counts.duplicates++;
            out.set(p.index, { status: "duplicate", eventId: original });
          } else {
            await insertEvent(deps, tx, tenantId, source, p.item, { eventId, fp, fpVersion: fpKey.version });
            stored.push({ eventId, projectId: source.project_id, sourceId: source.id, item: p.item });
            counts.stored++;
            out.set(p.index, { status: "stored", eventId });
          }
        }
      } finally {
        fpKey.key.fill(0);
      }
    }

    if (stored.length > 0 && deps.onStored) await deps.onStored(tx, tenantId, stored, now);
    await sweepExpiredReplays(tx, tenantId, now);
    const projects = new Set(live.map(({ source }) => source.project_id));
    const [onlyProject] = projects;
    await appendAudit(tx, {
      tenantId,
      actor: opts.actor ?? INGESTER_ACTOR,
      action: "events.ingest",
      outcome: "success",
      correlationId: opts.correlationId ?? group[0]!.item.correlationId,
      ...(projects.size === 1 && onlyProject !== undefined ? { projectId: onlyProject } : {}),
      details: { ...counts, rejected: group.length - live.length },
      at: now,
    });
    return out;
  });
}

async function loadSources(tx: Tx, tenantId: string, ids: string[]): Promise<Map<string, SourceRow>> {
  const r = await tx.query<SourceRow>(
    "select id, project_id, enabled, tolerance_seconds from sources where tenant_id = $1 and id = any($2::text[])",
    [tenantId, ids],
  );
  return new Map(r.rows.map((row) => [row.id, { ...row, tolerance_seconds: Number(row.tolerance_seconds) }]));
}

async function insertEvent(
  deps: PersistDeps,
  tx: Tx,
  tenantId: string,
  source: SourceRow,
  item: ValidItem,
  f: { eventId: string; fp: Buffer; fpVersion: number },
): Promise<void> {
  const sealed = await deps.zenlock.seal(
    tx,
    tenantId,
    { table: "events", column: "payload", rowId: f.eventId },
    item.body,
  );
  await tx.query(
    `insert into events (id, tenant_id, project_id, source_id, type, subject, time, datacontenttype, dataschema,
       ce_source, extensions, received_at, correlation_id, provider_delivery_id, fingerprint, fingerprint_version,
       payload_sealed, payload_bytes)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $17, $18)`,
    [
      f.eventId,
      tenantId,
      source.project_id,
      source.id,
      item.type,
      item.subject,
      item.time,
      item.contentType,
      item.dataschema,
      `/projects/${source.project_id}/sources/${source.id}`,
      JSON.stringify(item.extensions),
      item.receivedAt,
      item.correlationId,
      item.deliveryId,
      f.fp,
      f.fpVersion,
      sealed,
      item.body.length,
    ],
  );
}
