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
import { findDuplicates, fingerprint, lockFingerprints } from "./fingerprint.ts";
import {
  claimReplayKeysBatch,
  isIdempotencyKey,
  isSignatureKey,
  replayKeys,
  sweepExpiredReplays,
} from "./replay.ts";
import { type ValidItem, validateItem } from "./validate.ts";

export interface PersistDeps {
  db: Database;
  zenlock: ZenLock;
  clock: Clock;
  /**
   * How long a replay key stays live; default max(source tolerance, 300 s) × 2, per source. A
   * signature that covers no timestamp stays the dedupe window instead.
   */
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

// Which tenant owns a source never changes (ids are random and never reused), so a found owner is
// remembered; a deleted source is refused by its tenant's transaction, where the row decides. Only
// found owners are kept: an unknown id asks the directory every time.
const OWNER_CACHE_MAX = 50_000;
const ownerCaches = new WeakMap<Database, Map<string, string>>();

/** This database's map in `maps`, made on first use: the memos below are per database, never shared. */
function mapOf<V>(maps: WeakMap<Database, Map<string, V>>, db: Database): Map<string, V> {
  let map = maps.get(db);
  if (map === undefined) {
    map = new Map();
    maps.set(db, map);
  }
  return map;
}

/** The directory holds ids only, so it is read without a tenant fence. */
async function tenantsOf(db: Database, sourceIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (sourceIds.length === 0) return out;
  const cache = mapOf(ownerCaches, db);
  const unknown: string[] = [];
  for (const id of sourceIds) {
    const owner = cache.get(id);
    if (owner === undefined) unknown.push(id);
    else out.set(id, owner);
  }
  if (unknown.length === 0) return out;
  const r = await db.withGlobal((tx) =>
    tx.query<{ source_id: string; tenant_id: string }>(
      "select source_id, tenant_id from source_directory where source_id = any($1::text[]) and not deleted",
      [unknown],
    ),
  );
  if (cache.size + r.rows.length > OWNER_CACHE_MAX) cache.clear();
  for (const row of r.rows) {
    out.set(row.source_id, row.tenant_id);
    cache.set(row.source_id, row.tenant_id);
  }
  return out;
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
          fingerprint(fpKey.key, p.item.sourceId, p.item.contentType, p.item.body, p.item.identity),
        );
        await lockFingerprints(tx, fps);
        const dedupeMs = (deps.dedupeWindowSeconds ?? DEFAULT_DEDUPE_WINDOW_SECONDS) * 1000;
        const dedupeSince = new Date(now.getTime() - dedupeMs);
        const dedupeUntil = new Date(now.getTime() + dedupeMs);
        // Earlier events in one query, every replay key in one statement.
        const earlier = await findDuplicates(tx, tenantId, fps, fpKey.version, dedupeSince);
        // Requests with one fingerprint share an event id: the first of them stored makes the event.
        const groupId = new Map<string, string>();
        const plans = live.map(({ p, source }, i) => {
          const hex = fps[i]!.toString("hex");
          const original = earlier.get(hex);
          let eventId = original ?? groupId.get(hex);
          if (eventId === undefined) {
            eventId = newId("event");
            groupId.set(hex, eventId);
          }
          const windowSeconds =
            deps.replayWindowSeconds ?? Math.max(source.tolerance_seconds, MIN_REPLAY_TOLERANCE_SECONDS) * 2;
          const replayUntil = new Date(now.getTime() + windowSeconds * 1000);
          return {
            p,
            source,
            hex,
            original,
            eventId,
            claim: {
              sourceId: source.id,
              keys: replayKeys(p.item).map((key) => {
                // A signature without a signed timestamp verifies forever: it stays the first event's.
                const isFirstEvent = isSignatureKey(key) && !p.item.signatureTimestamped;
                // The provider's event id is the same on every retry of it, for as long as it retries.
                const long = isFirstEvent || isIdempotencyKey(key);
                return { key, isFirstEvent, expiresAt: long ? dedupeUntil : replayUntil };
              }),
              eventId,
            },
          };
        });
        const claimed = await claimReplayKeysBatch(
          tx,
          tenantId,
          now,
          plans.map((x) => x.claim),
        );
        const toInsert: NewEvent[] = [];
        const storedNow = new Set<string>();
        for (const [i, plan] of plans.entries()) {
          const { p, source, eventId } = plan;
          const claim = claimed[i]!;
          if (!claim.won && claim.firstEventId !== undefined) {
            counts.duplicates++;
            out.set(p.index, { status: "duplicate", eventId: claim.firstEventId });
          } else if (!claim.won) {
            counts.replayed++;
            out.set(p.index, { status: "replayed" });
          } else if (plan.original !== undefined || storedNow.has(plan.hex)) {
            counts.duplicates++;
            out.set(p.index, { status: "duplicate", eventId });
          } else {
            storedNow.add(plan.hex);
            toInsert.push({ source, item: p.item, eventId, fp: fps[i]! });
            stored.push({ eventId, projectId: source.project_id, sourceId: source.id, item: p.item });
            counts.stored++;
            out.set(p.index, { status: "stored", eventId });
          }
        }
        await insertEvents(deps, tx, tenantId, toInsert, fpKey.version);
      } finally {
        fpKey.key.fill(0);
      }
    }

    if (stored.length > 0 && deps.onStored) await deps.onStored(tx, tenantId, stored, now);
    await sweepReplaysNowAndThen(deps.db, tx, tenantId, now);
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

