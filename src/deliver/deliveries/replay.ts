/**
 * Replay: a delivery goes back into the queue with its retry schedule
 * started over and its `webhook-id` (the event id) unchanged, so a receiver
 * that already has it deduplicates. One delivery at a time from the API, or
 * in bulk by filter as a background job with progress, or automatically when
 * a broken destination recovers (opt-in per destination). A bulk job takes
 * what was dead when it was created; deliveries that die while it runs wait
 * for the next one.
 */
import { appendAudit } from "../../audit/index.ts";
import { type ActionContext, newId, ZenError } from "../../core/index.ts";
import type { Database, Tx } from "../../db/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import type { DeliveryQueue } from "./queue.ts";

export interface ReplayDeps {
  db: Database;
  queue: DeliveryQueue;
  clock: { now(): Date };
}

export interface ReplayFilter {
  destination_id?: string | undefined;
  /** Exact type, or a prefix ending in `*`. */
  event_type?: string | undefined;
  dead_after?: string | undefined;
  dead_before?: string | undefined;
}

export interface ReplayJobView {
  id: string;
  project_id: string;
  status: "running" | "done" | "failed";
  trigger: "api" | "recovery";
  filter: ReplayFilter;
  total: number;
  replayed: number;
  created_at: string;
  finished_at: string | null;
}

interface Requeue {
  id: string;
  destination_id: string;
  seq: string | number;
}

/** Back into the queue, due now, schedule restarted. Rows must be locked and dead or succeeded. */
async function requeue(deps: ReplayDeps, tx: Tx, tenantId: string, rows: readonly Requeue[], now: Date) {
  if (rows.length === 0) return;
  const ids = rows.map((r) => r.id);
  await tx.query(
    `update deliveries set status = 'pending', schedule_offset = attempts, replays = replays + 1, dead_at = null,
        next_attempt_at = $3, updated_at = $3
      where tenant_id = $1 and id = any($2::text[])`,
    [tenantId, ids, now],
  );
  // Their events are on their way again.
  await tx.query(
    `update events set status = 'received'
      where tenant_id = $1 and id in (select event_id from deliveries where tenant_id = $1 and id = any($2::text[]))`,
    [tenantId, ids],
  );
  const fifo = await tx.query<{ id: string; fifo: boolean }>(
    "select id, fifo from destinations where tenant_id = $1 and id = any($2::text[])",
    [tenantId, [...new Set(rows.map((r) => r.destination_id))]],
  );
  const isFifo = new Map(fifo.rows.map((r) => [r.id, r.fifo]));
  await deps.queue.enqueue(
    tx,
    rows.map((r) => ({
      deliveryId: r.id,
      tenantId,
      destinationId: r.destination_id,
      seq: Number(r.seq),
      fifo: isFifo.get(r.destination_id) ?? false,
      dueAt: now,
    })),
  );
}

function projectOf(ctx: ActionContext): string {
  if (!ctx.projectId) throw new ZenError("INTERNAL", { message: "project-scoped action without a project" });
  return ctx.projectId;
}

