/**
 * Per-project quotas: how many sources, destinations, subscriptions and live
 * API keys one project may hold, and how often one source's or destination's
 * secret may be rotated in a day. Every check runs inside the creating
 * transaction after taking the project row `FOR NO KEY UPDATE`, so two
 * creates racing at the limit are serialized and the second one counts the
 * first (READ COMMITTED takes a new snapshot per statement). `NO KEY` keeps
 * the lock from blocking the foreign-key checks of ingest and delivery rows
 * that reference the project.
 *
 * The limits come from the configuration (`ZENMESH_QUOTA_*`), the same for
 * every project, unless an operator set the project's own (`zenmesh quota
 * set`, the `project_quotas` table): a column set there wins, a null one
 * keeps the default. The override is read in the checking transaction, after
 * the project lock, so a change applies to the next create.
 */
import { z } from "zod";
import { appendAudit } from "../audit/index.ts";
import { type ActionContext, type Actor, parseInput, ZenError } from "../core/index.ts";
import type { Tx } from "../db/index.ts";
import type { TenancyDeps } from "./deps.ts";

export interface ProjectQuotas {
  sources: number;
  destinations: number;
  subscriptions: number;
  /** Keys neither revoked nor expired. */
  apiKeys: number;
  /** Secret rotations of one source or one destination in any 24 hours. */
  rotationsPerDay: number;
}

export const DEFAULT_QUOTAS: Readonly<ProjectQuotas> = Object.freeze({
  sources: 100,
  destinations: 100,
  subscriptions: 500,
  apiKeys: 100,
  rotationsPerDay: 24,
});

export type CountedQuota = "sources" | "destinations" | "subscriptions" | "apiKeys";

/** The setting behind each quota, named in the error so an operator knows what to raise. */
export const QUOTA_SETTINGS: Readonly<Record<keyof ProjectQuotas, string>> = {
  sources: "ZENMESH_QUOTA_SOURCES_PER_PROJECT",
  destinations: "ZENMESH_QUOTA_DESTINATIONS_PER_PROJECT",
  subscriptions: "ZENMESH_QUOTA_SUBSCRIPTIONS_PER_PROJECT",
  apiKeys: "ZENMESH_QUOTA_API_KEYS_PER_PROJECT",
  rotationsPerDay: "ZENMESH_QUOTA_ROTATIONS_PER_DAY",
};

// Constant SQL per quota: the table names are never interpolated from input.
const COUNT_SQL: Readonly<Record<CountedQuota, string>> = {
  sources: "select count(*)::int as n from sources where tenant_id = $1 and project_id = $2",
  destinations: "select count(*)::int as n from destinations where tenant_id = $1 and project_id = $2",
  subscriptions: "select count(*)::int as n from subscriptions where tenant_id = $1 and project_id = $2",
  apiKeys: `select count(*)::int as n from api_keys where tenant_id = $1 and project_id = $2
              and revoked_at is null and (expires_at is null or expires_at > $3)`,
};

function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

/** Where a project's limit comes from: the configured default, or the project's own. */
export type QuotaOrigin = "default" | "project";

/** The project's own override, as an operator sets it. */
export const PROJECT_OVERRIDE = "the project's own limit (zenmesh quota set)";

function exceeded(quota: keyof ProjectQuotas, limit: Limit, message: string): ZenError {
  return new ZenError("QUOTA_EXCEEDED", {
    message,
    details: {
      quota,
      limit: limit.value,
      setting: limit.origin === "project" ? PROJECT_OVERRIDE : QUOTA_SETTINGS[quota],
    },
  });
}

interface Limit {
  value: number;
  origin: QuotaOrigin;
}

const COLUMNS: Readonly<Record<keyof ProjectQuotas, string>> = {
  sources: "sources",
  destinations: "destinations",
  subscriptions: "subscriptions",
  apiKeys: "api_keys",
  rotationsPerDay: "rotations_per_day",
};

type OverrideRow = Record<
  "sources" | "destinations" | "subscriptions" | "api_keys" | "rotations_per_day",
  number | null
>;

