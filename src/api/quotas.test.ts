import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";

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
  });
}
