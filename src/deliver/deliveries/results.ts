/**
 * What egress reports, applied by the backend, which owns the schedule:
 * every attempt is recorded; a success finishes the delivery; a retryable
 * failure is due again after the destination's schedule (with jitter,
 * honouring Retry-After up to a cap) or, once the schedule is spent, goes to
 * the dead letter queue; a permanent failure dead-letters at once. Only the
 * lease holder's report moves a delivery's schedule, so a report from a lease
 * that expired and was claimed again cannot disturb the newer attempt — but a
 * success always counts: the target has the event. Each destination's
 * circuit breaker follows the results in the same transaction.
 */
import type { Actor, Clock } from "../../core/index.ts";
import type { Database, Tx } from "../../db/index.ts";
import { type CircuitConfig, type CircuitState, failingFor, onResult } from "../circuit.ts";
import {
  type AttemptVerdict,
  classifyAttempt,
  DEFAULT_JITTER,
  nextAttemptDelay,
  parseRetryAfter,
} from "../retry.ts";
import type { AttemptReport, ReportedOutcome } from "../types.ts";
import { type HealthDeps, onCircuitTransition, onFailingTooLong } from "./health.ts";
import type { DeliveryQueue } from "./queue.ts";

export interface ResultsDeps extends HealthDeps {
  db: Database;
  queue: DeliveryQueue;
  clock: Clock;
  random: () => number;
  circuit: CircuitConfig;
  /** A destination failing continuously for this long is disabled. */
  disableAfterMs: number;
  actor: Actor;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  project_id: string;
  destination_id: string;
  status: string;
  attempts: number;
  schedule_offset: number;
  retry_schedule: number[];
  retry_after_cap_seconds: number;
}

interface GateRow {
  destination_id: string;
  state: string;
  consecutive_failures: number;
  opened_at: Date | null;
  failing_since: Date | null;
}

const DETAIL_MAX = 1024;

export interface AppliedCounts {
  succeeded: number;
  retrying: number;
  dead: number;
  deferred: number;
  stale: number;
}

function verdictOf(o: Exclude<ReportedOutcome, { kind: "deferred" }>): AttemptVerdict {
  return classifyAttempt(o.kind === "response" ? { kind: "response", status: o.status } : o);
}

function detailOf(o: Exclude<ReportedOutcome, { kind: "deferred" }>): string {
  const text = o.kind === "response" ? o.excerpt : o.detail;
  return text.slice(0, DETAIL_MAX);
}

/** Applies a batch of reports; each tenant's in its own transaction. */
export async function applyReports(
  deps: ResultsDeps,
  reports: readonly AttemptReport[],
): Promise<AppliedCounts> {
  const counts: AppliedCounts = { succeeded: 0, retrying: 0, dead: 0, deferred: 0, stale: 0 };
  const leases = await deps.queue.leases(reports.map((r) => r.deliveryId));
  const byTenant = new Map<string, AttemptReport[]>();
  for (const report of reports) {
    const lease = leases.get(report.deliveryId);
    // No longer queued: it succeeded or dead-lettered meanwhile, and this report changes nothing.
    if (!lease) {
      counts.stale++;
      continue;
    }
    byTenant.set(lease.tenantId, [...(byTenant.get(lease.tenantId) ?? []), report]);
  }
  for (const [tenantId, group] of byTenant) {
    await deps.db.withTenant(tenantId, (tx) => applyTenant(deps, tx, tenantId, group, counts));
  }
  return counts;
}

