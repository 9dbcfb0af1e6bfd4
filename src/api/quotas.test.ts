import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit } from "../audit/index.ts";
import { newId } from "../core/index.ts";
import { projectQuotaReport, setProjectQuotas } from "../tenancy/index.ts";

for (const kind of DRIVERS) {
  describe(`quotas over the API on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let projectId: string;
    let key: string;

    before(async () => {
      // The tenant's own key is one of the two live keys allowed.
      api = await startTestApi(kind, {
        quotas: { sources: 1, destinations: 1, subscriptions: 1, apiKeys: 2, rotationsPerDay: 1 },
      });
      ({ projectId, key } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    test("a create beyond a project's limit answers 409 QUOTA_EXCEEDED naming the quota and its setting", async () => {
      const url = `/v1/projects/${projectId}/sources`;
      const first = await api.request("POST", url, { key, body: { name: "one", scheme: "github" } });
      assert.equal(first.status, 201, first.text);
      const second = await api.request("POST", url, { key, body: { name: "two", scheme: "github" } });
      assertError(second, 409, "QUOTA_EXCEEDED", "second source");
      assert.deepEqual(second.json.error.details, {
        quota: "sources",
        limit: 1,
        setting: "ZENMESH_QUOTA_SOURCES_PER_PROJECT",
      });
      const list = await api.request("GET", url, { key });
      assert.equal(list.json.data.length, 1);

      const rotate = `/v1/projects/${projectId}/sources/${first.json.id}/rotate-secret`;
      assert.equal((await api.request("POST", rotate, { key, body: {} })).status, 200);
      assertError(
        await api.request("POST", rotate, { key, body: {} }),
        409,
        "QUOTA_EXCEEDED",
        "second rotation",
      );

      const keys = `/v1/projects/${projectId}/api-keys`;
      const body = { name: "ci", permissions: ["sources:read"] };
      assert.equal((await api.request("POST", keys, { key, body })).status, 201);
      assertError(await api.request("POST", keys, { key, body }), 409, "QUOTA_EXCEEDED", "third key");
    });

    test("an operator's limit for one project raises or lowers it there only, audited, and resets to the default", async () => {
      const a = await api.tenant("own-limits");
      const b = await api.tenant("default-limits");
      const operator = { type: "operator", id: "cli" } as const;
      const set = (values: Parameters<typeof setProjectQuotas>[1]["set"]) =>
        setProjectQuotas(api.tenancy, {
          tenantId: a.tenantId,
          projectId: a.projectId,
          actor: operator,
          correlationId: newId("correlation"),
          set: values,
        });
      const create = (t: { projectId: string; key: string }, name: string) =>
        api.request("POST", `/v1/projects/${t.projectId}/sources`, {
          key: t.key,
          body: { name, scheme: "github" },
        });

      const raised = await set({ sources: 3, destinations: 0 });
      const limits = Object.fromEntries(raised.map((q) => [q.quota, [q.limit, q.origin, q.used]]));
      assert.deepEqual(limits.sources, [3, "project", 0]);
      assert.deepEqual(limits.destinations, [0, "project", 0]);
      assert.deepEqual(limits.subscriptions, [1, "default", 0]);
      for (const name of ["one", "two", "three"]) assert.equal((await create(a, name)).status, 201, name);
      const fourth = await create(a, "four");
      assertError(fourth, 409, "QUOTA_EXCEEDED", "fourth source under the project's own limit");
      assert.deepEqual(fourth.json.error.details, {
        quota: "sources",
        limit: 3,
        setting: "the project's own limit (zenmesh quota set)",
      });
      assertError(
        await api.request("POST", `/v1/projects/${a.projectId}/destinations`, {
          key: a.key,
          body: { name: "d", url: "https://example.com/hook" },
        }),
        409,
        "QUOTA_EXCEEDED",
        "a destination under a limit of 0",
      );
      // The other tenant's project keeps the configured default.
      assert.equal((await create(b, "one")).status, 201);
      assertError(await create(b, "two"), 409, "QUOTA_EXCEEDED", "the default elsewhere");

      // Back to the default: the three held stay, a new one is refused at the default's 1.
      const reset = await set({ sources: null });
      assert.deepEqual(
        reset.filter((q) => q.quota === "sources").map((q) => [q.limit, q.origin, q.used]),
        [[1, "default", 3]],
      );
      assertError(await create(a, "five"), 409, "QUOTA_EXCEEDED", "after the reset");
      const report = await projectQuotaReport(api.tenancy, { tenantId: a.tenantId, projectId: a.projectId });
      assert.deepEqual(
        report.filter((q) => q.origin === "project").map((q) => q.quota),
        ["destinations"],
      );

      const entries = await api.t.db.withTenant(a.tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const changes = entries.filter((e) => e.action === "project.quotas_set");
      assert.equal(changes.length, 2);
      assert.deepEqual(
        [changes[0]!.details.sources_before, changes[0]!.details.sources, changes[1]!.details.sources],
        [null, 3, null],
      );
      assert.ok(changes.every((e) => e.targetId === a.projectId && e.actorId === "cli"));

      await assert.rejects(set({ sources: -1 }), { code: "VALIDATION_FAILED" });
      await assert.rejects(set({}), { code: "VALIDATION_FAILED" });
      await assert.rejects(
        setProjectQuotas(api.tenancy, {
          tenantId: a.tenantId,
          projectId: b.projectId,
          actor: operator,
          correlationId: newId("correlation"),
          set: { sources: 9 },
        }),
        { code: "NOT_FOUND" },
        "another tenant's project",
      );
    });
  });
}
