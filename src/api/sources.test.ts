import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, TEST_INGEST_BASE_URL, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit, verifyAuditChain } from "../audit/index.ts";
import { loadSourceChanges } from "../ingest/sources/index.ts";

for (const kind of DRIVERS) {
  describe(`sources over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let projectId: string;
    let admin: string;
    const url = (suffix = "") => `/v1/projects/${projectId}/sources${suffix}`;

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId, key: admin } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    const create = (body: unknown) => api.request("POST", url(), { key: admin, body });
    const distributed = async (id: string, now = api.clock.now()) =>
      (await loadSourceChanges(api.t.db, api.tenancy.zenlock, 0, now)).upserts.find((u) => u.id === id);

    test("creating a source returns its secret once; list and read never show it", async () => {
      const r = await create({ name: "github", scheme: "github" });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers.get("cache-control"), "no-store");
      const secret: string = r.json.secret;
      assert.ok(secret.length >= 8);
      assert.equal(r.json.project_id, projectId);
      assert.equal(r.json.ingest_url, `${TEST_INGEST_BASE_URL}/e/${r.json.id}`);
      assert.equal(r.json.secret_versions.length, 1);

      const list = await api.request("GET", url(), { key: admin });
      const one = await api.request("GET", url(`/${r.json.id}`), { key: admin });
      for (const res of [list, one]) {
        assert.equal(res.status, 200, res.text);
        assert.ok(!res.text.includes(secret), "the secret is never shown again");
        assert.ok(!/"secret"|sealed/.test(res.text), res.text);
      }
      const { secret: _, ...view } = r.json;
      assert.deepEqual(one.json, view);
      assert.deepEqual(
        list.json.data.find((s: { id: string }) => s.id === r.json.id),
        view,
      );
      const [stored] = await api.t.admin<{ sealed: string }>(
        "select sealed from source_secrets where source_id = $1",
        [r.json.id],
      );
      assert.ok(stored && !stored.sealed.includes(secret));
      assert.equal((await distributed(r.json.id))?.secrets[0]?.value, secret);
    });

    test("a user-supplied secret is used, and every setting round-trips", async () => {
      const body = {
        name: "mine",
        scheme: "standard-webhooks",
        secret: `whsec_${Buffer.alloc(24, 3).toString("base64")}`,
        settings: {},
        signature_required: false,
        allow_plain_http: true,
        client_cert_pins: ["0123456789abcdef".repeat(4)],
        max_body_bytes: 4096,
        content_types: ["application/json", "application/cloudevents-batch+json"],
        tolerance_seconds: 30,
        secret_overlap_seconds: 0,
        cloudevents: "structured",
      };
      const r = await create(body);
      assert.equal(r.status, 201, r.text);
      const { secret, ...rest } = body;
      assert.equal(r.json.secret, secret);
      for (const [k, v] of Object.entries(rest)) assert.deepEqual(r.json[k], v, k);
      assert.equal((await distributed(r.json.id))?.secrets[0]?.value, secret);
    });

    test("a CloudEvents mode the scheme does not sign is refused with 422, on create and on PATCH", async () => {
      const refused = await create({ name: "binary", scheme: "github", cloudevents: "binary" });
      assertError(refused, 422, "CLOUDEVENTS_MODE_UNAUTHENTICATED");
      const r = await create({ name: "off", scheme: "shopify" });
      assert.equal(r.json.cloudevents, "off");
      const patched = await api.request("PATCH", url(`/${r.json.id}`), {
        key: admin,
        body: { cloudevents: "any" },
      });
      assertError(patched, 422, "CLOUDEVENTS_MODE_UNAUTHENTICATED");
      assert.equal((await distributed(r.json.id))?.cloudevents, "off");
    });

    test("PATCH changes the named fields; DELETE removes the source", async () => {
      const r = await create({ name: "to change", scheme: "slack" });
      const patched = await api.request("PATCH", url(`/${r.json.id}`), {
        key: admin,
        body: { name: "changed", enabled: false, content_types: ["application/x-www-form-urlencoded"] },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.name, "changed");
      assert.equal(patched.json.enabled, false);
      assert.deepEqual(patched.json.content_types, ["application/x-www-form-urlencoded"]);
      assert.ok(!patched.text.includes(r.json.secret));
      assert.equal((await distributed(r.json.id))?.enabled, false);

      const del = await api.request("DELETE", url(`/${r.json.id}`), { key: admin });
      assert.equal(del.status, 204, del.text);
      assertError(await api.request("GET", url(`/${r.json.id}`), { key: admin }), 404, "NOT_FOUND");
      assertError(await api.request("DELETE", url(`/${r.json.id}`), { key: admin }), 404, "NOT_FOUND");
      const changes = await loadSourceChanges(api.t.db, api.tenancy.zenlock, 0, api.clock.now());
      assert.ok(changes.deletes.includes(r.json.id));
    });

    test("rotating returns the new secret once and keeps the old one for the overlap", async () => {
      const r = await create({ name: "rotating", scheme: "github", secret_overlap_seconds: 600 });
      const rot = await api.request("POST", url(`/${r.json.id}/rotate-secret`), { key: admin, body: {} });
      assert.equal(rot.status, 200, rot.text);
      assert.equal(rot.headers.get("cache-control"), "no-store");
      assert.notEqual(rot.json.secret, r.json.secret);
      assert.deepEqual(
        rot.json.secret_versions.map((v: { version: number }) => v.version),
        [2, 1],
      );
      assert.ok(!rot.text.includes(r.json.secret), "the old secret is not echoed");
      const now = api.clock.now().getTime();
      assert.deepEqual(
        (await distributed(r.json.id))?.secrets.map((s) => s.value),
        [rot.json.secret, r.json.secret],
      );
      assert.deepEqual(
        (await distributed(r.json.id, new Date(now + 600_000)))?.secrets.map((s) => s.value),
        [rot.json.secret],
      );
      const noBody = await api.request("POST", url(`/${r.json.id}/rotate-secret`), { key: admin });
      assert.equal(noBody.status, 200, noBody.text);
      const supplied = await api.request("POST", url(`/${r.json.id}/rotate-secret`), {
        key: admin,
        body: { secret: "a secret of my own", overlap_seconds: 0 },
      });
      assert.equal(supplied.status, 200, supplied.text);
      assert.equal(supplied.json.secret, "a secret of my own");
      assert.deepEqual(
        (await distributed(r.json.id))?.secrets.map((s) => s.value),
        ["a secret of my own"],
      );
    });

    test("invalid input answers 400 VALIDATION_FAILED naming the path, without echoing values", async () => {
      const canary = "CANARYVALUE7f3a";
      const cases: [unknown, string][] = [
        [{ name: "x", scheme: canary }, "body.scheme"],
        [{ name: "x", scheme: "github", settings: { [canary]: 1 } }, "body.settings"],
        [{ name: "x", scheme: "standard-webhooks", secret: `${canary}${canary}` }, "body.secret"],
        [{ name: "x", scheme: "stripe", secret: `${canary}${canary}` }, "body.secret"],
        [{ name: "x", scheme: "github", secret: "short" }, "body.secret"],
        [{ name: "x", scheme: "github", client_cert_pins: [canary] }, "body.client_cert_pins.0"],
        [{ name: "x", scheme: "github", client_cert_pins: ["F".repeat(64)] }, "body.client_cert_pins.0"],
        [{ name: "x", scheme: "github", max_body_bytes: 0 }, "body.max_body_bytes"],
        [{ name: "x", scheme: "github", max_body_bytes: 16 * 1024 * 1024 + 1 }, "body.max_body_bytes"],
        [
          { name: "x", scheme: "github", content_types: [`${canary}/json; charset=utf-8`] },
          "body.content_types.0",
        ],
        [{ name: "x", scheme: "github", secret_overlap_seconds: -1 }, "body.secret_overlap_seconds"],
        [{ name: "x", scheme: "github", extra: canary }, "body"],
      ];
      for (const [body, path] of cases) {
        const r = await create(body);
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
        assert.ok(!r.text.includes(canary), r.text);
        const paths = r.json.error.details.issues.map((i: { path: string }) => i.path);
        assert.ok(
          paths.some((p: string) => p === path || p.startsWith(`${path}.`)),
          `${JSON.stringify(body)}: ${paths}`,
        );
      }
      const src = await create({ name: "valid", scheme: "github" });
      for (const body of [{}, { secret: "x" }, { scheme: "stripe" }, { settings: { [canary]: true } }]) {
        const r = await api.request("PATCH", url(`/${src.json.id}`), { key: admin, body });
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
        assert.ok(!r.text.includes(canary), r.text);
      }
      const rot = await api.request("POST", url(`/${src.json.id}/rotate-secret`), {
        key: admin,
        body: { overlap_seconds: 2_592_001 },
      });
      assertError(rot, 400, "VALIDATION_FAILED");
    });

    test("lists page by limit and after cursor", async () => {
      const t = await api.tenant("paged");
      const paged = `/v1/projects/${t.projectId}/sources`;
      for (let i = 0; i < 3; i++) await api.source(t.tenantId, t.projectId, { name: `s${i}` });
      const first = await api.request("GET", `${paged}?limit=2`, { key: t.key });
      assert.equal(first.json.data.length, 2);
      assert.ok(first.json.next_cursor);
      const second = await api.request("GET", `${paged}?limit=2&after=${first.json.next_cursor}`, {
        key: t.key,
      });
      assert.equal(second.json.data.length, 1);
      assert.equal(second.json.next_cursor, null);
    });

    test("the changes are in the tenant's audit chain, which verifies", async () => {
      const r = await create({ name: "audited", scheme: "github" });
      await api.request("PATCH", url(`/${r.json.id}`), { key: admin, body: { enabled: false } });
      await api.request("POST", url(`/${r.json.id}/rotate-secret`), { key: admin, body: {} });
      await api.request("DELETE", url(`/${r.json.id}`), { key: admin });
      const entries = await api.t.db.withTenant(tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      assert.deepEqual(
        entries.filter((e) => e.targetId === r.json.id).map((e) => [e.action, e.actorType]),
        [
          ["source.create", "api_key"],
          ["source.update", "api_key"],
          ["source.secret_rotate", "api_key"],
          ["source.delete", "api_key"],
        ],
      );
      assert.equal((await verifyAuditChain(api.t.db, tenantId)).ok, true);
    });
  });
}