async function applyTenant(
  deps: ResultsDeps,
  tx: Tx,
  tenantId: string,
  reports: readonly AttemptReport[],
  counts: AppliedCounts,
): Promise<void> {
  const now = deps.clock.now();
  const rows = await tx.query<DeliveryRow>(
    `select d.id, d.event_id, d.project_id, d.destination_id, d.status, d.attempts, d.schedule_offset,
            t.retry_schedule, t.retry_after_cap_seconds
       from deliveries d join destinations t on t.id = d.destination_id and t.tenant_id = d.tenant_id
      where d.tenant_id = $1 and d.id = any($2::text[])
      order by d.id
      for update of d`,
    [tenantId, reports.map((r) => r.deliveryId)],
  );
  const deliveries = new Map(rows.rows.map((r) => [r.id, r]));
  // The lease as it stands now, locked: a claim between the first look and this transaction must win.
  const locked = await tx.query<{ delivery_id: string; lease_token: string | null }>(
    "select delivery_id, lease_token from delivery_queue where delivery_id = any($1::text[]) order by delivery_id for update",
    [reports.map((r) => r.deliveryId)],
  );
  const tokens = new Map(locked.rows.map((r) => [r.delivery_id, r.lease_token]));
  const destinationIds = [...new Set(rows.rows.map((r) => r.destination_id))];
  const gates = await tx.query<GateRow>(
    `select destination_id, state, consecutive_failures, opened_at, failing_since from destination_gates
      where destination_id = any($1::text[]) order by destination_id for update`,
    [destinationIds],
  );
  const circuits = new Map<string, { row: GateRow; state: CircuitState; changed: boolean }>();
  for (const g of gates.rows) {
    circuits.set(g.destination_id, {
      row: g,
      state: {
        state: g.state === "open" || g.state === "half_open" ? g.state : "closed",
        consecutiveFailures: Number(g.consecutive_failures),
        openedAt: g.opened_at === null ? null : new Date(g.opened_at),
        failingSince: g.failing_since === null ? null : new Date(g.failing_since),
      },
      changed: false,
    });
  }

  const finished: string[] = [];
  // Written after the loop, each kind in one statement: a batch of reports costs a fixed number of round trips.
  // Keyed by delivery: a second report of one delivery in a batch supersedes the first, as it did in order.
  const rescheduled = new Map<string, { deliveryId: string; dueAt: Date }>();
  const attempts: AttemptRow[] = [];
  const updates = new Map<string, DeliveryUpdate>();
  for (const report of reports) {
    const d = deliveries.get(report.deliveryId);
    if (d?.status !== "pending") {
      counts.stale++;
      continue;
    }
    const current = tokens.get(report.deliveryId) === report.leaseToken;
    const outcome = report.outcome;
    if (outcome.kind === "deferred") {
      if (current) {
        rescheduled.set(d.id, {
          deliveryId: d.id,
          dueAt: new Date(now.getTime() + Math.max(0, outcome.retryInMs)),
        });
        counts.deferred++;
      } else counts.stale++;
      continue;
    }
    const verdict = verdictOf(outcome);
    const attempt = Number(d.attempts) + 1;
    d.attempts = attempt;
    let next: Date | null = null;
    let status: "pending" | "succeeded" | "dead" = "pending";
    if (verdict.kind === "success") status = "succeeded";
    else if (!current) status = "pending";
    else if (verdict.kind === "fail") status = "dead";
    else {
      const delay = nextAttemptDelay({
        attemptsMade: attempt - Number(d.schedule_offset),
        schedule: d.retry_schedule.map(Number),
        jitter: DEFAULT_JITTER,
        random: deps.random,
        retryAfterSeconds: outcome.kind === "response" ? parseRetryAfter(outcome.retryAfter, now) : undefined,
        retryAfterCapSeconds: Number(d.retry_after_cap_seconds),
      });
      if (delay === null) status = "dead";
      else next = new Date(now.getTime() + delay);
    }
    const statusCode = outcome.kind === "response" ? outcome.status : null;
    const errorClass = verdict.kind === "success" ? null : verdict.errorClass;
    attempts.push({
      deliveryId: d.id,
      attempt,
      startedAt: new Date(report.startedAt),
      latencyMs: Math.max(0, Math.round(report.latencyMs)),
      verdict: verdict.kind,
      statusCode,
      errorClass,
      detail: detailOf(outcome),
      next,
    });
    if (status === "succeeded") {
      counts.succeeded++;
      finished.push(d.id);
      d.status = "succeeded";
    } else if (status === "dead") {
      counts.dead++;
      finished.push(d.id);
      d.status = "dead";
    } else if (current && next) {
      counts.retrying++;
      rescheduled.set(d.id, { deliveryId: d.id, dueAt: next });
    } else counts.stale++;
    updates.set(d.id, { deliveryId: d.id, attempt, status, statusCode, errorClass, next });
    const circuit = circuits.get(d.destination_id);
    if (circuit && circuit.row.state !== "disabled") {
      const r = onResult(circuit.state, verdict.kind === "success", now, deps.circuit);
      circuit.state = r.state;
      circuit.changed = true;
      if (r.transition) {
        await onCircuitTransition(
          deps,
          tx,
          tenantId,
          d.project_id,
          d.destination_id,
          r.transition,
          circuit.row,
          now,
        );
      }
    }
  }
  await writeAttempts(tx, tenantId, attempts);
  await writeDeliveries(tx, tenantId, now, [...updates.values()]);
  await deps.queue.reschedule(tx, [...rescheduled.values()]);
  await deps.queue.remove(tx, finished);
  await settleEvents(tx, tenantId, [
    ...new Set(finished.map((id) => deliveries.get(id)?.event_id).filter((e) => e !== undefined)),
  ]);

  for (const [destinationId, c] of circuits) {
    if (!c.changed) continue;
    const tooLong = failingFor(c.state, now) > deps.disableAfterMs;
    await tx.query(
      `update destination_gates set state = $2, consecutive_failures = $3, opened_at = $4, failing_since = $5,
          updated_at = $6
        where destination_id = $1`,
      [
        destinationId,
        tooLong ? "disabled" : c.state.state,
        c.state.consecutiveFailures,
        c.state.openedAt,
        c.state.failingSince,
        now,
      ],
    );
    if (tooLong) {
      const projectId = rows.rows.find((r) => r.destination_id === destinationId)!.project_id;
      await onFailingTooLong(deps, tx, tenantId, projectId, destinationId, c.state, now);
    }
  }
}