/** Replays one delivery that has finished (dead-lettered, or succeeded and wanted again). */
export async function replayDelivery(
  deps: ReplayDeps,
  ctx: ActionContext,
  deliveryId: string,
): Promise<void> {
  requirePermission(ctx, "deliveries:write");
  const projectId = projectOf(ctx);
  const now = deps.clock.now();
  await deps.db.withTenant(ctx.tenantId, async (tx) => {
    const r = await tx.query<Requeue & { status: string }>(
      `select id, destination_id, seq, status from deliveries
        where tenant_id = $1 and project_id = $2 and id = $3 for update`,
      [ctx.tenantId, projectId, deliveryId],
    );
    const row = r.rows[0];
    if (!row) throw new ZenError("NOT_FOUND");
    if (row.status === "pending") {
      throw new ZenError("CONFLICT", {
        message: "The delivery is still scheduled; it cannot be replayed yet.",
      });
    }
    await requeue(deps, tx, ctx.tenantId, [row], now);
    await appendAudit(tx, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "delivery.replay",
      outcome: "success",
      target: { type: "delivery", id: deliveryId },
      projectId,
      correlationId: ctx.correlationId,
      details: { previous_status: row.status },
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
  });
}

/** The SQL condition and parameters selecting a job's dead deliveries (alias d for deliveries, e for events). */
function filterSql(filter: ReplayFilter, first: number): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${first + params.length - 1}`;
  };
  if (filter.destination_id !== undefined) parts.push(`d.destination_id = ${p(filter.destination_id)}`);
  if (filter.event_type !== undefined) {
    const t = filter.event_type;
    if (t === "*") parts.push("true");
    else if (t.endsWith("*")) {
      const prefix = t.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`);
      parts.push(`e.type like ${p(`${prefix}%`)}`);
    } else parts.push(`e.type = ${p(t)}`);
  }
  if (filter.dead_after !== undefined) parts.push(`d.dead_at >= ${p(new Date(filter.dead_after))}`);
  if (filter.dead_before !== undefined) parts.push(`d.dead_at < ${p(new Date(filter.dead_before))}`);
  return { sql: parts.length === 0 ? "true" : parts.join(" and "), params };
}

async function insertJob(
  tx: Tx,
  tenantId: string,
  projectId: string,
  filter: ReplayFilter,
  trigger: "api" | "recovery",
  createdBy: string | null,
  now: Date,
): Promise<ReplayJobView> {
  const f = filterSql(filter, 4);
  const count = await tx.query<{ n: string | number }>(
    `select count(*) as n from deliveries d join events e on e.id = d.event_id and e.tenant_id = d.tenant_id
      where d.tenant_id = $1 and d.project_id = $2 and d.status = 'dead' and d.dead_at <= $3 and ${f.sql}`,
    [tenantId, projectId, now, ...f.params],
  );
  const id = newId("replayJob");
  const total = Number(count.rows[0]?.n ?? 0);
  const done = total === 0;
  await tx.query(
    `insert into replay_jobs (id, tenant_id, project_id, filter, status, trigger, total, created_by, created_at,
       finished_at)
     values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10)`,
    [
      id,
      tenantId,
      projectId,
      JSON.stringify(filter),
      done ? "done" : "running",
      trigger,
      total,
      createdBy,
      now,
      done ? now : null,
    ],
  );
  if (!done)
    await tx.query("insert into replay_job_directory (job_id, tenant_id) values ($1, $2)", [id, tenantId]);
  return {
    id,
    project_id: projectId,
    status: done ? "done" : "running",
    trigger,
    filter,
    total,
    replayed: 0,
    created_at: now.toISOString(),
    finished_at: done ? now.toISOString() : null,
  };
}

/** Starts a bulk replay of the project's dead letter queue, by filter. */
export async function createReplayJob(
  deps: ReplayDeps,
  ctx: ActionContext,
  filter: ReplayFilter,
): Promise<ReplayJobView> {
  requirePermission(ctx, "deliveries:write");
  const projectId = projectOf(ctx);
  const now = deps.clock.now();
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    if (filter.destination_id !== undefined) {
      const d = await tx.query(
        "select 1 from destinations where tenant_id = $1 and project_id = $2 and id = $3",
        [ctx.tenantId, projectId, filter.destination_id],
      );
      if (d.rows.length === 0) throw new ZenError("NOT_FOUND");
    }
    const job = await insertJob(tx, ctx.tenantId, projectId, filter, "api", actorName(ctx), now);
    await appendAudit(tx, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "dlq.replay",
      outcome: "success",
      target: { type: "replay_job", id: job.id },
      projectId,
      correlationId: ctx.correlationId,
      details: {
        total: job.total,
        ...(filter.destination_id ? { destination_id: filter.destination_id } : {}),
      },
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
    return job;
  });
}

function actorName(ctx: ActionContext): string | null {
  const a = ctx.actor;
  return a.type === "workload" ? a.spiffeId : a.type === "anonymous" ? null : a.id;
}

