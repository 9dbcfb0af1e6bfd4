import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit } from "../audit/index.ts";
import { newId } from "../core/index.ts";
import { persistBatch } from "../ingest/store/index.ts";
import { insertTestSource, type TestItemOptions, testItem } from "../ingest/store/testing.ts";
import { PROJECT_PERMISSIONS } from "../tenancy/index.ts";

const CANARY = `canary-${newId("event")}`;

for (const kind of DRIVERS) {
  describe(`events API on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let a: { tenantId: string; projectId: string; key: string; sourceId: string };
    let b: { tenantId: string; projectId: string; key: string; sourceId: string };
    /** A's event whose body carries the canary. */
    let secretEvent: string;
    const eventsUrl = (projectId: string) => `/v1/projects/${projectId}/events`;

    async function ingest(sourceId: string, opts: TestItemOptions = {}): Promise<string> {
      const [out] = await persistBatch(api.tenancy, [testItem(sourceId, api.clock.now(), opts)]);
      if (out?.status !== "stored") throw new Error(`not stored: ${JSON.stringify(out)}`);
      return out.eventId;
    }

    async function tenant(name: string) {
      const t = await api.tenant(name);
      return { ...t, sourceId: await insertTestSource(api.tenancy.db, t.tenantId, t.projectId) };
    }

    const payloadReads = (tenantId: string) =>
      api.tenancy.db.withTenant(tenantId, (tx) =>
        listAudit(tx, { limit: 1000, action: "event.payload_read" }),
      );

    before(async () => {
      api = await startTestApi(kind);
      a = await tenant("tenant a");
      b = await tenant("tenant b");
      secretEvent = await ingest(a.sourceId, {
        text: JSON.stringify({ secret: CANARY, n: 1.5 }),
        ce: { subject: "orders/1", extensions: { tier: "gold" } },
      });
      api.clock.advance(1000);
    });
    after(async () => {
      if (api) {
        // Payloads reach only the responses of audited reads, never a log line.
        const logs = api.logs.text();
        assert.ok(logs.length > 0, "logs were captured");
        for (const needle of [CANARY, Buffer.from(CANARY).toString("base64")]) {
          assert.ok(!logs.includes(needle), "a payload reached the logs");
        }
      }
      await api?.close();
    });

    test("lists envelopes without payloads, newest first, filtered, page by page", async () => {
      const source2 = await insertTestSource(api.tenancy.db, a.tenantId, a.projectId);
      const t0 = api.clock.now();
      api.clock.advance(1000);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          await ingest(i % 2 === 0 ? source2 : a.sourceId, {
            ce: { type: i < 3 ? "com.x.one" : "com.x.two" },
          }),
        );
        api.clock.advance(1000);
      }
      const t1 = api.clock.now();
      // Several with one received_at: the id breaks the tie and no page boundary loses one.
      const [sameA, sameB, sameC] = await persistBatch(
        api.tenancy,
        [0, 1, 2].map(() => testItem(source2, t1, { ce: { type: "com.x.tie" } })),
      );
      const tied = [sameA, sameB, sameC].map((o) => (o?.status === "stored" ? o.eventId : "")).sort();
      await api.t.admin("update events set status = 'delivered' where id = $1", [ids[1]]);

      const all = await api.request("GET", `${eventsUrl(a.projectId)}?received_after=${t0.toISOString()}`, {
        key: a.key,
      });
      assert.equal(all.status, 200, all.text);
      const order: string[] = all.json.data.map((e: { event: { id: string } }) => e.event.id);
      // Ties are ordered by id in the database's collation; which order matters less than that it is one.
      assert.deepEqual([...order.slice(0, 3)].sort(), tied);
      assert.deepEqual(order.slice(3), [...ids].reverse());
      assert.equal(all.json.next_cursor, null);
      for (const e of all.json.data) {
        assert.ok(
          !("data" in e.event) && !("data_base64" in e.event) && !("payload_omitted" in e),
          "no payload in a list",
        );
      }

      const one = all.json.data.find((e: { event: { id: string } }) => e.event.id === ids[0]);
      assert.deepEqual(Object.keys(one).sort(), [
        "event",
        "payload_bytes",
        "received_at",
        "source_id",
        "status",
      ]);
      assert.deepEqual(Object.keys(one.event).sort(), [
        "correlationid",
        "datacontenttype",
        "id",
        "source",
        "specversion",
        "time",
        "type",
      ]);
      assert.equal(one.event.specversion, "1.0");
      assert.equal(one.event.source, `/projects/${a.projectId}/sources/${source2}`);
      assert.equal(one.source_id, source2);
      assert.equal(one.event.type, "com.x.one");
      assert.equal(one.status, "received");
      assert.equal(one.event.datacontenttype, "application/json");

      const pages: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = `?limit=2&received_after=${encodeURIComponent(t0.toISOString())}${cursor ? `&cursor=${cursor}` : ""}`;
        const page = await api.request("GET", eventsUrl(a.projectId) + q, { key: a.key });
        assert.equal(page.status, 200, page.text);
        assert.ok(page.json.data.length <= 2);
        pages.push(...page.json.data.map((e: { event: { id: string } }) => e.event.id));
        cursor = page.json.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(pages, order);

      const ids$ = async (query: string) => {
        const r = await api.request(
          "GET",
          `${eventsUrl(a.projectId)}?received_after=${t0.toISOString()}&${query}`,
          {
            key: a.key,
          },
        );
        assert.equal(r.status, 200, r.text);
        return r.json.data.map((e: { event: { id: string } }) => e.event.id);
      };
      assert.deepEqual(await ids$(`source_id=${a.sourceId}`), [ids[3], ids[1]]);
      assert.deepEqual(await ids$("type=com.x.two"), [ids[4], ids[3]]);
      assert.deepEqual(await ids$("type=com.x"), []);
      assert.deepEqual(await ids$("status=delivered"), [ids[1]]);
      const mid = new Date(t0.getTime() + 2500).toISOString();
      assert.deepEqual(await ids$(`received_before=${mid}`), [ids[1], ids[0]]);
      assert.deepEqual(await ids$(`source_id=${source2}&type=com.x.one&status=received`), [ids[2], ids[0]]);
    });

    test("rejects a bad limit, filter or cursor", async () => {
      for (const q of [
        "limit=0",
        "limit=201",
        "limit=x",
        "status=lost",
        "source_id=nope",
        "received_after=yesterday",
        "unknown=1",
      ]) {
        assertError(
          await api.request("GET", `${eventsUrl(a.projectId)}?${q}`, { key: a.key }),
          400,
          "VALIDATION_FAILED",
          q,
        );
      }
      // A cursor is one this list handed out, or nothing at all: a position made up by the caller is refused.
      for (const q of [
        "cursor=not-a-cursor",
        `cursor=${Buffer.from('["2030-01-01T00:00:00.000000Z","nope"]').toString("base64url")}`,
      ]) {
        assertError(
          await api.request("GET", `${eventsUrl(a.projectId)}?${q}`, { key: a.key }),
          400,
          "CURSOR_INVALID",
          q,
        );
      }
    });

    test("reading an event with events:payload returns its data and audits the read", async () => {
      const before = (await payloadReads(a.tenantId)).length;
      const r = await api.request("GET", `${eventsUrl(a.projectId)}/${secretEvent}`, { key: a.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.event.id, secretEvent);
      assert.equal(r.json.payload_omitted, false);
      assert.deepEqual(r.json.event.data, { secret: CANARY, n: 1.5 });
      assert.equal(r.json.event.subject, "orders/1");
      assert.equal(r.json.event.tier, "gold");
      assert.equal(r.json.event.specversion, "1.0");
      assert.equal(r.json.source_id, a.sourceId);
      assert.equal(r.json.payload_bytes, JSON.stringify({ secret: CANARY, n: 1.5 }).length);

      const reads = await payloadReads(a.tenantId);
      assert.equal(reads.length, before + 1);
      const entry = reads.at(-1);
      assert.equal(entry?.targetType, "event");
      assert.equal(entry?.targetId, secretEvent);
      assert.equal(entry?.projectId, a.projectId);
      assert.equal(entry?.actorType, "api_key");
      assert.equal(entry?.correlationId, r.headers.get("x-correlation-id"));
      assert.ok(!JSON.stringify(entry).includes(CANARY));
    });

    test("a body that is not JSON comes back as data_base64", async () => {
      const bytes = Buffer.from([0, 1, 2, 250, 251]);
      const [out] = await persistBatch(api.tenancy, [
        {
          ...testItem(a.sourceId, api.clock.now(), { contentType: "application/octet-stream" }),
          body: bytes.toString("base64"),
        },
      ]);
      const id = out?.status === "stored" ? out.eventId : "";
      const r = await api.request("GET", `${eventsUrl(a.projectId)}/${id}`, { key: a.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.event.data_base64, bytes.toString("base64"));
      assert.equal(r.json.event.data, undefined);
    });

    test("without events:payload the envelope comes back with payload_omitted, and nothing is audited", async () => {
      const before = (await payloadReads(a.tenantId)).length;
      const reader = await api.key(a.tenantId, a.projectId, ["events:read"]);
      const viewer = await api.user(a.tenantId, "viewer");
      const cookie = await api.login(viewer.email, viewer.password);
      for (const credential of [{ key: reader.secret }, { cookie }]) {
        const r = await api.request("GET", `${eventsUrl(a.projectId)}/${secretEvent}`, credential);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.payload_omitted, true);
        assert.equal(r.json.event.id, secretEvent);
        assert.equal(r.json.event.tier, "gold");
        assert.ok(!("data" in r.json.event) && !("data_base64" in r.json.event));
        assert.ok(!r.text.includes(CANARY));
      }
      assert.equal((await payloadReads(a.tenantId)).length, before);
      // events:payload alone does not open the envelope.
      const payloadOnly = await api.key(
        a.tenantId,
        a.projectId,
        PROJECT_PERMISSIONS.filter((p) => p !== "events:read"),
      );
      assertError(
        await api.request("GET", `${eventsUrl(a.projectId)}/${secretEvent}`, { key: payloadOnly.secret }),
        403,
        "FORBIDDEN",
      );
      assert.equal((await payloadReads(a.tenantId)).length, before);
    });

    test("another tenant's or project's event is not found, by id or in a list", async () => {
      const bEvent = await ingest(b.sourceId, { text: JSON.stringify({ other: CANARY }) });
      // B's key, B's project, A's event id.
      assertError(
        await api.request("GET", `${eventsUrl(b.projectId)}/${secretEvent}`, { key: b.key }),
        404,
        "NOT_FOUND",
      );
      // A's key on B's project.
      assertError(
        await api.request("GET", `${eventsUrl(b.projectId)}/${bEvent}`, { key: a.key }),
        404,
        "NOT_FOUND",
      );
      assertError(await api.request("GET", eventsUrl(b.projectId), { key: a.key }), 404, "NOT_FOUND");
      const listed = await api.request("GET", eventsUrl(b.projectId), { key: b.key });
      assert.deepEqual(
        listed.json.data.map((e: { event: { id: string } }) => e.event.id),
        [bEvent],
      );

      // A second project of tenant A does not see the first project's events.
      const projectId = newId("project");
      await api.t.admin("insert into projects (id, tenant_id, name) values ($1, $2, 'second')", [
        projectId,
        a.tenantId,
      ]);
      const key2 = await api.key(a.tenantId, projectId, [...PROJECT_PERMISSIONS]);
      assertError(
        await api.request("GET", `${eventsUrl(projectId)}/${secretEvent}`, { key: key2.secret }),
        404,
        "NOT_FOUND",
      );
      const empty = await api.request("GET", eventsUrl(projectId), { key: key2.secret });
      assert.deepEqual(empty.json, { data: [], next_cursor: null });
      assertError(
        await api.request("GET", `${eventsUrl(a.projectId)}/${newId("event")}`, { key: a.key }),
        404,
        "NOT_FOUND",
      );
    });
  });
}
