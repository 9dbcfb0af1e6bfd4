/**
 * Endpoint health, in the transaction that applied the results: circuit
 * transitions are audited; a destination that recovers replays its dead
 * letters when it opted in; one failing continuously for longer than the
 * configured period is disabled, audited, and announced to the project as a
 * `com.zenmesh.destination.disabled` event, which any subscription naming
 * that type (the project's operator notification endpoint) receives.
 */
import { appendAudit } from "../../audit/index.ts";
import { type Actor, newId } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { CircuitState } from "../circuit.ts";
import { emitSystemEvent, type SystemEventDeps } from "./notify.ts";
import { createRecoveryJob } from "./replay.ts";

export interface HealthDeps extends SystemEventDeps {
  actor: Actor;
}

export const DESTINATION_DISABLED_TYPE = "com.zenmesh.destination.disabled";

export async function onCircuitTransition(
  deps: HealthDeps,
  tx: Tx,
  tenantId: string,
  projectId: string,
  destinationId: string,
  transition: "opened" | "closed" | "reopened",
  before: { failing_since: Date | null },
  now: Date,
): Promise<void> {
  if (transition === "reopened") return;
  await appendAudit(tx, {
    tenantId,
    actor: deps.actor,
    action: transition === "opened" ? "destination.circuit_opened" : "destination.circuit_closed",
    outcome: "success",
    target: { type: "destination", id: destinationId },
    projectId,
    correlationId: newId("correlation"),
    at: now,
  });
  if (transition !== "closed") return;
  const d = await tx.query<{ auto_replay: boolean }>(
    "select auto_replay from destinations where tenant_id = $1 and id = $2",
    [tenantId, destinationId],
  );
  if (d.rows[0]?.auto_replay) {
    const since = before.failing_since === null ? null : new Date(before.failing_since);
    await createRecoveryJob(tx, tenantId, projectId, destinationId, since, now);
  }
}

export async function onFailingTooLong(
  deps: HealthDeps,
  tx: Tx,
  tenantId: string,
  projectId: string,
  destinationId: string,
  state: CircuitState,
  now: Date,
): Promise<void> {
  const r = await tx.query<{ name: string }>(
    `update destinations set enabled = false, disabled_reason = 'failing', disabled_at = $3, updated_at = $3
      where tenant_id = $1 and id = $2 and enabled returning name`,
    [tenantId, destinationId, now],
  );
  if (r.rows.length === 0) return;
  const correlationId = newId("correlation");
  const failingSince = state.failingSince?.toISOString() ?? now.toISOString();
  await appendAudit(tx, {
    tenantId,
    actor: deps.actor,
    action: "destination.disabled",
    outcome: "success",
    target: { type: "destination", id: destinationId },
    projectId,
    correlationId,
    details: {
      reason: "failing",
      failing_since: failingSince,
      consecutive_failures: state.consecutiveFailures,
    },
    at: now,
  });
  await emitSystemEvent(deps, tx, {
    tenantId,
    projectId,
    type: DESTINATION_DISABLED_TYPE,
    subject: destinationId,
    correlationId,
    aboutDestination: destinationId,
    data: {
      destination_id: destinationId,
      name: r.rows[0]!.name,
      reason: "failing",
      failing_since: failingSince,
      consecutive_failures: state.consecutiveFailures,
      disabled_at: now.toISOString(),
    },
    now,
  });
}