// Expired replay keys are swept in the ingest transactions themselves, but not in every one: at most
// once per tenant per interval, and again at once while a sweep still finds a full batch.
const SWEEP_EVERY_MS = 5_000;
const SWEEP_LIMIT = 500;
const SWEEP_MEMO_MAX = 50_000;
const lastSweeps = new WeakMap<Database, Map<string, number>>();

async function sweepReplaysNowAndThen(db: Database, tx: Tx, tenantId: string, now: Date): Promise<void> {
  const last = mapOf(lastSweeps, db);
  const at = last.get(tenantId);
  if (at !== undefined && now.getTime() - at < SWEEP_EVERY_MS && now.getTime() >= at) return;
  const swept = await sweepExpiredReplays(tx, tenantId, now, SWEEP_LIMIT);
  if (swept >= SWEEP_LIMIT) last.delete(tenantId);
  else {
    if (last.size >= SWEEP_MEMO_MAX) last.clear();
    last.set(tenantId, now.getTime());
  }
}

async function loadSources(tx: Tx, tenantId: string, ids: string[]): Promise<Map<string, SourceRow>> {
  const r = await tx.query<SourceRow>(
    "select id, project_id, enabled, tolerance_seconds from sources where tenant_id = $1 and id = any($2::text[])",
    [tenantId, ids],
  );
  return new Map(r.rows.map((row) => [row.id, { ...row, tolerance_seconds: Number(row.tolerance_seconds) }]));
}

interface NewEvent {
  source: SourceRow;
  item: ValidItem;
  eventId: string;
  fp: Buffer;
}

/** Every stored event of the batch in one statement, each payload sealed to its own event id. */
async function insertEvents(
  deps: PersistDeps,
  tx: Tx,
  tenantId: string,
  rows: readonly NewEvent[],
  fpVersion: number,
): Promise<void> {
  if (rows.length === 0) return;
  const sealed: string[] = [];
  for (const r of rows) {
    sealed.push(
      await deps.zenlock.seal(
        tx,
        tenantId,
        { table: "events", column: "payload", rowId: r.eventId },
        r.item.body,
      ),
    );
  }
  const col = <T>(f: (r: NewEvent, i: number) => T) => rows.map(f);
  await tx.query(
    `insert into events (id, tenant_id, project_id, source_id, type, subject, time, datacontenttype, dataschema,
       ce_source, extensions, received_at, correlation_id, provider_delivery_id, fingerprint, fingerprint_version,
       payload_sealed, payload_bytes)
     select t.id, $1, t.project_id, t.source_id, t.type, t.subject, t.time, t.datacontenttype, t.dataschema,
            t.ce_source, t.extensions::jsonb, t.received_at, t.correlation_id, t.delivery_id, decode(t.fp, 'hex'), $2,
            t.sealed, t.bytes
       from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[],
                   $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[], $15::text[], $16::text[],
                   $17::text[], $18::integer[])
            as t(id, project_id, source_id, type, subject, time, datacontenttype, dataschema, ce_source, extensions,
                 received_at, correlation_id, delivery_id, fp, sealed, bytes)`,
    [
      tenantId,
      fpVersion,
      col((r) => r.eventId),
      col((r) => r.source.project_id),
      col((r) => r.source.id),
      col((r) => r.item.type),
      col((r) => r.item.subject),
      col((r) => r.item.time.toISOString()),
      col((r) => r.item.contentType),
      col((r) => r.item.dataschema),
      col((r) => `/projects/${r.source.project_id}/sources/${r.source.id}`),
      col((r) => JSON.stringify(r.item.extensions)),
      col((r) => r.item.receivedAt.toISOString()),
      col((r) => r.item.correlationId),
      col((r) => r.item.deliveryId),
      col((r) => r.fp.toString("hex")),
      col((_r, i) => sealed[i]!),
      col((r) => r.item.body.length),
    ],
  );
}
