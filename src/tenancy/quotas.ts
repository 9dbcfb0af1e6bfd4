/**
 * Per-project quotas: how many sources, destinations, subscriptions and live
 * API keys one project may hold, and how often one source's or destination's
 * secret may be rotated in a day. Every check runs inside the creating
 * transaction after taking the project row `FOR NO KEY UPDATE`, so two
 * creates racing at the limit are serialized and the second one counts the
 * first (READ COMMITTED takes a new snapshot per statement). `NO KEY` keeps
 * the lock from blocking the foreign-key checks of ingest and delivery rows
 * that reference the project.
 */
import { type ActionContext, ZenError } from "../core/index.ts";
import type { Tx } from "../db/index.ts";

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

function exceeded(quota: keyof ProjectQuotas, limit: number, message: string): ZenError {
  return new ZenError("QUOTA_EXCEEDED", {
    message,
    details: { quota, limit, setting: QUOTA_SETTINGS[quota] },
  });
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
  const limit = (quotas ?? DEFAULT_QUOTAS)[quota];
  await lockProject(tx, ctx);
  const params: unknown[] = [ctx.tenantId, projectOf(ctx)];
  if (quota === "apiKeys") params.push(now);
  const r = await tx.query<{ n: number }>(COUNT_SQL[quota], params);
  if (Number(r.rows[0]?.n ?? 0) >= limit) {
    throw exceeded(quota, limit, `The project already holds its limit of ${limit} ${QUOTA_NOUNS[quota]}.`);
  }
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
  const limit = (quotas ?? DEFAULT_QUOTAS).rotationsPerDay;
  const since = new Date(Date.now() - 86_400_000);
  const r = await tx.query<{ n: number }>(
    `select count(*)::int as n from audit_log
      where tenant_id = $1 and occurred_at > $2 and action = $3 and target_id = $4 and outcome = 'success'`,
    [ctx.tenantId, since, action, targetId],
  );
  if (Number(r.rows[0]?.n ?? 0) >= limit) {
    throw exceeded(
      "rotationsPerDay",
      limit,
      `This secret was already rotated ${limit} times in the last 24 hours.`,
    );
  }
}
