/**
 * End to end: GitHub-signed webhooks in, Standard Webhooks-signed
 * CloudEvents out to a receiver process that verifies every delivery with
 * the `standardwebhooks` package. The sender records the send time of each
 * acknowledged event id (the 202's `id`, which is the delivery's
 * webhook-id); the receiver records each first arrival; latency is arrival
 * minus send, throughput is deliveries over the span from the first send to
 * the last arrival. Fan-out: the same with 100 destinations per event.
 */
import { join } from "node:path";
import { type Helper, startHelper } from "../lib/children.ts";
import { CONNECTIONS, type Context, maxRequests } from "../lib/context.ts";
import { type LoadResult, round, runLoad } from "../lib/load.ts";
import { type LatencySummary, summarize } from "../lib/stats.ts";
import { githubRequests, KiB } from "../lib/webhooks.ts";
import {
  createDestination,
  createSource,
  createTenantCli,
  type Source,
  startZenmesh,
  subscribe,
  type Tenant,
  warmSource,
  type Zenmesh,
} from "../lib/zenmesh.ts";
import { warnings } from "./ingest.ts";

const RECEIVER = join(import.meta.dirname, "..", "lib", "receiver.ts");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stats {
  arrivals: number;
  distinct: number;
  duplicates: number;
  failures: number;
  failure_samples: string[];
}

export interface DeliveryPhase {
  ingest: LoadResult;
  acknowledged: number;
  destinations: number;
  deliveries_expected: number;
  delivered: number;
  missing: number;
  /** Deliveries (events × destinations) per second, first send to last arrival. */
  deliveries_per_s: number;
  /** Delivered events per second (each event at every destination). */
  events_per_s: number;
  send_to_arrival_ms: LatencySummary;
  span_s: number;
  waited_for_arrivals_s: number;
}

export interface E2eResult {
  max: DeliveryPhase;
  half: DeliveryPhase;
  duplicates: number;
  verify_failures: number;
  verify_failure_samples: string[];
  role_exits: string[];
  warnings: { count: number; samples: string[] };
  settings: Record<string, unknown>;
}

export async function phase(
  ctx: Context,
  z: Zenmesh,
  receiver: Helper,
  source: Source,
  destinations: number,
  load: { durationMs: number; maxRequests: number; rate?: number },
  label: string,
): Promise<DeliveryPhase> {
  const sentAt = new Map<string, number>();
  const before = await receiver.ask<Stats>({ type: "stats" });
  ctx.log(
    `${label}: sending${load.rate ? ` at ${Math.round(load.rate)} req/s` : " at max rate"} for up to ${load.durationMs / 1000} s`,
  );
  const ingest = await runLoad({
    origin: z.ingest,
    connections: CONNECTIONS,
    ...load,
    make: githubRequests([source], KiB),
    onResponse(_n, status, body, at) {
      if (status !== 202) return;
      const id = (JSON.parse(body) as { id?: string }).id;
      if (id) sentAt.set(id, at);
    },
  });
  const expected = sentAt.size * destinations;
  const wait0 = performance.now();
  let last = before.distinct;
  let lastChange = performance.now();
  for (;;) {
    const s = await receiver.ask<Stats>({ type: "stats" });
    const got = s.distinct - before.distinct;
    if (got >= expected) break;
    if (s.distinct !== last) {
      last = s.distinct;
      lastChange = performance.now();
    }
    const now = performance.now();
    if (now - wait0 > ctx.d.drainMs || now - lastChange > 15_000) break;
    await sleep(200);
  }
  const waited = (performance.now() - wait0) / 1000;
  const taken = await receiver.ask<{ keys: string[]; times: number[] }>({ type: "take" });
  const latencies: number[] = [];
  let firstSend = Number.POSITIVE_INFINITY;
  for (const t of sentAt.values()) firstSend = Math.min(firstSend, t);
  let lastArrival = firstSend;
  const perEvent = new Map<string, number>();
  taken.keys.forEach((key, i) => {
    const id = key.slice(key.indexOf(" ") + 1);
    const sent = sentAt.get(id);
    if (sent === undefined) return;
    const at = taken.times[i]!;
    latencies.push(at - sent);
    lastArrival = Math.max(lastArrival, at);
    perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
  });
  const delivered = latencies.length;
  const span = Math.max(0.001, (lastArrival - firstSend) / 1000);
  const complete = [...perEvent.values()].filter((n) => n === destinations).length;
  const r: DeliveryPhase = {
    ingest,
    acknowledged: sentAt.size,
    destinations,
    deliveries_expected: expected,
    delivered,
    missing: expected - delivered,
    deliveries_per_s: round(delivered / span, 0),
    events_per_s: round(complete / span, 1),
    send_to_arrival_ms: summarize(latencies),
    span_s: round(span, 2),
    waited_for_arrivals_s: round(waited, 1),
  };
  ctx.log(
    `${label}: ${delivered}/${expected} delivered, ${r.deliveries_per_s} deliveries/s, ` +
      `send→arrival p50 ${r.send_to_arrival_ms.p50} ms p99 ${r.send_to_arrival_ms.p99} ms`,
  );
  return r;
}