async function overrides(tx: Tx, tenantId: string, projectId: string): Promise<Partial<ProjectQuotas>> {
  const r = await tx.query<OverrideRow>(
    `select sources, destinations, subscriptions, api_keys, rotations_per_day
       from project_quotas where tenant_id = $1 and project_id = $2`,
    [tenantId, projectId],
  );
  const row = r.rows[0];
  const out: Partial<ProjectQuotas> = {};
  if (row === undefined) return out;
  for (const [quota, column] of Object.entries(COLUMNS) as [keyof ProjectQuotas, keyof OverrideRow][]) {
    const v = row[column];
    if (v !== null && v !== undefined) out[quota] = Number(v);
  }
  return out;
}

async function limitOf(
  tx: Tx,
  quotas: Readonly<ProjectQuotas> | undefined,
  tenantId: string,
  projectId: string,
  quota: keyof ProjectQuotas,
): Promise<Limit> {
  const own = (await overrides(tx, tenantId, projectId))[quota];
  return own === undefined
    ? { value: (quotas ?? DEFAULT_QUOTAS)[quota], origin: "default" }
    : { value: own, origin: "project" };
}

/** Serializes the project's quota-checked writes until this transaction ends. */
async function lockProject(tx: Tx, ctx: ActionContext): Promise<void> {
  const r = await tx.query("select 1 from projects where tenant_id = $1 and id = $2 for no key update", [
    ctx.tenantId,
    projectOf(ctx),
  ]);
  if (r.rows.length === 0) throw new ZenError("NOT_FOUND");
}

/** Refuses one more `quota` in the caller's project when it already holds the limit. Call before inserting. */
export async function checkProjectQuota(
  tx: Tx,
  quotas: Readonly<ProjectQuotas> | undefined,
  ctx: ActionContext,
  quota: CountedQuota,
  now: Date,
): Promise<void> {
  await lockProject(tx, ctx);
  const limit = await limitOf(tx, quotas, ctx.tenantId, projectOf(ctx), quota);
  const n = await countOf(tx, ctx.tenantId, projectOf(ctx), quota, now);
  if (n >= limit.value) {
    throw exceeded(
      quota,
      limit,
      `The project already holds its limit of ${limit.value} ${QUOTA_NOUNS[quota]}.`,
    );
  }
}

async function countOf(tx: Tx, tenantId: string, projectId: string, quota: CountedQuota, now: Date) {
  const params: unknown[] = [tenantId, projectId];
  if (quota === "apiKeys") params.push(now);
  const r = await tx.query<{ n: number }>(COUNT_SQL[quota], params);
  return Number(r.rows[0]?.n ?? 0);
}

const QUOTA_NOUNS: Readonly<Record<CountedQuota, string>> = {
  sources: "sources",
  destinations: "destinations",
  subscriptions: "subscriptions",
  apiKeys: "live API keys",
};

/**
 * Refuses a secret rotation of this source or destination when it was rotated
 * `rotationsPerDay` times in the last 24 hours. The audit chain is the record
 * of rotations (each appends one entry in its own transaction), so nothing
 * new is stored; the caller holds the resource's row lock, which serializes
 * rotations of one resource. Audit entries are stamped by the wall clock, so
 * the window is measured by it too.
 */
export async function checkRotationQuota(
  tx: Tx,
  quotas: Readonly<ProjectQuotas> | undefined,
  ctx: ActionContext,
  action: "source.secret_rotate" | "destination.secret_rotate",
  targetId: string,
): Promise<void> {
  const limit = await limitOf(tx, quotas, ctx.tenantId, projectOf(ctx), "rotationsPerDay");
  const since = new Date(Date.now() - 86_400_000);
  const r = await tx.query<{ n: number }>(
    `select count(*)::int as n from audit_log
      where tenant_id = $1 and occurred_at > $2 and action = $3 and target_id = $4 and outcome = 'success'`,
    [ctx.tenantId, since, action, targetId],
  );
  if (Number(r.rows[0]?.n ?? 0) >= limit.value) {
    throw exceeded(
      "rotationsPerDay",
      limit,
      `This secret was already rotated ${limit.value} times in the last 24 hours.`,
    );
  }
}

/** One quota of a project as an operator sees it: the limit in force, where it comes from, what is used. */
export interface QuotaReport {
  quota: keyof ProjectQuotas;
  limit: number;
  origin: QuotaOrigin;
  /** Held now; rotations are counted per secret, so none for them. */
  used: number | null;
}

