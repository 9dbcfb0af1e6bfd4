import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { type AuditRecord, listAudit, SYSTEM_CHAIN } from "../audit/index.ts";
import { randomBase62 } from "../core/index.ts";

const GENERATED = /^corr_[0-9A-Za-z]{22}$/;

for (const kind of DRIVERS) {
  describe(`correlation ids and system endpoints on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenant: { tenantId: string; projectId: string; key: string };

    before(async () => {
      api = await startTestApi(kind, { metrics: true });
      tenant = await api.tenant();
    });
    after(async () => {
      await api?.close();
    });

    async function auditOf(chain: string, correlationId: string): Promise<AuditRecord[]> {
      const rows = await api.t.db.withTenant(chain, (tx) => listAudit(tx, { limit: 1000 }));
      return rows.filter((r) => r.correlationId === correlationId);
    }

    test("an X-Correlation-ID is echoed in the header, the error body, the audit entry and the log", async () => {
      const id = "req-12345678";
      const created = await api.request("POST", `/v1/projects/${tenant.projectId}/api-keys`, {
        key: tenant.key,
        body: { name: "traced", permissions: ["sources:read"] },
        headers: { "x-correlation-id": id },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.headers.get("x-correlation-id"), id);
      const actions = (await auditOf(tenant.tenantId, id)).map((r) => r.action).sort();
      assert.deepEqual(actions, ["api_key.create", "api_key.use"]);
      assert.ok(api.logs.lines().some((l) => JSON.parse(l).correlation_id === id));

      const failedId = "req-87654321";
      const failed = await api.request("GET", "/v1/me", {
        key: `zm_test_${randomBase62(48)}`,
        headers: { "x-correlation-id": failedId },
      });
      assertError(failed, 401, "UNAUTHENTICATED");
      assert.equal(failed.json.error.correlation_id, failedId);
      const entries = await auditOf(SYSTEM_CHAIN, failedId);
      assert.deepEqual(
        entries.map((e) => [e.action, e.outcome]),
        [["auth.api_key", "failure"]],
      );
    });

    test("a traceparent's trace id is used when no X-Correlation-ID is given", async () => {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
      const r = await api.request("GET", "/v1/nowhere", { headers: { traceparent } });
      assertError(r, 404, "NOT_FOUND");
      assert.equal(r.headers.get("x-correlation-id"), traceId);
      assert.equal(r.json.error.correlation_id, traceId);
      const both = await api.request("GET", "/healthz", {
        headers: { traceparent, "x-correlation-id": "req-preferred" },
      });
      assert.equal(both.headers.get("x-correlation-id"), "req-preferred");
      const zero = await api.request("GET", "/healthz", {
        headers: { traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` },
      });
      assert.match(zero.headers.get("x-correlation-id") ?? "", GENERATED);
    });

    test("a malformed correlation id is replaced by a generated one", async () => {
      for (const bad of [
        "has spaces in it",
        "x".repeat(300),
        "short",
        "<script>alert(1)</script>",
        "a\tb-12345678",
      ]) {
        const r = await api.request("GET", "/v1/me", { headers: { "x-correlation-id": bad } });
        assertError(r, 401, "UNAUTHENTICATED", bad);
        assert.match(r.headers.get("x-correlation-id") ?? "", GENERATED, bad);
        assert.match(r.json.error.correlation_id, GENERATED, bad);
        assert.ok(!api.logs.text().includes(bad), bad);
      }
      const bad = await api.request("GET", "/healthz", { headers: { traceparent: "00-zz-yy-01" } });
      assert.match(bad.headers.get("x-correlation-id") ?? "", GENERATED);
    });

    test("GET /healthz answers ok", async () => {
      const r = await api.request("GET", "/healthz");
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, "ok");
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    });

    test("the public listener has no /metrics: it answers 404 with or without a credential", async () => {
      assertError(await api.request("GET", "/metrics"), 404, "NOT_FOUND");
      assertError(await api.request("GET", "/metrics", { key: tenant.key }), 404, "NOT_FOUND");
      assertError(await api.request("GET", "/metrics/"), 404, "NOT_FOUND");
    });

    test("the separate metrics listener answers Prometheus text with request latencies", async () => {
      await api.request("GET", "/healthz");
      await api.request("GET", "/v1/me", { key: `zm_test_${randomBase62(48)}` });
      const r = await fetch(`${api.metricsUrl}/metrics`);
      const text = await r.text();
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
      assert.match(text, /# TYPE zenmesh_http_request_duration_seconds histogram/);
      assert.match(text, /zenmesh_http_request_duration_seconds_count\{[^}]*route="\/healthz"[^}]*\} \d+/);
      assert.match(text, /zenmesh_auth_failures_total\{reason="unknown"\} \d+/);
      // It serves nothing else: not the API, not its document.
      for (const path of ["/healthz", "/openapi.json", "/v1/me", "/"]) {
        assert.equal((await fetch(`${api.metricsUrl}${path}`)).status, 404, path);
      }
      assert.equal((await fetch(`${api.metricsUrl}/metrics`, { method: "POST" })).status, 405);
    });

    test("GET /openapi.json is an OpenAPI 3.1.0 document with every route", async () => {
      const r = await api.request("GET", "/openapi.json");
      assert.equal(r.status, 200);
      assert.equal(r.json.openapi, "3.1.0");
      assert.deepEqual(Object.keys(r.json.paths).sort(), [
        "/healthz",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/me",
        "/v1/projects/{project_id}/api-keys",
        "/v1/projects/{project_id}/api-keys/{key_id}",
        "/v1/projects/{project_id}/deliveries",
        "/v1/projects/{project_id}/deliveries/{delivery_id}",
        "/v1/projects/{project_id}/deliveries/{delivery_id}/replay",
        "/v1/projects/{project_id}/destinations",
        "/v1/projects/{project_id}/destinations/{destination_id}",
        "/v1/projects/{project_id}/destinations/{destination_id}/rotate-secret",
        "/v1/projects/{project_id}/dlq",
        "/v1/projects/{project_id}/dlq/replay",
        "/v1/projects/{project_id}/events",
        "/v1/projects/{project_id}/events/{event_id}",
        "/v1/projects/{project_id}/replay-jobs/{job_id}",
        "/v1/projects/{project_id}/sources",
        "/v1/projects/{project_id}/sources/{source_id}",
        "/v1/projects/{project_id}/sources/{source_id}/rotate-secret",
        "/v1/projects/{project_id}/sources/{source_id}/test",
        "/v1/projects/{project_id}/subscriptions",
        "/v1/projects/{project_id}/subscriptions/{subscription_id}",
        "/v1/tenants/{tenant_id}/members",
        "/v1/tenants/{tenant_id}/members/{user_id}",
        "/v1/tenants/{tenant_id}/projects",
      ]);
      const create = r.json.paths["/v1/projects/{project_id}/api-keys"].post;
      assert.equal(create.operationId, "createApiKey");
      assert.ok(create.requestBody.content["application/json"].schema.properties.permissions);
      assert.deepEqual(
        create.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`),
        ["path:project_id"],
      );
      assert.ok(r.json.components.schemas.Error);
    });

    test("an unknown route answers 404 in the error shape", async () => {
      for (const [method, path] of [
        ["GET", "/v2/anything"],
        ["POST", "/v1/me"],
        ["GET", "/"],
      ] as const) {
        assertError(await api.request(method, path), 404, "NOT_FOUND", `${method} ${path}`);
      }
    });
  });
}