async function setup(ctx: Context, scenario: string, destinations: number) {
  const receiver = await startHelper(RECEIVER, {});
  const z = await startZenmesh(ctx.zenmeshOptions).catch(async (err) => {
    await receiver.stop();
    throw err;
  });
  ctx.notePids(scenario, z.pids());
  const stop = async () => {
    ctx.notePids(scenario, z.pids());
    await z.stop();
    await receiver.stop();
  };
  try {
    const t: Tenant = createTenantCli(z, "acme");
    const source = await createSource(z, t);
    let next = 0;
    const one = async () => {
      while (next < destinations) {
        const path = `/d/${next++}`;
        const d = await createDestination(z, t, `http://127.0.0.1:${receiver.port}${path}`);
        await receiver.ask({ type: "add", path, secret: d.secret });
        await subscribe(z, t, d.id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, destinations) }, one));
    await warmSource(z, source);
    // The first event reaches every destination before the measured phases start.
    const end = Date.now() + 60_000;
    while ((await receiver.ask<Stats>({ type: "stats" })).distinct < destinations) {
      if (Date.now() > end) throw new Error("the warm-up event did not reach every destination in 60 s");
      await sleep(100);
    }
    await receiver.ask({ type: "take" });
    return { z, receiver, source, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function finish(z: Zenmesh, receiver: Helper) {
  const s = await receiver.ask<Stats>({ type: "stats" });
  return {
    duplicates: s.duplicates,
    verify_failures: s.failures,
    verify_failure_samples: s.failure_samples,
    role_exits: z.exits(),
    warnings: warnings(z),
  };
}

export async function endToEnd(ctx: Context): Promise<E2eResult> {
  await ctx.ceiling.max(KiB);
  const { z, receiver, source, stop } = await setup(ctx, "e2e", 1);
  try {
    const max = await phase(
      ctx,
      z,
      receiver,
      source,
      1,
      { durationMs: ctx.d.e2eMs, maxRequests: maxRequests(ctx.d.e2eMs) },
      "e2e",
    );
    const rate = Math.max(1, max.deliveries_per_s / 2);
    const half = await phase(
      ctx,
      z,
      receiver,
      source,
      1,
      { durationMs: ctx.d.rateMs, maxRequests: maxRequests(ctx.d.rateMs), rate },
      "e2e half rate",
    );
    return {
      max,
      half,
      ...(await finish(z, receiver)),
      settings: { destination: "defaults (max_in_flight 10, timeout 15 s)", receiver: "separate process" },
    };
  } finally {
    await stop();
  }
}

export interface FanoutResult {
  phase: DeliveryPhase;
  duplicates: number;
  verify_failures: number;
  verify_failure_samples: string[];
  role_exits: string[];
  warnings: { count: number; samples: string[] };
}

export async function fanout(ctx: Context): Promise<FanoutResult> {
  const destinations = 100;
  const { z, receiver, source, stop } = await setup(ctx, "fanout", destinations);
  try {
    const p = await phase(
      ctx,
      z,
      receiver,
      source,
      destinations,
      { durationMs: ctx.d.e2eMs, maxRequests: ctx.d.fanoutEvents },
      `fan-out ×${destinations}`,
    );
    return { phase: p, ...(await finish(z, receiver)) };
  } finally {
    await stop();
  }
}