/** A recovered destination's dead letters since its failure began (auto-replay). */
export function createRecoveryJob(
  tx: Tx,
  tenantId: string,
  projectId: string,
  destinationId: string,
  since: Date | null,
  now: Date,
): Promise<ReplayJobView> {
  return insertJob(
    tx,
    tenantId,
    projectId,
    { destination_id: destinationId, ...(since ? { dead_after: since.toISOString() } : {}) },
    "recovery",
    null,
    now,
  );
}

interface JobRow {
  id: string;
  project_id: string;
  status: ReplayJobView["status"];
  trigger: ReplayJobView["trigger"];
  filter: ReplayFilter;
  total: number;
  replayed: number;
  created_at: Date;
  finished_at: Date | null;
}

export function jobView(r: JobRow): ReplayJobView {
  return {
    id: r.id,
    project_id: r.project_id,
    status: r.status,
    trigger: r.trigger,
    filter: r.filter,
    total: Number(r.total),
    replayed: Number(r.replayed),
    created_at: new Date(r.created_at).toISOString(),
    finished_at: r.finished_at === null ? null : new Date(r.finished_at).toISOString(),
  };
}

export async function getReplayJob(
  deps: ReplayDeps,
  ctx: ActionContext,
  jobId: string,
): Promise<ReplayJobView> {
  requirePermission(ctx, "deliveries:read");
  const projectId = projectOf(ctx);
  const r = await deps.db.withTenant(ctx.tenantId, (tx) =>
    tx.query<JobRow>(
      `select id, project_id, status, trigger, filter, total, replayed, created_at, finished_at from replay_jobs
        where tenant_id = $1 and project_id = $2 and id = $3`,
      [ctx.tenantId, projectId, jobId],
    ),
  );
  const row = r.rows[0];
  if (!row) throw new ZenError("NOT_FOUND");
  return jobView(row);
}

/** One step of every running job: up to `pageSize` deliveries each. Returns how many were replayed. */
export async function runReplayJobs(deps: ReplayDeps, pageSize = 500): Promise<number> {
  const jobs = await deps.db.withGlobal((tx) =>
    tx.query<{ job_id: string; tenant_id: string }>(
      "select job_id, tenant_id from replay_job_directory limit 100",
    ),
  );
  let total = 0;
  for (const { job_id, tenant_id } of jobs.rows) {
    total += await deps.db.withTenant(tenant_id, async (tx) => {
      const now = deps.clock.now();
      const j = await tx.query<JobRow>(
        `select id, project_id, status, trigger, filter, total, replayed, created_at, finished_at from replay_jobs
          where tenant_id = $1 and id = $2 for update skip locked`,
        [tenant_id, job_id],
      );
      const job = j.rows[0];
      if (!job) return 0;
      if (job.status !== "running") {
        await tx.query("delete from replay_job_directory where job_id = $1", [job_id]);
        return 0;
      }
      const f = filterSql(job.filter, 5);
      const rows = await tx.query<Requeue>(
        `select d.id, d.destination_id, d.seq from deliveries d
           join events e on e.id = d.event_id and e.tenant_id = d.tenant_id
          where d.tenant_id = $1 and d.project_id = $2 and d.status = 'dead' and d.dead_at <= $3 and ${f.sql}
          order by d.seq
          limit $4
          for update of d skip locked`,
        [tenant_id, job.project_id, job.created_at, pageSize, ...f.params],
      );
      await requeue(deps, tx, tenant_id, rows.rows, now);
      const finished = rows.rows.length < pageSize;
      await tx.query(
        `update replay_jobs set replayed = replayed + $3, status = $4, finished_at = $5
          where tenant_id = $1 and id = $2`,
        [tenant_id, job_id, rows.rows.length, finished ? "done" : "running", finished ? now : null],
      );
      if (finished) await tx.query("delete from replay_job_directory where job_id = $1", [job_id]);
      return rows.rows.length;
    });
  }
  return total;
}
