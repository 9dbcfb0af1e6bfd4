/**
 * The backend's side of delivery: the queue and its scheduler (which hands
 * due attempts to egress over mTLS), the fan-out that runs inside every
 * ingest transaction, and the internal routes egress reports results on and
 * the ingester gives back fast-path leases on. Only the backend touches the
 * schedule; egress and the ingester only ever hold leases.
 */
import type { Config } from "../config/index.ts";
import { systemClock, ZenError } from "../core/index.ts";
import type { Tx } from "../db/index.ts";
import {
  type AttemptReport,
  applyReports,
  createScheduler,
  createTableQueue,
  type DeliveryQueue,
  type DispatchBatch,
  type EgressLink,
  expandDeliveries,
  type Scheduler,
  type StoredEvent,
} from "../deliver/index.ts";
import type { IdentitySource } from "../identity/types.ts";
import { buildEnvelope } from "../ingest/cloudevents/index.ts";
import type { StoredEventFacts } from "../ingest/store/index.ts";
import type { Logger } from "../log/index.ts";
import { createInternalClient, type InternalClient, type InternalRoute } from "../mesh/index.ts";
import type { Services } from "./services.ts";

export interface BackendDelivery {
  queue: DeliveryQueue;
  scheduler: Scheduler;
  routes: InternalRoute[];
  /** The fan-out for one ingest request's transactions, collecting what the fast path may send. */
  fanOut(
    into: DispatchBatch,
  ): (tx: Tx, tenantId: string, events: readonly StoredEventFacts[], now: Date) => Promise<void>;
  /** Where egress listens (learned from the supervisor in dev). */
  setEgressUrl(url: string): void;
  close(): Promise<void>;
}

const MAX_REPORTS = 5000;
/** The longest timeout a destination may set (destinations.timeout_ms). */
const MAX_DESTINATION_TIMEOUT_MS = 60_000;

export function toStoredEvents(events: readonly StoredEventFacts[]): StoredEvent[] {
  return events.map((e) => ({
    projectId: e.projectId,
    sourceId: e.sourceId,
    payload: e.item.body.toString("base64"),
    envelope: buildEnvelope({
      eventId: e.eventId,
      projectId: e.projectId,
      sourceId: e.sourceId,
      type: e.item.type,
      subject: e.item.subject,
      time: e.item.time,
      datacontenttype: e.item.contentType,
      dataschema: e.item.dataschema,
      correlationId: e.item.correlationId,
      extensions: e.item.extensions,
    }),
  }));
}

export function startBackendDelivery(
  svc: Services,
  config: Config,
  logger: Logger,
  identity: IdentitySource,
): BackendDelivery {
  const td = config.mesh.trustDomain;
  const id = (p: string) => `spiffe://${td}/${p}`;
  const d = config.deliver;
  const queue = createTableQueue(svc.db);
  const leaseMs = d.leaseSeconds * 1000;
  if (leaseMs < MAX_DESTINATION_TIMEOUT_MS + 2000) {
    logger.warn(
      { lease_seconds: d.leaseSeconds },
      "ZENMESH_DELIVER_LEASE_SECONDS is below the longest destination timeout (60 s): slow attempts may outlive their lease and be repeated",
    );
  }
  const cooldownMs = d.circuitCooldownSeconds * 1000;
  let egressClient: InternalClient | undefined;
  const setEgressUrl = (url: string) => {
    const previous = egressClient;
    egressClient = createInternalClient({
      identity,
      trustDomain: td,
      baseUrl: url,
      expectServer: id("egress"),
      timeoutMs: 15_000,
    });
    previous?.close().catch(() => {});
  };
  if (d.egressUrl) setEgressUrl(d.egressUrl);
  const link: EgressLink = {
    async dispatch(batch) {
      if (!egressClient) throw new ZenError("UNAVAILABLE", { message: "egress is not known yet" });
      const r = await egressClient.request("POST", "/internal/dispatch", batch);
      if (r.status !== 202) throw new ZenError("UNAVAILABLE", { message: `egress answered ${r.status}` });
    },
  };
  const scheduler = createScheduler({
    db: svc.db,
    zenlock: svc.zenlock,
    queue,
    clock: systemClock,
    logger,
    egress: () => (egressClient ? link : undefined),
    leaseMs,
    cooldownMs,
    pollMs: d.pollMs,
  });
  const resultsDeps = {
    db: svc.db,
    zenlock: svc.zenlock,
    queue,
    leaseMs,
    clock: systemClock,
    random: Math.random,
    circuit: { failureThreshold: d.circuitFailureThreshold, cooldownMs },
    disableAfterMs: d.disableAfterSeconds * 1000,
    actor: { type: "workload" as const, spiffeId: id("backend") },
  };
  const json = <T>(body: Buffer): T => {
    try {
      return JSON.parse(body.toString("utf8")) as T;
    } catch (err) {
      throw new ZenError("MALFORMED_REQUEST", { cause: err });
    }
  };
  const signed = config.mesh.hopSigning ? "required" : "optional";
  const routes: InternalRoute[] = [
    {
      method: "POST",
      path: "/internal/delivery-results",
      allow: [id("egress")],
      signed,
      async handler(req) {
        const { reports } = json<{ reports?: AttemptReport[] }>(req.body);
        if (!Array.isArray(reports) || reports.length > MAX_REPORTS) {
          throw new ZenError("VALIDATION_FAILED", {
            message: `reports must be an array of at most ${MAX_REPORTS}`,
          });
        }
        const valid = reports.filter(
          (r) =>
            typeof r?.deliveryId === "string" &&
            typeof r.leaseToken === "string" &&
            typeof r.startedAt === "string" &&
            !Number.isNaN(Date.parse(r.startedAt)) &&
            typeof r.outcome?.kind === "string",
        );
        const counts = await applyReports(resultsDeps, valid);
        if (counts.retrying + counts.deferred > 0) scheduler.kick();
        return { status: 200, body: { ...counts, invalid: reports.length - valid.length } };
      },
    },
    {
      method: "POST",
      path: "/internal/deliveries/release",
      allow: [id("ingester")],
      signed,
      async handler(req) {
        const { leases } = json<{ leases?: { deliveryId: string; leaseToken: string }[] }>(req.body);
        if (!Array.isArray(leases) || leases.length > MAX_REPORTS) {
          throw new ZenError("VALIDATION_FAILED", {
            message: `leases must be an array of at most ${MAX_REPORTS}`,
          });
        }
        const ok = leases.filter(
          (l) => typeof l?.deliveryId === "string" && typeof l.leaseToken === "string",
        );
        const released = await queue.release(ok, systemClock.now());
        if (released > 0) scheduler.kick();
        return { status: 200, body: { released } };
      },
    },
  ];
  return {
    queue,
    scheduler,
    routes,
    setEgressUrl,
    fanOut(into) {
      return async (tx, tenantId, events, now) => {
        const batch = await expandDeliveries(
          { zenlock: svc.zenlock, queue, leaseMs },
          tx,
          tenantId,
          toStoredEvents(events),
          now,
          { fastPath: egressClient !== undefined },
        );
        into.jobs.push(...batch.jobs);
        Object.assign(into.events, batch.events);
        Object.assign(into.destinations, batch.destinations);
      };
    },
    async close() {
      await scheduler.close();
      await egressClient?.close();
    },
  };
}
