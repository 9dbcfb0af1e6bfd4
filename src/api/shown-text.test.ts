/**
 * Text the control API stores and shows to people (names, event-type
 * patterns and filters) refuses bidirectional overrides, zero-width and other
 * invisible or control characters: one such character makes
 * "invoice.paid" in a list read as something else. Every route answers the
 * same stable code, naming the path and never echoing the value.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";

// Right-to-left override, zero-width space, right-to-left isolate, a C1 control, the BOM.
const TRICKS = ["ord\u202Eer.paid", "or\u200Bder", "\u2067admin\u2069", "line\u0085break", "bo\uFEFFm"];

for (const kind of DRIVERS) {
  describe(`text shown to people, over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let projectId: string;
    let key: string;
    let destinationId: string;
    let sourceId: string;
    let subscriptionId: string;
    let cookie: string;
    const p = (suffix: string) => `/v1/projects/${projectId}${suffix}`;

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId, key } = await api.tenant());
      destinationId = (await api.destination(tenantId, projectId)).id;
      sourceId = (await api.source(tenantId, projectId)).id;
      const s = await api.request("POST", p("/subscriptions"), {
        key,
        body: { destination_id: destinationId },
      });
      assert.equal(s.status, 201, s.text);
      subscriptionId = s.json.id;
      const owner = await api.user(tenantId, "owner");
      cookie = await api.login(owner.email, owner.password);
    });
    after(async () => {
      await api?.close();
    });

    const refused = (
      path: string,
      res: Awaited<ReturnType<TestApi["request"]>>,
      trick: string,
      where: string,
    ) => {
      assertError(res, 400, "TEXT_NOT_ALLOWED", `${where} ${JSON.stringify(trick)}`);
      const paths = res.json.error.details.issues.map((i: { path: string }) => i.path);
      assert.ok(paths.includes(path), `${where}: ${JSON.stringify(paths)}`);
      assert.ok(!res.text.includes(trick), `${where} echoes the value`);
    };

    test("names of keys, sources, destinations, subscriptions and projects, on create and on change", async () => {
      for (const trick of TRICKS) {
        const writes: [string, string, string, unknown, string, string?][] = [
          ["POST", p("/api-keys"), "key", { name: trick, permissions: ["sources:read"] }, "body.name"],
          ["POST", p("/sources"), "key", { name: trick, scheme: "github" }, "body.name"],
          ["PATCH", p(`/sources/${sourceId}`), "key", { name: trick }, "body.name"],
          [
            "POST",
            p("/destinations"),
            "key",
            { name: trick, url: "https://hooks.example.test/a" },
            "body.name",
          ],
          ["PATCH", p(`/destinations/${destinationId}`), "key", { name: trick }, "body.name"],
          ["POST", p("/subscriptions"), "key", { name: trick, destination_id: destinationId }, "body.name"],
          ["PATCH", p(`/subscriptions/${subscriptionId}`), "key", { name: trick }, "body.name"],
          ["POST", `/v1/tenants/${tenantId}/projects`, "cookie", { name: trick }, "body.name"],
        ];
        for (const [method, url, auth, body, path] of writes) {
          const res = await api.request(method, url, auth === "key" ? { key, body } : { cookie, body });
          refused(path, res, trick, `${method} ${url}`);
        }
      }
      // Ordinary text in any script still goes.
      const ok = await api.request("PATCH", p(`/destinations/${destinationId}`), {
        key,
        body: { name: "Zahlungen – été – 注文 – طلبات" },
      });
      assert.equal(ok.status, 200, ok.text);
    });

    test("string values inside a source's settings, on create and on change", async () => {
      // Refused as text shown to people, or by the setting's own stricter rule (a header's
      // prefix is printable ASCII): either way named by its path and never echoed.
      const refused = (
        path: string,
        res: Awaited<ReturnType<TestApi["request"]>>,
        trick: string,
        where: string,
      ) => {
        assert.equal(res.status, 400, `${where}: ${res.text}`);
        assert.ok(["TEXT_NOT_ALLOWED", "VALIDATION_FAILED"].includes(res.json.error.code), where);
        const paths = res.json.error.details.issues.map((i: { path: string }) => i.path);
        assert.ok(paths.includes(path), `${where}: ${JSON.stringify(paths)}`);
        assert.ok(!res.text.includes(trick), `${where} echoes the value`);
      };
      for (const trick of TRICKS) {
        const settings = { header: "x-signature", prefix: trick };
        refused(
          "body.settings.prefix",
          await api.request("POST", p("/sources"), {
            key,
            body: { name: "generic", scheme: "generic-hmac", settings },
          }),
          trick,
          "generic-hmac prefix on create",
        );
        const meta = await api.request("POST", p("/sources"), {
          key,
          body: { name: "meta", scheme: "meta", settings: { verify_token: `token${trick}` } },
        });
        refused("body.settings.verify_token", meta, trick, "meta verify_token");
        const generic = await api.request("POST", p("/sources"), {
          key,
          body: { name: "generic ok", scheme: "generic-hmac", settings: { header: "x-signature" } },
        });
        assert.equal(generic.status, 201, generic.text);
        refused(
          "body.settings.prefix",
          await api.request("PATCH", p(`/sources/${generic.json.id}`), { key, body: { settings } }),
          trick,
          "generic-hmac prefix on change",
        );
        await api.request("DELETE", p(`/sources/${generic.json.id}`), { key });
      }
    });

    test("event-type patterns and filters", async () => {
      for (const trick of TRICKS) {
        const sub = await api.request("PATCH", p(`/subscriptions/${subscriptionId}`), {
          key,
          body: { event_types: ["com.example.ok", trick] },
        });
        refused("body.event_types.1", sub, trick, "subscription event_types");
        const replay = await api.request("POST", p("/dlq/replay"), { key, body: { event_type: trick } });
        refused("body.event_type", replay, trick, "DLQ replay event_type");
        const q = encodeURIComponent(trick);
        refused(
          "query.event_type",
          await api.request("GET", p(`/dlq?event_type=${q}`), { key }),
          trick,
          "DLQ list",
        );
        refused(
          "query.type",
          await api.request("GET", p(`/events?type=${q}`), { key }),
          trick,
          "events list",
        );
      }
    });
  });
}
