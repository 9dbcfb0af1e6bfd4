/**
 * Delivery end to end in one process, on both drivers: fan-out at ingest,
 * the queue and scheduler, egress with the real sender, results back into
 * the schedule — against real receivers on loopback and an independent
 * Standard Webhooks verifier, under a fixed clock.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { afterEach, before, beforeEach, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { DRIVERS, skipReason } from "../../../test/support/db.ts";
import {
  type Pipeline,
  type Receiver,
  selfSignedServer,
  startPipeline,
  startReceiver,
} from "../../../test/support/delivery.ts";
import { listAudit } from "../../audit/index.ts";
import { getDestination, rotateDestinationSecret, updateDestination } from "../destinations/index.ts";
import { testClientCertificate } from "../destinations/testing.ts";
import { getDelivery, listDeliveries } from "./read.ts";
import { createReplayJob, getReplayJob, replayDelivery } from "./replay.ts";

const verify = (secret: string, r: { body: string; headers: Record<string, unknown> }) =>
  new Webhook(secret).verify(r.body, r.headers as Record<string, string>);

for (const kind of DRIVERS) {
  describe(`delivery on ${kind}`, { skip: skipReason(kind) }, () => {
    let p: Pipeline;
    const receivers: Receiver[] = [];
    const receiver = async () => {
      const r = await startReceiver();
      receivers.push(r);
      return r;
    };
    /** A destination at a fresh receiver, subscribed to everything. */
    const target = async (input: Record<string, unknown> = {}) => {
      const r = await receiver();
      const d = await p.destination({ url: r.url, allow_plain_http: true, ...input });
      await p.subscribe(d.id);
      return { r, ...d };
    };
    const rows = (sql: string, params: unknown[] = []) => p.t.admin<Record<string, unknown>>(sql, params);

    let tls: { cert: string; key: string };
    before(async () => {
      tls = await selfSignedServer();
    });
    // A pipeline of its own per test: the queue and the circuits are installation-wide.
    beforeEach(async () => {
      p = await startPipeline(kind, {
        allowCidrs: "127.0.0.1/32",
        start: new Date().toISOString(),
        ca: tls.cert,
      });
    });
    afterEach(async () => {
      for (const r of receivers.splice(0)) await r.close();
      await p?.close();
    });

    test("a receiver verifying with standardwebhooks accepts every delivery, during a rotation overlap too", async () => {
      const { r, id, secret } = await target();
      await p.ingest(1);
      await p.round();
      assert.equal(r.arrivals.length, 1);
      verify(secret, r.arrivals[0]!);

      const rotated = await rotateDestinationSecret(p.deps, p.ctx, id, { overlap_seconds: 3600 });
      await p.ingest(1);
      await p.round();
      const during = r.arrivals[1]!;
      verify(rotated.secret, during);
      verify(secret, during);
      assert.equal(String(during.headers["webhook-signature"]).split(" ").length, 2);

      // A rotation without overlap retires every older secret at once (a leaked one, say).
      const again = await rotateDestinationSecret(p.deps, p.ctx, id, { overlap_seconds: 0 });
      await p.ingest(1);
      await p.round();
      const afterOverlap = r.arrivals[2]!;
      verify(again.secret, afterOverlap);
      assert.throws(() => verify(rotated.secret, afterOverlap));
      assert.throws(() => verify(secret, afterOverlap));
      // The body is a CloudEvent whose id is the webhook-id.
      const ce = JSON.parse(afterOverlap.body) as { id: string; specversion: string };
      assert.equal(ce.specversion, "1.0");
      assert.equal(afterOverlap.headers["webhook-id"], ce.id);
      assert.match(String(afterOverlap.headers["x-correlation-id"]), /\S+/);
    });

    test("two CloudEvents with the same data but other ids and types both reach the subscriber", async () => {
      const { r } = await target();
      const text = JSON.stringify({ order: 1 });
      const { ids } = await p.ingest([
        p.item({ text, identity: "a1".repeat(32), ce: { type: "order.created" } }),
        p.item({ text, identity: "b2".repeat(32), ce: { type: "order.cancelled" } }),
      ]);
      assert.equal(new Set(ids).size, 2);
      await p.round();
      const types = r.arrivals.map((x) => (JSON.parse(x.body) as { type: string }).type).sort();
      assert.deepEqual(types, ["order.cancelled", "order.created"]);
    });

    test("a target that fails 3 times then succeeds gets the event once, after 4 attempts on the schedule", async () => {
      const { r } = await target();
      r.respond = (_a, n) => ({ status: n <= 3 ? 503 : 200 });
      const t0 = p.clock.now().getTime();
      const { ids } = await p.ingest(1);
      await p.round();
      for (let i = 0; i < 3; i++) {
        assert.ok(await p.advanceToNextDue());
        await p.round();
      }
      assert.equal(r.arrivals.length, 4);
      assert.equal(
        new Set(r.arrivals.map((a) => a.headers["webhook-id"])).size,
        1,
        "one webhook-id across retries",
      );
      const [d] = await rows("select id, status, attempts from deliveries where event_id = $1", [ids[0]]);
      assert.equal(d?.status, "succeeded");
      const [e] = await rows("select status from events where id = $1", [ids[0]]);
      assert.equal(e?.status, "delivered", "the event is delivered once its only delivery is");
      const detail = await getDelivery(p.deps, p.ctx, String(d?.id));
      assert.deepEqual(
        detail.attempt_history.map((a) => [a.attempt, a.verdict, a.status_code]),
        [
          [1, "retry", 503],
          [2, "retry", 503],
          [3, "retry", 503],
          [4, "success", 200],
        ],
      );
      // random() = 0.5 puts the ±20 % jitter at zero: the default schedule's first delays exactly.
      const offsets = detail.attempt_history.map((a) => (Date.parse(a.started_at) - t0) / 1000);
      assert.deepEqual(offsets, [0, 5, 5 + 300, 5 + 300 + 1800]);
      assert.equal(await p.advanceToNextDue(), false, "nothing left queued");
    });

    test("a permanent 4xx dead-letters at once; Retry-After is honoured for a 429", async () => {
      const gone = await target();
      gone.r.respond = () => ({ status: 410 });
      const limited = await target();
      limited.r.respond = (_a, n) => ({ status: n === 1 ? 429 : 200, headers: { "retry-after": "120" } });
      const start = p.clock.now().getTime();
      await p.ingest(1);
      await p.round();
      const [dead] = await rows("select status, last_error from deliveries where destination_id = $1", [
        gone.id,
      ]);
      assert.equal(dead?.status, "dead");
      assert.equal(dead?.last_error, "http_4xx");
      const [waiting] = await rows("select next_attempt_at from deliveries where destination_id = $1", [
        limited.id,
      ]);
      assert.equal((waiting!.next_attempt_at as Date).getTime() - start, 120_000);
    });

    test("a target down for the whole schedule dead-letters every event; a bulk replay delivers all of them", async () => {
      const { r, id } = await target();
      r.respond = () => ({ status: 500 });
      const n = 12;
      await p.ingest(n);
      // The circuit opens on the way, so the schedule runs out one probe at a time.
      await p.drain();
      const dead = await listDeliveries(p.deps, p.ctx, { dlq: true, destinationId: id, limit: 100 });
      assert.equal(dead.data.length, n);
      assert.deepEqual(
        (await rows("select distinct status from events where project_id = $1", [p.projectId])).map(
          (r) => r.status,
        ),
        ["dead"],
      );
      assert.ok(dead.data.every((d) => d.attempts === 8 && d.status === "dead"));
      assert.equal(r.arrivals.length, n * 8);

      r.respond = () => ({ status: 200 });
      const before = r.arrivals.length;
      const job = await createReplayJob({ ...p.deps, queue: p.queue }, p.ctx, { destination_id: id });
      assert.equal(job.total, n);
      // The circuit is still open from the outage: one probe closes it, then the rest follow.
      await p.drain();
      const delivered = r.arrivals.slice(before);
      assert.equal(new Set(delivered.map((a) => a.headers["webhook-id"])).size, n, "every dead letter, once");
      assert.equal((await getReplayJob({ ...p.deps, queue: p.queue }, p.ctx, job.id)).status, "done");
      const audit = await p.t.db.withTenant(p.tenantId, (tx) =>
        listAudit(tx, { limit: 1000, action: "dlq.replay" }),
      );
      assert.equal(audit.length, 1, "the bulk replay is audited");
      const left = await listDeliveries(p.deps, p.ctx, { dlq: true, destinationId: id, limit: 100 });
      assert.equal(left.data.length, 0);
      // A replayed delivery starts its schedule over and keeps its webhook-id.
      const one = await listDeliveries(p.deps, p.ctx, { destinationId: id, limit: 1 });
      assert.equal(one.data[0]?.replays, 1);
      await assert.rejects(
        replayDelivery({ ...p.deps, queue: p.queue }, p.ctx, "dlv_0000000000000000000000"),
        (e: { code?: string }) => e.code === "NOT_FOUND",
      );
    });

    test("FIFO: the target sees ingest order, and a failing head holds the rest back", async () => {
      const { r } = await target({ fifo: true });
      let failed = false;
      r.respond = (a) => {
        const n = (JSON.parse(a.body) as { data: { n: number } }).data.n;
        if (n === 3 && !failed) {
          failed = true;
          return { status: 500 };
        }
        return { status: 200 };
      };
      const items = Array.from({ length: 6 }, (_, n) => p.item({ text: JSON.stringify({ n }) }));
      await p.ingest(items);
      await p.drain();
      const seen = r.arrivals.map((a) => (JSON.parse(a.body) as { data: { n: number } }).data.n);
      assert.deepEqual(seen, [0, 1, 2, 3, 3, 4, 5]);
    });

    test("an address the SSRF guard refuses is recorded as refused, and nothing connects to it", async () => {
      const blocked = await startReceiver({ host: "127.0.0.2" });
      receivers.push(blocked);
      const d = await p.destination({ url: blocked.url, allow_plain_http: true });
      await p.subscribe(d.id);
      await p.ingest(1);
      await p.round();
      assert.equal(blocked.connections, 0);
      const [row] = await rows("select id, status, last_error from deliveries where destination_id = $1", [
        d.id,
      ]);
      assert.equal(row?.status, "dead");
      const detail = await getDelivery(p.deps, p.ctx, String(row?.id));
      assert.equal(detail.attempt_history[0]?.error_class, "ssrf_refused");
      assert.match(String(detail.attempt_history[0]?.detail), /127\.0\.0\.2/);
    });

    test("the circuit opens after repeated failures, probes once after the cooldown, and closes", async () => {
      const { r, id } = await target({ auto_replay: true });
      r.respond = () => ({ status: 500 });
      await p.ingest(5);
      await p.round();
      const [gate] = await rows(
        "select state, consecutive_failures from destination_gates where destination_id = $1",
        [id],
      );
      assert.equal(gate?.state, "open");
      assert.equal(gate?.consecutive_failures, 5);
      // Due again in 5 s, but the circuit holds them back until the cooldown (30 s) has passed.
      p.clock.advance(10_000);
      const arrived = r.arrivals.length;
      await p.round();
      assert.equal(r.arrivals.length, arrived, "nothing goes while the circuit is open");
      p.clock.advance(25_000);
      r.respond = () => ({ status: 200 });
      await p.round();
      assert.equal(r.arrivals.length, arrived + 1, "exactly one probe");
      const [closed] = await rows("select state from destination_gates where destination_id = $1", [id]);
      assert.equal(closed?.state, "closed");
      await p.round();
      assert.equal(r.arrivals.length, arrived + 5, "the rest follow once it closed");
      const audit = await p.t.db.withTenant(p.tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const actions = audit.map((e) => e.action);
      assert.ok(actions.includes("destination.circuit_opened"));
      assert.ok(actions.includes("destination.circuit_closed"));
    });

    test("a destination failing for longer than the period is disabled, audited and announced", async () => {
      const notices = await receiver();
      const ops = await p.destination({ url: notices.url, allow_plain_http: true });
      await p.subscribe(ops.id, { event_types: ["com.zenmesh.*"] });
      const { r, id } = await target();
      r.respond = () => ({ status: 502 });
      // An event a day for a week, every attempt failing.
      for (let day = 0; day < 7; day++) {
        await p.ingest(1);
        await p.round();
        p.clock.advance(86_400_000);
      }
      const [dest] = await rows("select enabled, disabled_reason from destinations where id = $1", [id]);
      assert.equal(dest?.enabled, false);
      assert.equal(dest?.disabled_reason, "failing");
      const audit = await p.t.db.withTenant(p.tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      assert.ok(audit.some((e) => e.action === "destination.disabled"));
      await p.round();
      const notice = notices.arrivals.find((a) => a.body.includes("com.zenmesh.destination.disabled"));
      assert.ok(notice, "the operator's notification endpoint hears of it");
      assert.equal((JSON.parse(notice.body) as { data: { destination_id: string } }).data.destination_id, id);
    });

    test("the fast path leases its deliveries; a lost hand-off is delivered after the lease runs out", async () => {
      const { r } = await target();
      const { batch } = await p.ingest(2, { fastPath: true });
      assert.equal(batch.jobs.length, 2);
      await p.round();
      assert.equal(r.arrivals.length, 0, "leased to the fast path: the scheduler leaves them");
      // The hand-off never happened (egress died): after the lease the scheduler claims them.
      p.clock.advance(61_000);
      await p.round();
      assert.equal(r.arrivals.length, 2);
      // The lost hand-off turning up late: egress will not start an attempt whose lease ran out.
      const late = await p.deliver(batch);
      assert.deepEqual(
        late.map((x) => x.outcome.kind),
        ["deferred", "deferred"],
      );
      assert.equal(r.arrivals.length, 2);
      const done = await rows("select status from deliveries where destination_id = $1", [
        batch.jobs[0]!.destinationId,
      ]);
      assert.deepEqual(
        done.map((d) => d.status),
        ["succeeded", "succeeded"],
      );
    });

    test("bearer, basic and mTLS client credentials arrive at the target and nowhere else", async () => {
      const canary = () => `canary-${Math.random().toString(36).slice(2)}`;
      const token = canary();
      const user = canary();
      const password = canary();
      const client = await testClientCertificate();
      const bearer = await receiver();
      const basic = await receiver();
      const mtls = await startReceiver({ tls: { ...tls, requestCert: true, rejectUnauthorized: false } });
      receivers.push(mtls);
      const ids: string[] = [];
      for (const [r, credentials, plain] of [
        [bearer, { auth: { type: "bearer", token } }, true],
        [basic, { auth: { type: "basic", username: user, password } }, true],
        [mtls, { client_certificate: client }, false],
      ] as const) {
        const d = await p.destination({ url: r.url, allow_plain_http: plain, credentials });
        await p.subscribe(d.id);
        ids.push(d.id);
      }
      await p.ingest(1);
      await p.round();
      assert.equal(bearer.arrivals[0]?.headers.authorization, `Bearer ${token}`);
      assert.equal(
        basic.arrivals[0]?.headers.authorization,
        `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
      );
      assert.equal(mtls.arrivals[0]?.peerCertificate, new X509Certificate(client.cert_pem).fingerprint256);
      assert.equal(mtls.arrivals[0]?.headers.authorization, undefined);

      const views = await Promise.all(ids.map((id) => getDestination(p.deps, p.ctx, id)));
      const deliveries = await listDeliveries(p.deps, p.ctx, { limit: 50 });
      const details = await Promise.all(deliveries.data.map((d) => getDelivery(p.deps, p.ctx, d.id)));
      const stored = JSON.stringify([
        await rows("select * from destinations"),
        await rows("select * from destination_secrets"),
        await rows("select * from delivery_attempts"),
        await rows("select * from deliveries"),
      ]);
      const keyBody = client.key_pem.split("\n")[1]!;
      const haystacks = {
        logs: p.logs.text(),
        "API views": JSON.stringify([views, details]),
        "stored rows": stored,
      };
      for (const [where, text] of Object.entries(haystacks)) {
        for (const needle of [token, user, password, keyBody]) {
          assert.ok(!text.includes(needle), `a credential shows in the ${where}`);
        }
      }
      assert.deepEqual(
        views.map((v) => v.credentials.kinds),
        [["bearer"], ["basic"], ["mtls"]],
      );
    });

    test("moving a destination to another origin drops its credentials unless the same change brings new ones", async () => {
      const token = `canary-${Math.random().toString(36).slice(2)}`;
      const fresh = `canary-${Math.random().toString(36).slice(2)}`;
      const bearer = { auth: { type: "bearer", token } } as const;
      // The reviewer's case: a new host:port keeps nothing sealed for the old one.
      const [moved, elsewhere] = [await receiver(), await receiver()];
      const a = await target({ url: moved.url, credentials: bearer });
      const view = await updateDestination(p.deps, p.ctx, a.id, { url: elsewhere.url });
      assert.deepEqual(view.credentials.kinds, []);
      // The same origin with another path keeps them.
      const same = await receiver();
      const b = await target({ url: same.url, credentials: bearer });
      const kept = await updateDestination(p.deps, p.ctx, b.id, { url: `${same.url}/v2` });
      assert.deepEqual(kept.credentials.kinds, ["bearer"]);
      // A new origin with credentials in the same change carries the new ones.
      const [from, to] = [await receiver(), await receiver()];
      const c = await target({ url: from.url, credentials: bearer });
      await updateDestination(p.deps, p.ctx, c.id, {
        url: to.url,
        credentials: { auth: { type: "bearer", token: fresh } },
      });

      await p.ingest(1);
      await p.round();
      for (const r of [a.r, moved, b.r, from]) assert.equal(r.arrivals.length, 0);
      assert.equal(elsewhere.arrivals.length, 1);
      assert.equal(
        elsewhere.arrivals[0]!.headers.authorization,
        undefined,
        "the old token went to the new origin",
      );
      assert.equal(same.arrivals.length, 1);
      assert.equal(same.arrivals[0]!.url, "/hooks/v2");
      assert.equal(same.arrivals[0]!.headers.authorization, `Bearer ${token}`);
      assert.equal(to.arrivals.length, 1);
      assert.equal(to.arrivals[0]!.headers.authorization, `Bearer ${fresh}`);

      const audit = await p.t.db.withTenant(p.tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const updates = audit.filter((r) => r.action === "destination.update");
      const of = (id: string) => updates.find((r) => r.targetId === id)!.details;
      const origin = (u: string) => new URL(u).origin;
      assert.equal(of(a.id).origin_from, origin(moved.url));
      assert.equal(of(a.id).origin_to, origin(elsewhere.url));
      assert.equal(of(a.id).credentials_cleared, true);
      assert.equal(of(b.id).origin_from, undefined, "a same-origin change is no origin change");
      assert.equal(of(c.id).origin_to, origin(to.url));
      assert.equal(of(c.id).credentials_cleared, false);
      const text = JSON.stringify(audit);
      assert.ok(!text.includes(token) && !text.includes(fresh), "a credential shows in the audit log");
    });

    test("subscriptions fan one event out to every matching destination, by type and payload conditions", async () => {
      const a = await receiver();
      const b = await receiver();
      const c = await receiver();
      const da = await p.destination({ url: a.url, allow_plain_http: true });
      const db = await p.destination({ url: b.url, allow_plain_http: true, format: "original" });
      const dc = await p.destination({ url: c.url, allow_plain_http: true });
      await p.subscribe(da.id, { event_types: ["com.example.*"], source_ids: [p.sourceId] });
      await p.subscribe(db.id, { conditions: [{ path: "amount", op: "gte", value: 100 }] });
      await p.subscribe(dc.id, { event_types: ["com.other.thing"] });
      await p.ingest([
        p.item({ text: JSON.stringify({ amount: 150 }) }),
        p.item({ text: JSON.stringify({ amount: 5 }) }),
      ]);
      await p.round();
      assert.equal(a.arrivals.length, 2);
      assert.equal(b.arrivals.length, 1);
      assert.deepEqual(JSON.parse(b.arrivals[0]!.body), { amount: 150 }, "the original payload, as it came");
      assert.equal(c.arrivals.length, 0);
    });
  });
}
