import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { listAudit } from "../../audit/index.ts";
import { fixedClock, newId } from "../../core/index.ts";
import type { TenancyDeps } from "../../tenancy/index.ts";
import type { IngestItem, IngestOutcome } from "../types.ts";
import { type PersistDeps, persistBatch } from "./persist.ts";
import { createTestTenant, insertTestSource, testIngestDeps, testItem } from "./testing.ts";

for (const kind of DRIVERS) {
  describe(`persisting ingest batches on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let deps: PersistDeps & TenancyDeps;
    let clock: ReturnType<typeof fixedClock>;
    let a: { tenantId: string; projectId: string; sourceId: string };
    let b: { tenantId: string; projectId: string; sourceId: string };

    const persist = (items: IngestItem[], extra: Partial<PersistDeps> = {}) =>
      persistBatch({ ...deps, ...extra }, items);
    const item = (sourceId: string, opts: Parameters<typeof testItem>[2] = {}) =>
      testItem(sourceId, clock.now(), opts);
    const countEvents = async (tenantId: string) =>
      Number(
        (await t.admin<{ n: string }>("select count(*) as n from events where tenant_id = $1", [tenantId]))[0]
          ?.n,
      );

    before(async () => {
      t = await freshDatabase(kind);
      clock = fixedClock("2030-01-01T00:00:00Z");
      deps = testIngestDeps(t.db, clock);
      a = await createTestTenant(deps, "tenant a");
      b = await createTestTenant(deps, "tenant b");
    });
    after(async () => {
      await t?.close();
    });

    test("stores the payload sealed: the column holds neither the plaintext nor its base64", async () => {
      const canary = `canary-${newId("event")}`;
      const text = JSON.stringify({ secret: canary });
      const [out] = await persist([
        item(a.sourceId, { text, ce: { subject: "s-1", extensions: { tier: "gold" } } }),
      ]);
      assert.equal(out?.status, "stored");
      const eventId = out.status === "stored" ? out.eventId : "";
      assert.match(eventId, /^evt_[0-9A-Za-z]{22}$/);

      const [row] = await t.admin<Record<string, unknown>>("select * from events where id = $1", [eventId]);
      assert.ok(row);
      const sealed = String(row.payload_sealed);
      assert.match(sealed, /^zl:v\d+:\d+:/);
      for (const needle of [
        canary,
        Buffer.from(canary).toString("base64"),
        Buffer.from(text).toString("base64"),
      ]) {
        assert.ok(!sealed.includes(needle), "the sealed payload shows the plaintext");
      }
      const dump = JSON.stringify(await t.admin("select * from events"));
      assert.ok(!dump.includes(canary), "no column of any event holds the plaintext");
      assert.equal(row.tenant_id, a.tenantId);
      assert.equal(row.project_id, a.projectId);
      assert.equal(row.source_id, a.sourceId);
      assert.equal(row.ce_source, `/projects/${a.projectId}/sources/${a.sourceId}`);
      assert.equal(row.subject, "s-1");
      assert.deepEqual(row.extensions, { tier: "gold" });
      assert.equal(row.datacontenttype, "application/json");
      assert.equal(row.payload_bytes, Buffer.byteLength(text));
      assert.equal(row.status, "received");

      const aad = { table: "events", column: "payload", rowId: eventId };
      const opened = await deps.db.withTenant(a.tenantId, (tx) =>
        deps.zenlock.open(tx, a.tenantId, aad, sealed),
      );
      assert.equal(opened.toString("utf8"), text);
      // Another tenant's transaction can neither name tenant A nor open A's ciphertext as its own.
      await assert.rejects(
        deps.db.withTenant(b.tenantId, (tx) => deps.zenlock.open(tx, a.tenantId, aad, sealed)),
      );
      await assert.rejects(
        deps.db.withTenant(b.tenantId, (tx) => deps.zenlock.open(tx, b.tenantId, aad, sealed)),
      );
      const seen = await deps.db.withTenant(b.tenantId, (tx) =>
        tx.query("select id from events where id = $1", [eventId]),
      );
      assert.equal(seen.rows.length, 0, "row level security hides the event from tenant B");
    });

    test("the same body from the same source is a duplicate of the first event and is not stored again", async () => {
      const text = JSON.stringify({ order: newId("event") });
      const [first] = await persist([item(a.sourceId, { text })]);
      assert.equal(first?.status, "stored");
      const before = await countEvents(a.tenantId);
      const [again] = await persist([item(a.sourceId, { text })]);
      assert.deepEqual(again, {
        status: "duplicate",
        eventId: first.status === "stored" ? first.eventId : "",
      });
      assert.equal(await countEvents(a.tenantId), before);
      // Another content type, or another source, is another event.
      const [other] = await persist([item(a.sourceId, { text, contentType: "text/plain" })]);
      assert.equal(other?.status, "stored");
      const second = await insertTestSource(deps.db, a.tenantId, a.projectId);
      assert.equal((await persist([item(second, { text })]))[0]?.status, "stored");
      // The same body in another tenant is not linked to tenant A's.
      assert.equal((await persist([item(b.sourceId, { text })]))[0]?.status, "stored");
    });

    test("the fingerprint is keyed: equal bodies in two tenants have unrelated fingerprints", async () => {
      const text = JSON.stringify({ shared: newId("event") });
      const outs = await persist([item(a.sourceId, { text }), item(b.sourceId, { text })]);
      const ids = outs.map((o) => (o.status === "stored" ? o.eventId : ""));
      const rows = await t.admin<{ fp: string }>(
        "select encode(fingerprint, 'hex') as fp from events where id = any($1::text[])",
        [ids],
      );
      assert.equal(rows.length, 2);
      assert.notEqual(rows[0]?.fp, rows[1]?.fp);
    });

    test("a delivery id or a signature seen within the window is a replay; the first in a batch wins", async () => {
      const deliveryId = `gh-${newId("delivery")}`;
      const signature = `sha256=${newId("delivery")}`;
      const signatureTimestamped = true;
      const [first] = await persist([item(a.sourceId, { deliveryId })]);
      assert.equal(first?.status, "stored");
      const before = await countEvents(a.tenantId);
      assert.deepEqual(await persist([item(a.sourceId, { deliveryId })]), [{ status: "replayed" }]);

      const batch = await persist([
        item(a.sourceId, { signature, signatureTimestamped }),
        item(a.sourceId, { signature, signatureTimestamped }),
        item(a.sourceId, { signature: null, deliveryId: null }),
      ]);
      assert.deepEqual(
        batch.map((o) => o.status),
        ["stored", "replayed", "stored"],
      );
      assert.deepEqual(
        await persist([item(a.sourceId, { signature, signatureTimestamped, deliveryId: null })]),
        [{ status: "replayed" }],
      );
      assert.equal(await countEvents(a.tenantId), before + 2);
      // Keys are per source: the same delivery id at another source is its own delivery.
      const other = await insertTestSource(deps.db, a.tenantId, a.projectId);
      assert.equal((await persist([item(other, { deliveryId })]))[0]?.status, "stored");
    });

    test("a retry under a live delivery id with the same body is the first event again; another body is a replay", async () => {
      const deliveryId = `gh-${newId("delivery")}`;
      const text = JSON.stringify({ retried: newId("event") });
      const signatureTimestamped = true;
      const [first] = await persist([item(a.sourceId, { text, deliveryId, signatureTimestamped })]);
      assert.equal(first?.status, "stored");
      const firstId = first.status === "stored" ? first.eventId : "";
      const before = await countEvents(a.tenantId);
      // A fresh signature each time, as a provider's retry signs anew.
      clock.advance(30_000);
      assert.deepEqual(await persist([item(a.sourceId, { text, deliveryId, signatureTimestamped })]), [
        { status: "duplicate", eventId: firstId },
      ]);
      assert.deepEqual(await persist([item(a.sourceId, { deliveryId, signatureTimestamped })]), [
        { status: "replayed" },
      ]);
      // Twice in one batch: the first stores, the second is that event again.
      const shared = `gh-${newId("delivery")}`;
      const twice = JSON.stringify({ twice: newId("event") });
      const batch = await persist([
        item(a.sourceId, { text: twice, deliveryId: shared, signatureTimestamped }),
        item(a.sourceId, { text: twice, deliveryId: shared, signatureTimestamped }),
        item(a.sourceId, { deliveryId: shared, signatureTimestamped }),
      ]);
      const batchId = batch[0]?.status === "stored" ? batch[0].eventId : "missing";
      assert.deepEqual(batch.slice(1), [{ status: "duplicate", eventId: batchId }, { status: "replayed" }]);
      assert.equal(await countEvents(a.tenantId), before + 1);
    });

    test("an idempotency key is the first event's for the whole dedupe window; another body under it is refused", async () => {
      const idempotencyKey = `evt_${newId("delivery")}`;
      const text = JSON.stringify({ id: idempotencyKey });
      const signatureTimestamped = true;
      const [first] = await persist([
        item(a.sourceId, { text, idempotencyKey, deliveryId: null, signatureTimestamped }),
      ]);
      assert.equal(first?.status, "stored");
      const firstId = first.status === "stored" ? first.eventId : "";
      const before = await countEvents(a.tenantId);
      // Past the replay window (10 min here) and days later: a retry is still the first event.
      for (const step of [700_000, 3 * 86_400_000]) {
        clock.advance(step);
        assert.deepEqual(
          await persist([item(a.sourceId, { text, idempotencyKey, deliveryId: null, signatureTimestamped })]),
          [{ status: "duplicate", eventId: firstId }],
        );
        assert.deepEqual(
          await persist([item(a.sourceId, { idempotencyKey, deliveryId: null, signatureTimestamped })]),
          [{ status: "replayed" }],
        );
      }
      // A delivery id equal to the idempotency key is one key, not two.
      const both = `msg_${newId("delivery")}`;
      await persist([item(a.sourceId, { idempotencyKey: both, deliveryId: both, signature: null })]);
      const keys = await t.admin<{ replay_key: string }>(
        "select replay_key from ingest_replays where tenant_id = $1 and replay_key like $2",
        [a.tenantId, `%${both}`],
      );
      assert.deepEqual(
        keys.map((k) => k.replay_key),
        [`i:${both}`],
      );
      assert.equal(await countEvents(a.tenantId), before + 1);
    });

    test("a replayed item claims none of its keys", async () => {
      const signature = `sha256=${newId("delivery")}`;
      const signatureTimestamped = true;
      assert.equal(
        (await persist([item(a.sourceId, { signature, signatureTimestamped })]))[0]?.status,
        "stored",
      );
      const fresh = `gh-${newId("delivery")}`;
      assert.deepEqual(
        await persist([item(a.sourceId, { signature, signatureTimestamped, deliveryId: fresh })]),
        [{ status: "replayed" }],
      );
      assert.equal((await persist([item(a.sourceId, { deliveryId: fresh })]))[0]?.status, "stored");
    });

    test("a signature without a signed timestamp is its first event for the whole dedupe window, whatever else changed", async () => {
      const signature = `sha256=${newId("delivery")}`;
      const [first] = await persist([item(a.sourceId, { signature })]);
      assert.equal(first?.status, "stored");
      const firstId = first.status === "stored" ? first.eventId : "";
      const before = await countEvents(a.tenantId);
      // Inside the replay window, past it, and a day before the dedupe window ends; with another
      // (unsigned) delivery id, type and media type parameter each time: the first event's id, nothing stored.
      for (const step of [1_000, 700_000, 5 * 86_400_000]) {
        clock.advance(step);
        const again = await persist([
          item(a.sourceId, {
            signature,
            deliveryId: `gh-${newId("delivery")}`,
            contentType: "application/json; v=1",
            ce: { type: "com.attacker.chosen" },
          }),
        ]);
        assert.deepEqual(again, [{ status: "duplicate", eventId: firstId }], `after ${step} ms`);
      }
      // Two in one batch: the first makes the event, the second is answered with it.
      const fresh = `sha256=${newId("delivery")}`;
      const batch = await persist([
        item(a.sourceId, { signature: fresh }),
        item(a.sourceId, { signature: fresh }),
      ]);
      assert.equal(batch[0]?.status, "stored");
      assert.deepEqual(batch[1], {
        status: "duplicate",
        eventId: batch[0]?.status === "stored" ? batch[0].eventId : "",
      });
      assert.equal(await countEvents(a.tenantId), before + 1);
      // Past the dedupe window the key has expired with the fingerprint's reach: a new event.
      clock.advance(3 * 86_400_000);
      assert.equal((await persist([item(a.sourceId, { signature })]))[0]?.status, "stored");
    });

    test("the fingerprint takes the media type without parameters or case, and the event's identity", async () => {
      const text = JSON.stringify({ order: newId("event") });
      const [first] = await persist([item(a.sourceId, { text })]);
      assert.equal(first?.status, "stored");
      const [param] = await persist([
        item(a.sourceId, { text, contentType: "Application/JSON; charset=utf-8" }),
      ]);
      assert.equal(param?.status, "duplicate");
      const identity = "ab".repeat(32);
      const [other] = await persist([item(a.sourceId, { text, identity })]);
      assert.equal(other?.status, "stored", "the same data with an identity is another event");
      assert.equal((await persist([item(a.sourceId, { text, identity })]))[0]?.status, "duplicate");
      assert.equal(
        (await persist([item(a.sourceId, { text, identity: "cd".repeat(32) })]))[0]?.status,
        "stored",
      );
    });

    test("identities that are not a SHA-256 digest, and types or subjects with invisible characters, are refused", async () => {
      for (const over of [
        { identity: "AB".repeat(32) },
        { identity: "ab" },
        { ce: { type: "com.example.\u202eevil" } },
        { ce: { subject: "a\u200bb" } },
        { ce: { extensions: { tenant: "x\u2067" } } },
      ]) {
        assert.deepEqual(await persist([item(a.sourceId, over)]), [
          { status: "rejected", code: "VALIDATION_FAILED" },
        ]);
      }
    });

    test("after the window the same delivery id is accepted again, and expired keys are swept", async () => {
      const deliveryId = `gh-${newId("delivery")}`;
      assert.equal((await persist([item(a.sourceId, { deliveryId })]))[0]?.status, "stored");
      // Default window: max(tolerance 300 s, 300 s) x 2.
      clock.advance(599_000);
      assert.deepEqual(await persist([item(a.sourceId, { deliveryId })]), [{ status: "replayed" }]);
      clock.advance(2_000);
      assert.equal((await persist([item(a.sourceId, { deliveryId })]))[0]?.status, "stored");

      const shortLived = `gh-${newId("delivery")}`;
      await persist([item(a.sourceId, { deliveryId: shortLived })], { replayWindowSeconds: 10 });
      clock.advance(11_000);
      await persist([item(a.sourceId)]);
      const left = await t.admin("select 1 from ingest_replays where replay_key = $1", [`d:${shortLived}`]);
      assert.equal(left.length, 0, "the expired key was swept");
      const expired = await t.admin(
        "select 1 from ingest_replays where tenant_id = $1 and expires_at <= $2",
        [a.tenantId, clock.now()],
      );
      assert.equal(expired.length, 0);
    });

    test("a longer source tolerance lengthens the replay window", async () => {
      const slow = await insertTestSource(deps.db, a.tenantId, a.projectId, { toleranceSeconds: 3600 });
      const deliveryId = `gh-${newId("delivery")}`;
      assert.equal((await persist([item(slow, { deliveryId })]))[0]?.status, "stored");
      clock.advance(7_000_000);
      assert.deepEqual(await persist([item(slow, { deliveryId })]), [{ status: "replayed" }]);
      clock.advance(201_000);
      assert.equal((await persist([item(slow, { deliveryId })]))[0]?.status, "stored");
    });

    test("a duplicate past the dedupe window is stored as a new event", async () => {
      const text = JSON.stringify({ late: newId("event") });
      const [first] = await persist([item(a.sourceId, { text })], { dedupeWindowSeconds: 60 });
      clock.advance(30_000);
      assert.equal(
        (await persist([item(a.sourceId, { text })], { dedupeWindowSeconds: 60 }))[0]?.status,
        "duplicate",
      );
      clock.advance(31_000);
      const [late] = await persist([item(a.sourceId, { text })], { dedupeWindowSeconds: 60 });
      assert.equal(late?.status, "stored");
      assert.notDeepEqual(late, first);
    });

    test("rotating the fingerprint key breaks the link to earlier events", async () => {
      const text = JSON.stringify({ rotate: newId("event") });
      const [first] = await persist([item(a.sourceId, { text })]);
      assert.equal((await persist([item(a.sourceId, { text })]))[0]?.status, "duplicate");
      await deps.db.withTenant(a.tenantId, (tx) =>
        deps.zenlock.rotateTenantKey(tx, a.tenantId, "fingerprint"),
      );
      const [after] = await persist([item(a.sourceId, { text })]);
      assert.equal(after?.status, "stored");
      assert.notDeepEqual(after, first);
      const versions = await t.admin<{ fingerprint_version: number }>(
        "select fingerprint_version from events where id = $1",
        [after.status === "stored" ? after.eventId : ""],
      );
      assert.equal(versions[0]?.fingerprint_version, 2);
      assert.deepEqual(await persist([item(a.sourceId, { text })]), [
        { status: "duplicate", eventId: after.status === "stored" ? after.eventId : "" },
      ]);
    });

    test("a mixed batch: two tenants, unknown and disabled sources and invalid items, answered in order", async () => {
      const disabled = await insertTestSource(deps.db, b.tenantId, b.projectId, { enabled: false });
      const deleted = await insertTestSource(deps.db, a.tenantId, a.projectId, { deleted: true });
      const good = item(a.sourceId);
      const items: IngestItem[] = [
        item(a.sourceId),
        item(b.sourceId),
        item(newId("source")),
        item(disabled),
        { ...good, body: "not base64!" },
        item(a.sourceId, { ce: { type: "" } }),
        item(a.sourceId, { ce: { type: "x".repeat(257) } }),
        item(a.sourceId, { ce: { time: "yesterday" } }),
        item(a.sourceId, { ce: { extensions: { Bad_Name: "x" } } }),
        { ...good, sourceId: "not-an-id" },
        item(deleted),
        item(b.sourceId),
      ];
      const auditA = await deps.db.withTenant(a.tenantId, (tx) =>
        listAudit(tx, { limit: 1000, action: "events.ingest" }),
      );
      const auditB = await deps.db.withTenant(b.tenantId, (tx) =>
        listAudit(tx, { limit: 1000, action: "events.ingest" }),
      );
      const outs = await persist(items);
      assert.deepEqual(
        outs.map((o) => (o.status === "rejected" ? o.code : o.status)),
        [
          "stored",
          "stored",
          "SOURCE_NOT_FOUND",
          "SOURCE_DISABLED",
          "VALIDATION_FAILED",
          "VALIDATION_FAILED",
          "VALIDATION_FAILED",
          "VALIDATION_FAILED",
          "VALIDATION_FAILED",
          "VALIDATION_FAILED",
          "SOURCE_NOT_FOUND",
          "stored",
        ],
      );
      const tenantOf = async (o: IngestOutcome | undefined) =>
        (
          await t.admin<{ tenant_id: string }>("select tenant_id from events where id = $1", [
            o?.status === "stored" ? o.eventId : "",
          ])
        )[0]?.tenant_id;
      assert.equal(await tenantOf(outs[0]), a.tenantId);
      assert.equal(await tenantOf(outs[1]), b.tenantId);
      assert.equal(await tenantOf(outs[11]), b.tenantId);

      // One audit entry per tenant transaction, in that tenant's own chain.
      const newA = (
        await deps.db.withTenant(a.tenantId, (tx) => listAudit(tx, { limit: 1000, action: "events.ingest" }))
      ).slice(auditA.length);
      const newB = (
        await deps.db.withTenant(b.tenantId, (tx) => listAudit(tx, { limit: 1000, action: "events.ingest" }))
      ).slice(auditB.length);
      assert.equal(newA.length, 1);
      assert.equal(newB.length, 1);
      assert.deepEqual(newA[0]?.details, { stored: 1, duplicates: 0, replayed: 0, rejected: 0 });
      assert.deepEqual(newB[0]?.details, { stored: 2, duplicates: 0, replayed: 0, rejected: 1 });
      assert.equal(newA[0]?.actorType, "workload");
      assert.equal(newA[0]?.actorId, "spiffe://zenmesh/ingester");
      assert.equal(newA[0]?.correlationId, items[0]?.correlationId);
    });

    test("concurrent batches with one delivery id or one body store it once", async () => {
      const deliveryId = `gh-${newId("delivery")}`;
      const text = JSON.stringify({ race: newId("event") });
      const [r1, r2] = await Promise.all([
        persist([item(a.sourceId, { deliveryId })]),
        persist([item(a.sourceId, { deliveryId })]),
      ]);
      assert.deepEqual([r1[0]?.status, r2[0]?.status].sort(), ["replayed", "stored"]);
      const [d1, d2] = await Promise.all([
        persist([item(a.sourceId, { text })]),
        persist([item(a.sourceId, { text })]),
      ]);
      assert.deepEqual([d1[0]?.status, d2[0]?.status].sort(), ["duplicate", "stored"]);
      const ids = [d1[0], d2[0]].map((o) =>
        o && o.status !== "replayed" && o.status !== "rejected" ? o.eventId : "",
      );
      assert.equal(ids[0], ids[1], "the duplicate names the stored event");
    });

    test("extensions that name a core or reserved attribute are dropped; a long delivery id still replays", async () => {
      const [out] = await persist([
        item(a.sourceId, { ce: { extensions: { id: "x", correlationid: "forged", traceparent: "00-abc" } } }),
      ]);
      const [row] = await t.admin<{ extensions: unknown }>("select extensions from events where id = $1", [
        out?.status === "stored" ? out.eventId : "",
      ]);
      assert.deepEqual(row?.extensions, { traceparent: "00-abc" });

      const deliveryId = JSON.stringify(["https://example.com/".padEnd(2000, "x"), newId("delivery")]);
      assert.equal((await persist([item(a.sourceId, { deliveryId })]))[0]?.status, "stored");
      assert.deepEqual(await persist([item(a.sourceId, { deliveryId })]), [{ status: "replayed" }]);
    });

    test("a source deleted after its owner was remembered is refused, as the source row decides", async () => {
      const doomed = await insertTestSource(deps.db, a.tenantId, a.projectId);
      const first = await persist([item(doomed)]);
      assert.equal(first[0]?.status, "stored");
      // What deleteSource does: the row goes, the directory keeps the id marked deleted.
      await deps.db.withTenant(a.tenantId, async (tx) => {
        await tx.query("delete from sources where id = $1", [doomed]);
        await tx.query(
          "update source_directory set deleted = true, revision = nextval('source_revision_seq') where source_id = $1",
          [doomed],
        );
      });
      assert.deepEqual(await persist([item(doomed)]), [{ status: "rejected", code: "SOURCE_NOT_FOUND" }]);
      assert.equal((await t.admin("select 1 from events where source_id = $1", [doomed])).length, 1);
    });

    test("an empty batch and a batch of only invalid items touch nothing", async () => {
      assert.deepEqual(await persist([]), []);
      assert.deepEqual(await persist([{ ...item(a.sourceId), receivedAt: "soon" }]), [
        { status: "rejected", code: "VALIDATION_FAILED" },
      ]);
    });

    test("the audit entry counts duplicates and replays, under the actor given", async () => {
      const text = JSON.stringify({ counted: newId("event") });
      const deliveryId = `gh-${newId("delivery")}`;
      const outs = await persistBatch(
        deps,
        [
          item(a.sourceId, { text, deliveryId }),
          item(a.sourceId, { text }),
          item(a.sourceId, { deliveryId }),
        ],
        { actor: { type: "workload", spiffeId: "spiffe://td/ingester" }, correlationId: "batch-1" },
      );
      assert.deepEqual(
        outs.map((o) => o.status),
        ["stored", "duplicate", "replayed"],
      );
      const entries = await deps.db.withTenant(a.tenantId, (tx) =>
        listAudit(tx, { limit: 1000, action: "events.ingest" }),
      );
      const last = entries.at(-1);
      assert.deepEqual(last?.details, { stored: 1, duplicates: 1, replayed: 1, rejected: 0 });
      assert.equal(last?.actorId, "spiffe://td/ingester");
      assert.equal(last?.correlationId, "batch-1");
      assert.equal(last?.projectId, a.projectId);
    });
  });
}
