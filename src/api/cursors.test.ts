/**
 * Pagination cursors are opaque and belong to one list of one project: a
 * delivery id, another project's cursor, another list's cursor or a cursor
 * with one character changed is refused with CURSOR_INVALID, never answered
 * with rows. The reviewer's finding: `?after=<another project's delivery id>`
 * returned that project's neighbours.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, storeWithDeliveries, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { newId, ZenError } from "../core/index.ts";
import { listDeliveries } from "../deliver/deliveries/read.ts";
import { insertTestSource, testItem } from "../ingest/store/testing.ts";
import { createProject, PROJECT_PERMISSIONS, TENANT_PERMISSIONS } from "../tenancy/index.ts";

/** `count` events of the project's, each delivered to its one subscription, all dead-lettered too. */
async function deliveries(api: TestApi, tenantId: string, projectId: string, key: string, count: number) {
  const destination = (await api.destination(tenantId, projectId)).id;
  const sub = await api.request("POST", `/v1/projects/${projectId}/subscriptions`, {
    key,
    body: { destination_id: destination },
  });
  assert.equal(sub.status, 201, sub.text);
  const source = await insertTestSource(api.tenancy.db, tenantId, projectId);
  const items = Array.from({ length: count }, (_, i) =>
    testItem(source, api.clock.now(), { text: JSON.stringify({ n: i }) }),
  );
  await storeWithDeliveries(api, items);
  const rows = await api.t.admin<{ id: string }>(
    "update deliveries set status = 'dead', dead_at = now() where project_id = $1 returning id",
    [projectId],
  );
  assert.equal(rows.length, count);
  return rows.map((r) => r.id);
}

/** A list item's id (an event's is inside its CloudEvent). */
const idOf = (item: { id?: string; event?: { id: string } }) => item.id ?? item.event?.id ?? "";

/** The same text with one character of its second half changed. */
function tampered(text: string): string {
  const i = Math.floor(text.length * 0.75);
  return text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1);
}

for (const kind of DRIVERS) {
  describe(`pagination cursors on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let a: string;
    let b: string;
    let keyA: string;
    let keyB: string;
    let cookie: string;
    let bDeliveries: string[];

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId: a, key: keyA } = await api.tenant());
      b = (
        await createProject(
          api.tenancy,
          {
            tenantId,
            actor: { type: "operator", id: "test" },
            permissions: new Set(TENANT_PERMISSIONS),
            correlationId: newId("correlation"),
          },
          { name: "sibling" },
        )
      ).id;
      keyB = (await api.key(tenantId, b, [...PROJECT_PERMISSIONS])).secret;
      await deliveries(api, tenantId, a, keyA, 3);
      bDeliveries = await deliveries(api, tenantId, b, keyB, 3);
      for (const p of [a, b]) {
        const k = p === a ? keyA : keyB;
        for (let i = 0; i < 3; i++) await api.source(tenantId, p, { name: `source ${i}` });
        const extra = (await api.destination(tenantId, p)).id;
        const s = await api.request("POST", `/v1/projects/${p}/subscriptions`, {
          key: k,
          body: { destination_id: extra },
        });
        assert.equal(s.status, 201, s.text);
        for (let i = 0; i < 2; i++) {
          const r = await api.request("POST", `/v1/projects/${p}/api-keys`, {
            key: k,
            body: { name: `key ${i}`, permissions: ["sources:read"] },
          });
          assert.equal(r.status, 201, r.text);
        }
      }
      const owner = await api.user(tenantId, "owner");
      cookie = await api.login(owner.email, owner.password);
    });
    after(async () => {
      await api?.close();
    });

    const get = (project: string, path: string, auth: { key: string } | { cookie: string }) =>
      api.request("GET", `/v1/projects/${project}${path}`, auth);

    test("another project's delivery id as a cursor is refused, not answered with its rows", async () => {
      for (const list of ["/deliveries", "/dlq"]) {
        const res = await get(a, `${list}?after=${bDeliveries[0]}`, { key: keyA });
        assertError(res, 400, "CURSOR_INVALID", list);
        assert.ok(
          !bDeliveries.some((id) => res.text.includes(id)),
          `${list} shows another project's delivery`,
        );
      }
    });

    test("the deliveries action takes a position in its own project only", async () => {
      const ctx = {
        tenantId,
        projectId: a,
        actor: { type: "operator", id: "test" } as const,
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: newId("correlation"),
      };
      for (const dlq of [false, true]) {
        await assert.rejects(
          listDeliveries(api.tenancy, ctx, { limit: 10, after: bDeliveries[0], dlq }),
          (err: unknown) => err instanceof ZenError && err.code === "CURSOR_INVALID",
        );
      }
    });

    test("every list's cursor works only for that list, in that project", async () => {
      const lists = [
        "/deliveries",
        "/dlq",
        "/sources",
        "/destinations",
        "/subscriptions",
        "/api-keys",
        "/events",
      ];
      const param = (list: string) => (list === "/events" ? "cursor" : "after");
      const cursors = new Map<string, string>();
      for (const list of lists) {
        const first = await get(b, `${list}?limit=1`, { cookie });
        assert.equal(first.status, 200, `${list} ${first.text}`);
        assert.equal(typeof first.json.next_cursor, "string", list);
        const cursor: string = first.json.next_cursor;
        // Opaque: not an id the caller could have picked, nor one it can read.
        assert.ok(!/(dlv|src|dst|sub|key|evt)_[0-9A-Za-z]{22}/.test(cursor), `${list} cursor shows an id`);
        assert.ok(
          !Buffer.from(cursor, "base64url").toString("latin1").includes(idOf(first.json.data[0])),
          `${list} cursor is readable`,
        );
        cursors.set(list, cursor);
        // Its own list, in its own project, goes on.
        const next = await get(b, `${list}?limit=1&${param(list)}=${encodeURIComponent(cursor)}`, { cookie });
        assert.equal(next.status, 200, `${list} ${next.text}`);
        assert.notEqual(idOf(next.json.data[0]), idOf(first.json.data[0]), list);
      }
      for (const list of lists) {
        const cursor = cursors.get(list)!;
        const q = (c: string) => `${list}?${param(list)}=${encodeURIComponent(c)}`;
        // Another project of the same tenant, by a principal that may read both.
        assertError(await get(a, q(cursor), { cookie }), 400, "CURSOR_INVALID", `${list} in another project`);
        assertError(await get(b, q(tampered(cursor)), { cookie }), 400, "CURSOR_INVALID", `${list} tampered`);
        const other = lists[(lists.indexOf(list) + 1) % lists.length]!;
        assertError(
          await get(b, `${other}?${param(other)}=${encodeURIComponent(cursor)}`, { cookie }),
          400,
          "CURSOR_INVALID",
          `${list} cursor on ${other}`,
        );
      }
    });

    test("pages of deliveries follow each other without a gap or a repeat", async () => {
      const all = await get(a, "/deliveries", { key: keyA });
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 10; i++) {
        const q: string = cursor === null ? "?limit=2" : `?limit=2&after=${encodeURIComponent(cursor)}`;
        const page = await get(a, `/deliveries${q}`, { key: keyA });
        assert.equal(page.status, 200, page.text);
        seen.push(...page.json.data.map((d: { id: string }) => d.id));
        cursor = page.json.next_cursor;
        if (cursor === null) break;
      }
      assert.deepEqual(
        seen,
        all.json.data.map((d: { id: string }) => d.id),
      );
      assert.equal(seen.length, 3);
    });
  });
}