/** Every quota of a project: limits in force and usage. Unknown tenant or project: NOT_FOUND. */
export async function projectQuotaReport(
  deps: TenancyDeps,
  input: { tenantId: string; projectId: string },
): Promise<QuotaReport[]> {
  return deps.db.withTenant(input.tenantId, async (tx) => {
    const p = await tx.query("select 1 from projects where tenant_id = $1 and id = $2", [
      input.tenantId,
      input.projectId,
    ]);
    if (p.rows.length === 0) throw new ZenError("NOT_FOUND", { message: "no such project in this tenant" });
    const own = await overrides(tx, input.tenantId, input.projectId);
    const now = deps.clock.now();
    const out: QuotaReport[] = [];
    for (const quota of Object.keys(COLUMNS) as (keyof ProjectQuotas)[]) {
      const set = own[quota];
      out.push({
        quota,
        limit: set ?? (deps.quotas ?? DEFAULT_QUOTAS)[quota],
        origin: set === undefined ? "default" : "project",
        used:
          quota === "rotationsPerDay" ? null : await countOf(tx, input.tenantId, input.projectId, quota, now),
      });
    }
    return out;
  });
}

const limitValue = (max: number) => z.number().int().min(0).max(max).nullable().optional();
const OVERRIDE_INPUT = z.strictObject({
  sources: limitValue(1_000_000),
  destinations: limitValue(1_000_000),
  subscriptions: limitValue(1_000_000),
  apiKeys: limitValue(1_000_000),
  rotationsPerDay: limitValue(10_000),
});

/** What an operator changes: a number sets the project's own limit, null returns it to the default; absent keeps it. */
export type QuotaOverrides = { [K in keyof ProjectQuotas]?: number | null };

/**
 * Sets or clears a project's own limits, audited in the tenant's chain
 * (`project.quotas_set`, old and new values). A lower limit than what the
 * project holds refuses new creates only; nothing held is removed.
 */
export async function setProjectQuotas(
  deps: TenancyDeps,
  input: { tenantId: string; projectId: string; actor: Actor; correlationId: string; set: QuotaOverrides },
): Promise<QuotaReport[]> {
  const set = parseInput(OVERRIDE_INPUT, input.set);
  if (Object.keys(set).length === 0) {
    throw new ZenError("VALIDATION_FAILED", { message: "name at least one quota to set or reset" });
  }
  await deps.db.withTenant(input.tenantId, async (tx) => {
    const p = await tx.query("select 1 from projects where tenant_id = $1 and id = $2 for no key update", [
      input.tenantId,
      input.projectId,
    ]);
    if (p.rows.length === 0) throw new ZenError("NOT_FOUND", { message: "no such project in this tenant" });
    const before = await overrides(tx, input.tenantId, input.projectId);
    const after: Partial<ProjectQuotas> = { ...before };
    for (const [quota, value] of Object.entries(set) as [keyof ProjectQuotas, number | null | undefined][]) {
      if (value === null) delete after[quota];
      else if (value !== undefined) after[quota] = value;
    }
    const col = (q: keyof ProjectQuotas) => after[q] ?? null;
    if (Object.keys(after).length === 0) {
      await tx.query("delete from project_quotas where tenant_id = $1 and project_id = $2", [
        input.tenantId,
        input.projectId,
      ]);
    } else {
      await tx.query(
        `insert into project_quotas (tenant_id, project_id, sources, destinations, subscriptions, api_keys, rotations_per_day, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (tenant_id, project_id) do update set
           sources = excluded.sources, destinations = excluded.destinations, subscriptions = excluded.subscriptions,
           api_keys = excluded.api_keys, rotations_per_day = excluded.rotations_per_day, updated_at = excluded.updated_at`,
        [
          input.tenantId,
          input.projectId,
          col("sources"),
          col("destinations"),
          col("subscriptions"),
          col("apiKeys"),
          col("rotationsPerDay"),
          deps.clock.now(),
        ],
      );
    }
    await appendAudit(tx, {
      tenantId: input.tenantId,
      actor: input.actor,
      action: "project.quotas_set",
      outcome: "success",
      target: { type: "project", id: input.projectId },
      projectId: input.projectId,
      correlationId: input.correlationId,
      // Flat, as audit details are: each quota's own limit before and after (null: the default).
      details: Object.fromEntries(
        (Object.keys(COLUMNS) as (keyof ProjectQuotas)[]).flatMap((q) => [
          [`${COLUMNS[q]}_before`, before[q] ?? null],
          [COLUMNS[q], after[q] ?? null],
        ]),
      ),
    });
  });
  return projectQuotaReport(deps, input);
}
