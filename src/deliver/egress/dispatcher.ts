/**
 * Egress's delivery engine. Batches arrive from the backend's scheduler and
 * from the ingester's fast path; each job waits in its destination's lane,
 * which enforces the destination's in-flight and rate limits, so one slow or
 * flooded receiver cannot take every worker. A job that could not start
 * before its lease runs short is reported `deferred` (not an attempt) and
 * the backend schedules it again; the whole engine holds a bounded number of
 * jobs, and one tenant at most its share of them (beyond it, its jobs are
 * deferred the same way, so a flood from one tenant waits in the backend's
 * queue instead of taking every slot). Every attempt's outcome is reported, never thrown; a job whose
 * secrets cannot be opened is a failure of that job alone.
 */
import type { Clock } from "../../core/index.ts";
import type { Logger } from "../../log/index.ts";
import type { BoxKeyPair } from "../box.ts";
import type { AttemptOutcome, OutboundRequest } from "../http/sender.ts";
import type {
  AttemptReport,
  DispatchBatch,
  DispatchDestination,
  DispatchEvent,
  DispatchJob,
} from "../types.ts";
import { renderRequest } from "./render.ts";

export interface Sender {
  send(req: OutboundRequest): Promise<AttemptOutcome>;
}

export interface DispatcherOptions {
  sender: Sender;
  box: BoxKeyPair;
  report(r: AttemptReport): void;
  clock: Clock;
  logger: Logger;
  userAgent: string;
  /** Jobs held at most (queued and in flight); beyond it a job is deferred at once. */
  maxJobs?: number;
  /** The most of `maxJobs` one tenant may hold, in percent; beyond it its jobs are deferred. */
  tenantSharePercent?: number;
}

export interface Dispatcher {
  accept(batch: DispatchBatch): { accepted: number; deferred: number };
  load(): { inFlight: number; queued: number };
  /** Waits for attempts in flight (up to `ms`); queued jobs are deferred. */
  close(ms?: number): Promise<void>;
}

interface Work {
  job: DispatchJob;
  event: DispatchEvent;
  destination: DispatchDestination;
}

interface Lane {
  inFlight: number;
  queue: Work[];
  tokens: number;
  refilledAt: number;
  timer?: NodeJS.Timeout | undefined;
  limit: { maxInFlight: number; rate: number | null };
}

