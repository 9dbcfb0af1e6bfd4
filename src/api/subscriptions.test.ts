import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit, verifyAuditChain } from "../audit/index.ts";
import { newId } from "../core/index.ts";
import { loadSubscriptionsForProjects } from "../deliver/subscriptions/index.ts";
import { createProject, PROJECT_PERMISSIONS, TENANT_PERMISSIONS } from "../tenancy/index.ts";

for (const kind of DRIVERS) {
  describe(`subscriptions over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let projectId: string;
    let admin: string;
    let destinationId: string;
    const url = (suffix = "") => `/v1/projects/${projectId}/subscriptions${suffix}`;
    const create = (body: unknown) => api.request("POST", url(), { key: admin, body });
    const rules = (projectIds = [projectId]) =>
      api.t.db.withTenant(tenantId, (tx) => loadSubscriptionsForProjects(tx, tenantId, projectIds));

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId, key: admin } = await api.tenant());
      destinationId = (await api.destination(tenantId, projectId)).id;
    });
    after(async () => {
      await api?.close();
    });

    test("a subscription needs only its destination; the rest defaults to everything", async () => {
      const r = await create({ destination_id: destinationId });
      assert.equal(r.status, 201, r.text);
      assert.match(r.json.id, /^sub_[0-9A-Za-z]{22}$/);
      assert.deepEqual(
        { ...r.json, id: undefined, created_at: undefined, updated_at: undefined },
        {
          id: undefined,
          project_id: projectId,
          name: "subscription",
          destination_id: destinationId,
          source_ids: [],
          event_types: [],
          conditions: [],
          enabled: true,
          created_at: undefined,
          updated_at: undefined,
        },
      );
      assert.equal(r.json.created_at, api.clock.now().toISOString());
      const one = await api.request("GET", url(`/${r.json.id}`), { key: admin });
      assert.deepEqual(one.json, r.json);
      const list = await api.request("GET", url(), { key: admin });
      assert.deepEqual(
        list.json.data.find((s: { id: string }) => s.id === r.json.id),
        r.json,
      );
    });

    test("sources, type patterns and conditions round-trip, normalised", async () => {
      const a = await api.source(tenantId, projectId);
      const b = await api.source(tenantId, projectId);
      const conditions = [
        { path: "data.amount", op: "gt", value: 10 },
        { path: "data.tags", op: "contains", value: "vip" },
        { path: "action", op: "in", value: ["opened", "closed"] },
        { path: "$", op: "exists" },
      ];
      const r = await create({
        name: "payments",
        destination_id: destinationId,
        source_ids: [a.id, b.id, a.id],
        event_types: ["com.stripe.*", "com.github.push", "com.github.push"],
        conditions,
        enabled: false,
      });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.name, "payments");
      assert.deepEqual(r.json.source_ids, [a.id, b.id]);
      assert.deepEqual(r.json.event_types, ["com.stripe.*", "com.github.push"]);
      assert.deepEqual(r.json.conditions, conditions);
      assert.equal(r.json.enabled, false);
      assert.deepEqual((await api.request("GET", url(`/${r.json.id}`), { key: admin })).json, r.json);
    });

    test("another project's or tenant's destination or source is refused like one that does not exist", async () => {
      const other = await api.tenant("other");
      const foreignDestination = (await api.destination(other.tenantId, other.projectId)).id;
      const foreignSource = (await api.source(other.tenantId, other.projectId)).id;
      const sibling = await createProject(
        api.tenancy,
        {
          tenantId,
          actor: { type: "operator", id: "test" },
          permissions: new Set(TENANT_PERMISSIONS),
          correlationId: newId("correlation"),
        },
        { name: "sibling" },
      );
      const siblingDestination = (await api.destination(tenantId, sibling.id)).id;
      const siblingSource = (await api.source(tenantId, sibling.id)).id;
      const mySource = (await api.source(tenantId, projectId)).id;
      const answers = new Set<string>();
      for (const id of [foreignDestination, siblingDestination, newId("destination")]) {
        const r = await create({ destination_id: id });
        assertError(r, 400, "VALIDATION_FAILED");
        answers.add(JSON.stringify(r.json.error.details));
      }
      assert.deepEqual(
        [...answers],
        [
          JSON.stringify({
            issues: [{ path: "body.destination_id", message: "names no destination of this project" }],
          }),
        ],
      );
      for (const id of [foreignSource, siblingSource, newId("source")]) {
        const r = await create({ destination_id: destinationId, source_ids: [mySource, id] });
        assertError(r, 400, "VALIDATION_FAILED");
        assert.deepEqual(r.json.error.details.issues, [
          { path: "body.source_ids.1", message: "names no source of this project" },
        ]);
      }
      const mine = await create({ destination_id: destinationId });
      for (const body of [{ destination_id: foreignDestination }, { source_ids: [siblingSource] }]) {
        const r = await api.request("PATCH", url(`/${mine.json.id}`), { key: admin, body });
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
      }
      // And from the other side: this project's subscription is not found from there.
      assertError(
        await api.request("GET", `/v1/projects/${other.projectId}/subscriptions/${mine.json.id}`, {
          key: other.key,
        }),
        404,
        "NOT_FOUND",
      );
    });

    test("invalid input answers 400 VALIDATION_FAILED naming the path, without echoing values", async () => {
      const canary = "CANARYVALUE7f3a";
      const d = destinationId;
      const cases: [unknown, string][] = [
        [{}, "body.destination_id"],
        [{ destination_id: canary }, "body.destination_id"],
        [{ destination_id: d, name: "" }, "body.name"],
        [{ destination_id: d, source_ids: [canary] }, "body.source_ids.0"],
        [
          { destination_id: d, source_ids: Array.from({ length: 101 }, () => newId("source")) },
          "body.source_ids",
        ],
        [{ destination_id: d, event_types: [`${canary}*x`] }, "body.event_types.0"],
        [{ destination_id: d, event_types: ["ok", ""] }, "body.event_types.1"],
        [{ destination_id: d, event_types: Array(51).fill("a") }, "body.event_types"],
        [{ destination_id: d, conditions: [{ path: "a", op: canary, value: 1 }] }, "body.conditions.0.op"],
        [
          { destination_id: d, conditions: [{ path: `${canary} x`, op: "eq", value: 1 }] },
          "body.conditions.0.path",
        ],
        [
          { destination_id: d, conditions: [{ path: "a", op: "eq", value: 1, [canary]: 1 }] },
          "body.conditions.0",
        ],
        [
          { destination_id: d, conditions: [{ path: "a", op: "gt", value: { canary } }] },
          "body.conditions.0.value",
        ],
        [
          { destination_id: d, conditions: [{ path: "a", op: "exists", value: canary }] },
          "body.conditions.0.value",
        ],
        [{ destination_id: d, conditions: [{ path: "a", op: "eq" }] }, "body.conditions.0.value"],
        [{ destination_id: d, conditions: [canary] }, "body.conditions.0"],
        [{ destination_id: d, enabled: canary }, "body.enabled"],
        [{ destination_id: d, extra: canary }, "body"],
      ];
      for (const [body, path] of cases) {
        const r = await create(body);
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body).slice(0, 200));
        assert.ok(!r.text.includes(canary), r.text);
        const paths = r.json.error.details.issues.map((i: { path: string }) => i.path);
        assert.ok(
          paths.some((p: string) => p === path || p.startsWith(`${path}.`)),
          `${JSON.stringify(body).slice(0, 200)}: ${paths}`,
        );
      }
      const sub = await create({ destination_id: d });
      for (const body of [{}, { project_id: projectId }, { event_types: ["*x*"] }]) {
        const r = await api.request("PATCH", url(`/${sub.json.id}`), { key: admin, body });
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
      }
      assertError(
        await api.request("GET", url(`?destination_id=${canary}`), { key: admin }),
        400,
        "VALIDATION_FAILED",
      );
    });

    test("lists page by cursor and filter by destination", async () => {
      const t = await api.tenant("paged");
      const d1 = (await api.destination(t.tenantId, t.projectId)).id;
      const d2 = (await api.destination(t.tenantId, t.projectId)).id;
      const base = `/v1/projects/${t.projectId}/subscriptions`;
      const byDestination: Record<string, string[]> = { [d1]: [], [d2]: [] };
      for (const d of [d1, d2, d1]) {
        const r = await api.request("POST", base, { key: t.key, body: { destination_id: d } });
        byDestination[d]!.push(r.json.id);
      }
      const first = await api.request("GET", `${base}?limit=2`, { key: t.key });
      assert.equal(first.json.data.length, 2);
      const second = await api.request("GET", `${base}?limit=2&after=${first.json.next_cursor}`, {
        key: t.key,
      });
      assert.equal(second.json.data.length, 1);
      assert.equal(second.json.next_cursor, null);
      for (const d of [d1, d2]) {
        const r = await api.request("GET", `${base}?destination_id=${d}`, { key: t.key });
        assert.deepEqual(
          r.json.data.map((s: { id: string }) => s.id),
          byDestination[d]!.sort(),
        );
      }
      const elsewhere = await api.request("GET", `${base}?destination_id=${destinationId}`, { key: t.key });
      assert.deepEqual(elsewhere.json.data, []);
    });

    test("PATCH changes the named fields; DELETE removes; deleting the destination removes its subscriptions", async () => {
      const d2 = (await api.destination(tenantId, projectId)).id;
      const r = await create({ destination_id: destinationId, event_types: ["a.b"] });
      api.clock.advance(1000);
      const patched = await api.request("PATCH", url(`/${r.json.id}`), {
        key: admin,
        body: { name: "moved", destination_id: d2, conditions: [{ path: "x", op: "not_exists" }] },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.name, "moved");
      assert.equal(patched.json.destination_id, d2);
      assert.deepEqual(patched.json.event_types, ["a.b"]);
      assert.deepEqual(patched.json.conditions, [{ path: "x", op: "not_exists" }]);
      assert.equal(patched.json.updated_at, api.clock.now().toISOString());
      assert.equal(patched.json.created_at, r.json.created_at);

      const gone = await create({ destination_id: destinationId });
      assert.equal((await api.request("DELETE", url(`/${gone.json.id}`), { key: admin })).status, 204);
      assertError(await api.request("GET", url(`/${gone.json.id}`), { key: admin }), 404, "NOT_FOUND");
      assertError(await api.request("DELETE", url(`/${gone.json.id}`), { key: admin }), 404, "NOT_FOUND");

      assert.equal(
        (await api.request("DELETE", `/v1/projects/${projectId}/destinations/${d2}`, { key: admin })).status,
        204,
      );
      assertError(await api.request("GET", url(`/${r.json.id}`), { key: admin }), 404, "NOT_FOUND");
    });

    test("fan-out loads the enabled subscriptions whose destination is enabled", async () => {
      const t = await api.tenant("rules");
      const ids = { tenantId: t.tenantId, projectId: t.projectId };
      const live = (await api.destination(ids.tenantId, ids.projectId)).id;
      const off = (await api.destination(ids.tenantId, ids.projectId, { enabled: false })).id;
      const src = (await api.source(ids.tenantId, ids.projectId)).id;
      const base = `/v1/projects/${t.projectId}/subscriptions`;
      const post = async (body: unknown) =>
        (await api.request("POST", base, { key: t.key, body })).json.id as string;
      const wanted = await post({
        destination_id: live,
        source_ids: [src],
        event_types: ["com.example.*"],
        conditions: [{ path: "a", op: "eq", value: 1 }],
      });
      await post({ destination_id: live, enabled: false });
      await post({ destination_id: off });
      const loaded = await api.t.db.withTenant(t.tenantId, (tx) =>
        loadSubscriptionsForProjects(tx, t.tenantId, [t.projectId]),
      );
      assert.deepEqual(loaded, [
        {
          id: wanted,
          projectId: t.projectId,
          destinationId: live,
          sourceIds: [src],
          eventTypes: ["com.example.*"],
          conditions: [{ path: "a", op: "eq", value: 1 }],
        },
      ]);
      assert.deepEqual(
        await api.t.db.withTenant(t.tenantId, (tx) =>
          loadSubscriptionsForProjects(tx, t.tenantId, [projectId]),
        ),
        [],
        "another tenant's project yields nothing",
      );
      assert.ok((await rules()).every((r) => r.projectId === projectId));
    });

    test("each action needs its permission, and the changes are in the audit chain, which verifies", async () => {
      const reader = await api.key(tenantId, projectId, ["subscriptions:read"]);
      const weak = await api.key(
        tenantId,
        projectId,
        PROJECT_PERMISSIONS.filter((p) => p !== "subscriptions:write"),
      );
      assertError(
        await api.request("POST", url(), { key: weak.secret, body: { destination_id: destinationId } }),
        403,
        "FORBIDDEN",
      );
      const r = await create({ destination_id: destinationId });
      assert.equal((await api.request("GET", url(`/${r.json.id}`), { key: reader.secret })).status, 200);
      await api.request("PATCH", url(`/${r.json.id}`), { key: admin, body: { enabled: false } });
      await api.request("DELETE", url(`/${r.json.id}`), { key: admin });
      const entries = await api.t.db.withTenant(tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const mine = entries.filter((e) => e.targetId === r.json.id);
      assert.deepEqual(
        mine.map((e) => [e.action, e.actorType, e.details.destination_id]),
        [
          ["subscription.create", "api_key", destinationId],
          ["subscription.update", "api_key", destinationId],
          ["subscription.delete", "api_key", destinationId],
        ],
      );
      assert.equal(mine[1]?.details.fields, "enabled");
      assert.equal((await verifyAuditChain(api.t.db, tenantId)).ok, true);
    });
  });
}
