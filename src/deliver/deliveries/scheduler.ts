/**
 * The backend's delivery scheduler: claims due deliveries from the queue
 * (safe across replicas), opens what the attempts need in each tenant's own
 * transaction, and hands the batch to egress. A hand-off that fails gives
 * the leases back at once, so nothing waits for a lease to run out because
 * egress was briefly away; bulk replay jobs advance on the same beat.
 */
import type { Clock } from "../../core/index.ts";
import type { Logger } from "../../log/index.ts";
import { type DispatchBatch, emptyBatch, mergeBatch, splitBatch } from "../types.ts";
import { buildDispatch, type DispatchDeps } from "./dispatch.ts";
import type { Claim } from "./queue.ts";
import { runReplayJobs } from "./replay.ts";

export interface EgressLink {
  /** Resolves once egress accepted the batch; throws when it did not. */
  dispatch(batch: DispatchBatch): Promise<void>;
}

export interface SchedulerDeps extends DispatchDeps {
  clock: Clock;
  logger: Logger;
  /** Where egress is, once known. */
  egress: () => EgressLink | undefined;
  leaseMs: number;
  cooldownMs: number;
  pollMs: number;
  batchSize?: number;
}

export interface Scheduler {
  /** One round: claims, dispatches, advances replay jobs. Returns the claims handed out. */
  tick(): Promise<number>;
  /** Runs a round soon (after a replay, say) instead of at the next poll. */
  kick(): void;
  close(): Promise<void>;
}

const RETRY_HANDOFF_MS = 2000;
/** Payload bytes (base64) in one hand-off to egress. */
const MAX_PART_BYTES = 16 * 1024 * 1024;

export function createScheduler(deps: SchedulerDeps): Scheduler {
  const batchSize = deps.batchSize ?? 200;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let closed = false;
  let warned = false;

  const tick = async (): Promise<number> => {
    const egress = deps.egress();
    const replayed = await runReplayJobs(deps);
    if (!egress) return replayed;
    const now = deps.clock.now();
    const claims = await deps.queue.claim({
      now,
      limit: batchSize,
      leaseMs: deps.leaseMs,
      cooldownMs: deps.cooldownMs,
    });
    if (claims.length === 0) return replayed;
    const byTenant = new Map<string, Claim[]>();
    for (const c of claims) byTenant.set(c.tenantId, [...(byTenant.get(c.tenantId) ?? []), c]);
    const batch = emptyBatch();
    for (const [tenantId, group] of byTenant) {
      try {
        mergeBatch(batch, await buildDispatch(deps, tenantId, group, now));
      } catch (err) {
        deps.logger.error({ err, tenant_id: tenantId }, "could not prepare deliveries; they are retried");
        await deps.queue.release(group, new Date(now.getTime() + RETRY_HANDOFF_MS));
      }
    }
    let handed = 0;
    // Parts well under egress's body limit, however large the payloads.
    for (const part of splitBatch(batch, MAX_PART_BYTES)) {
      try {
        await egress.dispatch(part);
        handed += part.jobs.length;
        if (warned) deps.logger.info("egress reachable again");
        warned = false;
      } catch (err) {
        if (!warned) deps.logger.warn({ err }, "egress unreachable; deliveries wait");
        warned = true;
        await deps.queue.release(
          part.jobs.map((j) => ({ deliveryId: j.deliveryId, leaseToken: j.leaseToken })),
          new Date(deps.clock.now().getTime() + RETRY_HANDOFF_MS),
        );
      }
    }
    return handed === 0 && batch.jobs.length > 0 ? 0 : claims.length;
  };

  const loop = () => {
    if (closed) return;
    running = tick()
      .catch((err: unknown) => {
        deps.logger.error({ err }, "delivery scheduler round failed");
        return 0;
      })
      .then((n) => {
        running = undefined;
        if (closed) return;
        timer = setTimeout(loop, n >= batchSize ? 0 : deps.pollMs);
        timer.unref();
      });
  };
  timer = setTimeout(loop, deps.pollMs);
  timer.unref();

  return {
    tick,
    kick() {
      if (closed || running) return;
      clearTimeout(timer);
      timer = setTimeout(loop, 0);
      timer.unref();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}