const DEFER_MS = 1000;
/** A tenant at its share is logged at most this often. */
const SHARE_WARN_MS = 60_000;

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const maxJobs = opts.maxJobs ?? 20_000;
  const maxPerTenant = Math.max(1, Math.floor((maxJobs * (opts.tenantSharePercent ?? 25)) / 100));
  const lanes = new Map<string, Lane>();
  const inFlight = new Set<Promise<void>>();
  let held = 0;
  // Jobs held per tenant (an entry only while it holds any), so no tenant fills every slot.
  const heldBy = new Map<string, number>();
  // When each tenant was last said to be at its share (swept at each new warning: at most the tenants of a minute).
  const warnedAt = new Map<string, number>();
  const atShare = (tenantId: string) => {
    const now = Date.now();
    const last = warnedAt.get(tenantId);
    if (last !== undefined && now - last < SHARE_WARN_MS) return;
    for (const [id, at] of warnedAt) if (now - at >= SHARE_WARN_MS) warnedAt.delete(id);
    warnedAt.set(tenantId, now);
    opts.logger.warn(
      { tenant_id: tenantId, max_jobs: maxPerTenant },
      "tenant at its share of egress job slots; its further jobs are deferred",
    );
  };
  const hold = (w: Work) => {
    held++;
    heldBy.set(w.destination.tenantId, (heldBy.get(w.destination.tenantId) ?? 0) + 1);
  };
  const unhold = (w: Work) => {
    held--;
    const n = (heldBy.get(w.destination.tenantId) ?? 1) - 1;
    if (n <= 0) heldBy.delete(w.destination.tenantId);
    else heldBy.set(w.destination.tenantId, n);
  };
  let closing = false;

  const deferred = (job: DispatchJob, retryInMs = DEFER_MS): AttemptReport => ({
    deliveryId: job.deliveryId,
    leaseToken: job.leaseToken,
    startedAt: opts.clock.now().toISOString(),
    latencyMs: 0,
    outcome: { kind: "deferred", retryInMs },
  });

  const attempt = async (w: Work): Promise<AttemptReport> => {
    const started = opts.clock.now();
    const t0 = performance.now();
    let outcome: AttemptOutcome;
    try {
      const req = renderRequest(w.destination, w.event, {
        box: opts.box,
        now: started,
        userAgent: opts.userAgent,
      });
      outcome = await opts.sender.send(req);
    } catch (err) {
      // Never the error itself: it could quote what it failed to open.
      opts.logger.error(
        { delivery_id: w.job.deliveryId, code: (err as { code?: string }).code },
        "attempt failed",
      );
      outcome = {
        kind: "error",
        errorClass: "network",
        detail: "egress could not prepare the request",
        latencyMs: 0,
      };
    }
    const latencyMs = performance.now() - t0;
    return {
      deliveryId: w.job.deliveryId,
      leaseToken: w.job.leaseToken,
      startedAt: started.toISOString(),
      latencyMs,
      outcome:
        outcome.kind === "response"
          ? {
              kind: "response",
              status: outcome.status,
              retryAfter: outcome.retryAfter,
              excerpt: outcome.excerpt,
            }
          : outcome.kind === "refused"
            ? { kind: "refused", reason: outcome.reason, detail: outcome.detail }
            : { kind: "error", errorClass: outcome.errorClass, detail: outcome.detail },
    };
  };

  const refill = (lane: Lane, now: number) => {
    if (lane.limit.rate === null) return;
    lane.tokens = Math.min(lane.limit.rate, lane.tokens + ((now - lane.refilledAt) / 1000) * lane.limit.rate);
    lane.refilledAt = now;
  };

  const pump = (id: string, lane: Lane) => {
    const now = Date.now();
    refill(lane, now);
    while (lane.queue.length > 0 && lane.inFlight < lane.limit.maxInFlight) {
      const w = lane.queue[0]!;
      if (Date.parse(w.job.startBy) < opts.clock.now().getTime() || closing) {
        lane.queue.shift();
        unhold(w);
        opts.report(deferred(w.job));
        continue;
      }
      if (lane.limit.rate !== null && lane.tokens < 1) {
        if (!lane.timer) {
          const wait = Math.ceil(((1 - lane.tokens) / lane.limit.rate) * 1000);
          lane.timer = setTimeout(() => {
            lane.timer = undefined;
            pump(id, lane);
          }, wait);
        }
        return;
      }
      if (lane.limit.rate !== null) lane.tokens -= 1;
      lane.queue.shift();
      lane.inFlight++;
      const p: Promise<void> = attempt(w).then((r) => {
        opts.report(r);
        lane.inFlight--;
        unhold(w);
        inFlight.delete(p);
        pump(id, lane);
      });
      inFlight.add(p);
    }
    if (lane.queue.length === 0 && lane.inFlight === 0 && !lane.timer) lanes.delete(id);
  };

  return {
    accept(batch) {
      let accepted = 0;
      let refused = 0;
      for (const job of batch.jobs) {
        const event = batch.events[job.eventId];
        const destination = batch.destinations[job.destinationId];
        const overShare =
          destination !== undefined && (heldBy.get(destination.tenantId) ?? 0) >= maxPerTenant;
        const full = closing || held >= maxJobs || overShare;
        if (overShare && !closing) atShare(destination.tenantId);
        if (!event || !destination || full) {
          opts.report(deferred(job, full ? DEFER_MS : 0));
          refused++;
          continue;
        }
        let lane = lanes.get(destination.id);
        if (!lane) {
          lane = {
            inFlight: 0,
            queue: [],
            tokens: destination.rateLimitPerSecond ?? 0,
            refilledAt: Date.now(),
            limit: { maxInFlight: 1, rate: null },
          };
          lanes.set(destination.id, lane);
        }
        // The newest batch carries the destination's current limits.
        lane.limit = { maxInFlight: destination.maxInFlight, rate: destination.rateLimitPerSecond };
        const w = { job, event, destination };
        lane.queue.push(w);
        hold(w);
        accepted++;
      }
      for (const [id, lane] of lanes) pump(id, lane);
      return { accepted, deferred: refused };
    },
    load: () => ({ inFlight: inFlight.size, queued: held - inFlight.size }),
    async close(ms = 10_000) {
      closing = true;
      for (const [id, lane] of lanes) {
        clearTimeout(lane.timer);
        lane.timer = undefined;
        pump(id, lane);
      }
      await Promise.race([Promise.all([...inFlight]), new Promise((r) => setTimeout(r, ms).unref())]);
    },
  };
}