interface AttemptRow {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  latencyMs: number;
  verdict: AttemptVerdict["kind"];
  statusCode: number | null;
  errorClass: string | null;
  detail: string;
  next: Date | null;
}

interface DeliveryUpdate {
  deliveryId: string;
  attempt: number;
  status: "pending" | "succeeded" | "dead";
  statusCode: number | null;
  errorClass: string | null;
  next: Date | null;
}

async function writeAttempts(tx: Tx, tenantId: string, rows: readonly AttemptRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (r: AttemptRow) => T) => rows.map(f);
  await tx.query(
    `insert into delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, verdict, status_code,
       error_class, detail, next_attempt_at)
     select $1, t.delivery_id, t.attempt, t.started_at, t.latency_ms, t.verdict, t.status_code, t.error_class,
            t.detail, t.next_attempt_at
       from unnest($2::text[], $3::integer[], $4::timestamptz[], $5::integer[], $6::text[], $7::integer[],
                   $8::text[], $9::text[], $10::timestamptz[])
            as t(delivery_id, attempt, started_at, latency_ms, verdict, status_code, error_class, detail,
                 next_attempt_at)`,
    [
      tenantId,
      col((r) => r.deliveryId),
      col((r) => r.attempt),
      col((r) => r.startedAt),
      col((r) => r.latencyMs),
      col((r) => r.verdict),
      col((r) => r.statusCode),
      col((r) => r.errorClass),
      col((r) => r.detail),
      col((r) => r.next),
    ],
  );
}

async function writeDeliveries(
  tx: Tx,
  tenantId: string,
  now: Date,
  rows: readonly DeliveryUpdate[],
): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (r: DeliveryUpdate) => T) => rows.map(f);
  await tx.query(
    `update deliveries d set attempts = t.attempts, status = t.status, last_attempt_at = $2,
        last_status = t.last_status, last_error = t.last_error,
        next_attempt_at = case when t.status = 'pending' then coalesce(t.next_at, d.next_attempt_at) else null end,
        succeeded_at = case when t.status = 'succeeded' then $2 else d.succeeded_at end,
        dead_at = case when t.status = 'dead' then $2 else d.dead_at end,
        updated_at = $2
       from unnest($3::text[], $4::integer[], $5::text[], $6::integer[], $7::text[], $8::timestamptz[])
            as t(id, attempts, status, last_status, last_error, next_at)
      where d.tenant_id = $1 and d.id = t.id`,
    [
      tenantId,
      now,
      col((r) => r.deliveryId),
      col((r) => r.attempt),
      col((r) => r.status),
      col((r) => r.statusCode),
      col((r) => r.errorClass),
      col((r) => r.next),
    ],
  );
}

/**
 * An event is `delivered` once every delivery of it succeeded, `dead` once
 * none is pending and one dead-lettered; until then it keeps its status.
 */
export async function settleEvents(tx: Tx, tenantId: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await tx.query(
    `update events e set status = s.status
       from (select d.event_id,
                    case when bool_or(d.status = 'pending') then null
                         when bool_or(d.status = 'dead') then 'dead'
                         else 'delivered' end as status
               from deliveries d where d.tenant_id = $1 and d.event_id = any($2::text[])
              group by d.event_id) s
      where e.tenant_id = $1 and e.id = s.event_id and s.status is not null and e.status <> s.status`,
    [tenantId, [...eventIds]],
  );
}
