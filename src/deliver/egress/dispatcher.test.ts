import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { fixedClock, newId } from "../../core/index.ts";
import { buildEnvelope } from "../../ingest/cloudevents/index.ts";
import { captureLogs } from "../../log/testing.ts";
import { generateBoxKeyPair, sealBox } from "../box.ts";
import { secretSeal } from "../destinations/credentials.ts";
import { createSender } from "../http/sender.ts";
import { newSigningSecret } from "../signing.ts";
import { parseCidrList } from "../ssrf/ip.ts";
import { type AttemptReport, type DispatchBatch, type DispatchDestination, splitBatch } from "../types.ts";
import { createDispatcher } from "./dispatcher.ts";

describe("the egress dispatcher", () => {
  let server: Server;
  let url: string;
  let inFlight = 0;
  let peak = 0;
  const arrivals: { at: number; body: string; headers: Record<string, string> }[] = [];
  const box = generateBoxKeyPair();
  const secret = newSigningSecret();
  const cidrs = parseCidrList("127.0.0.1/32");
  assert.ok(cidrs.ok);
  const sender = createSender({ allowCidrs: cidrs.value });
  const clock = fixedClock(Date.now());

  before(async () => {
    server = createServer((req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        arrivals.push({ at: performance.now(), body, headers: req.headers as Record<string, string> });
        setTimeout(() => {
          inFlight--;
          res.end("ok");
        }, 40);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    await sender.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function batchOf(
    n: number,
    over: Partial<DispatchDestination> = {},
    startBy = clock.now().getTime() + 60_000,
  ) {
    const id = newId("destination");
    const destination: DispatchDestination = {
      id,
      tenantId: "ten_default",
      url,
      method: "POST",
      headers: { "x-static": "yes" },
      timeoutMs: 5000,
      format: "cloudevents-structured",
      maxInFlight: 10,
      rateLimitPerSecond: null,
      allowPlainHttp: true,
      credentials: null,
      secrets: [`v1:${sealBox(box.publicKey, secretSeal(id, 1).inner, secret)}`],
      ...over,
    };
    const batch: DispatchBatch = { events: {}, destinations: { [id]: destination }, jobs: [] };
    for (let i = 0; i < n; i++) {
      const eventId = newId("event");
      batch.events[eventId] = {
        envelope: buildEnvelope({
          eventId,
          projectId: newId("project"),
          sourceId: newId("source"),
          type: "com.example.test",
          time: clock.now(),
          datacontenttype: "application/json",
          correlationId: newId("correlation"),
        }),
        payload: Buffer.from(JSON.stringify({ i })).toString("base64"),
      };
      batch.jobs.push({
        deliveryId: newId("delivery"),
        eventId,
        destinationId: id,
        leaseToken: "t",
        startBy: new Date(startBy).toISOString(),
      });
    }
    return batch;
  }

  async function run(batch: DispatchBatch, maxJobs?: number): Promise<AttemptReport[]> {
    const reports: AttemptReport[] = [];
    const d = createDispatcher({
      sender,
      box,
      report: (r) => reports.push(r),
      clock,
      logger: captureLogs().logger,
      userAgent: "zenmesh/test",
      // The whole capacity, whatever one tenant's share (tested on its own below).
      ...(maxJobs === undefined ? {} : { maxJobs, tenantSharePercent: 100 }),
    });
    d.accept(batch);
    for (let i = 0; i < 1000 && reports.length < batch.jobs.length; i++)
      await new Promise((r) => setTimeout(r, 10));
    await d.close();
    return reports;
  }

  test("never has more requests in flight to a destination than its limit", async () => {
    peak = 0;
    const reports = await run(batchOf(12, { maxInFlight: 3 }));
    assert.equal(reports.length, 12);
    assert.ok(reports.every((r) => r.outcome.kind === "response" && r.outcome.status === 200));
    assert.equal(peak, 3);
  });

  test("spaces requests to a rate-limited destination", async () => {
    arrivals.length = 0;
    const reports = await run(batchOf(6, { rateLimitPerSecond: 5, maxInFlight: 10 }));
    assert.equal(reports.length, 6);
    const spread = arrivals.at(-1)!.at - arrivals[0]!.at;
    // A full bucket lets 5 go at once; the sixth waits for a token (200 ms at 5/s).
    assert.ok(spread >= 150, `six requests at 5/s came within ${Math.round(spread)} ms`);
  });

  test("signs exactly the body it sends, with the static headers beside", async () => {
    arrivals.length = 0;
    await run(batchOf(1));
    const a = arrivals[0]!;
    // The clock is fixed at the suite's start, well within the verifier's tolerance.
    new Webhook(secret).verify(a.body, a.headers);
    assert.equal(a.headers["x-static"], "yes");
    assert.equal(a.headers["content-type"], "application/cloudevents+json; charset=utf-8");
  });

  test("defers a job that could not start before its lease runs short, and jobs beyond its capacity", async () => {
    const late = await run(batchOf(2, {}, clock.now().getTime() - 1000));
    assert.deepEqual(
      late.map((r) => r.outcome.kind),
      ["deferred", "deferred"],
    );
    const full = await run(batchOf(5, { maxInFlight: 1 }), 2);
    assert.equal(full.filter((r) => r.outcome.kind === "deferred").length, 3);
    assert.equal(full.filter((r) => r.outcome.kind === "response").length, 2);
  });

  test("no tenant holds more than its share of the job slots; over-share jobs are deferred, not failed", async () => {
    const reports: AttemptReport[] = [];
    const logs = captureLogs();
    const d = createDispatcher({
      sender,
      box,
      report: (r) => reports.push(r),
      clock,
      logger: logs.logger,
      userAgent: "zenmesh/test",
      maxJobs: 10,
      tenantSharePercent: 50,
    });
    // Tenant A floods egress first; one at a time to its destination, so its jobs stay held.
    const a = batchOf(12, { tenantId: "ten_a", maxInFlight: 1 });
    const b = batchOf(3, { tenantId: "ten_b", maxInFlight: 1 });
    assert.deepEqual(d.accept(a), { accepted: 5, deferred: 7 });
    assert.deepEqual(d.accept(b), { accepted: 3, deferred: 0 }, "B still finds slots");
    const warnings = logs.lines().filter((l) => l.includes("at its share of egress job slots"));
    assert.equal(warnings.length, 1, "said once, not once per deferred job");
    assert.ok(warnings[0]!.includes('"tenant_id":"ten_a"'));
    const deferredA = reports.filter((r) => r.outcome.kind === "deferred");
    assert.equal(deferredA.length, 7);
    for (const r of deferredA) {
      assert.ok(
        r.outcome.kind === "deferred" && r.outcome.retryInMs > 0,
        "handed back to wait, not an attempt",
      );
    }
    for (let i = 0; i < 1000 && reports.length < 15; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(reports.filter((r) => r.outcome.kind === "response").length, 8);
    // A's slots are free again once its jobs are done.
    assert.deepEqual(d.accept(batchOf(5, { tenantId: "ten_a", maxInFlight: 1 })), {
      accepted: 5,
      deferred: 0,
    });
    await d.close();
  });

  test("a job whose secrets cannot be opened fails alone, without its error in the report", async () => {
    const bad = batchOf(1, { secrets: ["v1:zb1:garbage"] });
    const [r] = await run(bad);
    assert.equal(r?.outcome.kind, "error");
    assert.ok(!JSON.stringify(r).includes("garbage"));
  });

  test("splits a batch by payload bytes, each part with the events and destinations its jobs name", () => {
    const b = batchOf(10);
    const size = Object.values(b.events)[0]!.payload.length;
    const parts = splitBatch(b, size * 3);
    assert.deepEqual(
      parts.map((p) => p.jobs.length),
      [3, 3, 3, 1],
    );
    for (const p of parts) {
      assert.equal(Object.keys(p.events).length, p.jobs.length);
      assert.equal(Object.keys(p.destinations).length, 1);
    }
    assert.equal(splitBatch(b, 1).length, 10, "a part always takes one job, however large");
  });
});
