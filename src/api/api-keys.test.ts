import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit } from "../audit/index.ts";

const KEY = /^zm_test_[0-9A-Za-z]{48}$/;

for (const kind of DRIVERS) {
  describe(`API keys over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let projectId: string;
    let admin: string;
    const keysUrl = () => `/v1/projects/${projectId}/api-keys`;

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId, key: admin } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    async function create(body: unknown, key = admin) {
      return api.request("POST", keysUrl(), { key, body });
    }

    test("creating a key returns its secret once; listing and reading show only a masked prefix", async () => {
      const r = await create({ name: "ci", permissions: ["sources:read", "events:read"] });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers.get("cache-control"), "no-store");
      const secret: string = r.json.secret;
      assert.match(secret, KEY);
      assert.equal(r.json.project_id, projectId);
      assert.deepEqual(r.json.permissions, ["events:read", "sources:read"]);
      assert.match(r.json.prefix, /^zm_test_[0-9A-Za-z]{1,8}…$/);
      assert.ok(secret.startsWith(r.json.prefix.slice(0, -1)));

      const list = await api.request("GET", keysUrl(), { key: admin });
      const one = await api.request("GET", `${keysUrl()}/${r.json.id}`, { key: admin });
      for (const res of [list, one]) {
        assert.equal(res.status, 200, res.text);
        assert.ok(!res.text.includes(secret), "the secret is never shown again");
        // Not even the part of the key that routes it, beyond the masked prefix.
        assert.ok(!res.text.includes(secret.slice(0, 8 + 16)));
        assert.ok(!/"secret"|key_hash|salt/.test(res.text), res.text);
      }
      const listed = list.json.data.find((k: { id: string }) => k.id === r.json.id);
      assert.equal(listed.prefix, r.json.prefix);
      assert.deepEqual(one.json, listed);
      const { secret: _, ...view } = r.json;
      assert.deepEqual(one.json, view);
    });

    test("a new key authenticates with exactly its permissions and project", async () => {
      const r = await create({ name: "reader", permissions: ["deliveries:read"] });
      const me = await api.request("GET", "/v1/me", { key: r.json.secret });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.type, "api_key");
      assert.equal(me.json.key_id, r.json.id);
      assert.equal(me.json.project_id, projectId);
      assert.deepEqual(me.json.permissions, ["deliveries:read"]);
    });

    test("accepts the Bearer scheme in any letter case", async () => {
      for (const scheme of ["bearer", "BEARER", "BeArEr"]) {
        const r = await api.request("GET", "/v1/me", { headers: { authorization: `${scheme} ${admin}` } });
        assert.equal(r.status, 200, `${scheme}: ${r.text}`);
      }
    });

    test("a key cannot mint a key with permissions it lacks", async () => {
      const minter = await create({ name: "minter", permissions: ["api_keys:read", "api_keys:write"] });
      const wider = await create({ name: "wider", permissions: ["sources:write"] }, minter.json.secret);
      assertError(wider, 403, "FORBIDDEN");
      const same = await create({ name: "same", permissions: ["api_keys:read"] }, minter.json.secret);
      assert.equal(same.status, 201, same.text);
    });

    test("a key cannot revoke a key holding permissions it lacks", async () => {
      const revoker = await create({ name: "revoker", permissions: ["api_keys:write"] });
      const wider = await create({ name: "wider", permissions: ["api_keys:write", "sources:write"] });
      const denied = await api.request("DELETE", `${keysUrl()}/${wider.json.id}`, {
        key: revoker.json.secret,
      });
      assertError(denied, 403, "REVOKE_BEYOND_PERMISSIONS");
      const still = await api.request("GET", `${keysUrl()}/${wider.json.id}`, { key: admin });
      assert.equal(still.json.revoked_at, null, "the wider key still works");
      assert.equal((await api.request("GET", "/v1/me", { key: wider.json.secret })).status, 200);
      const audit = await api.t.db.withTenant(tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const denial = audit.filter((r) => r.action === "authz.denied" && r.actorId === revoker.json.id);
      assert.deepEqual(
        denial.map((r) => [r.outcome, r.details.route, r.details.method]),
        [["denied", "/v1/projects/:project_id/api-keys/:key_id", "DELETE"]],
      );
      // Equal or narrower keys, and the revoker itself, may go.
      const narrower = await create({ name: "narrower", permissions: ["api_keys:write"] });
      const ok = await api.request("DELETE", `${keysUrl()}/${narrower.json.id}`, {
        key: revoker.json.secret,
      });
      assert.equal(ok.status, 200, ok.text);
      const self = await api.request("DELETE", `${keysUrl()}/${revoker.json.id}`, {
        key: revoker.json.secret,
      });
      assert.equal(self.status, 200, self.text);
      // A key holding everything the target holds revokes it.
      const gone = await api.request("DELETE", `${keysUrl()}/${wider.json.id}`, { key: admin });
      assert.equal(gone.status, 200, gone.text);
    });

    test("revocation is immediate and idempotent", async () => {
      const r = await create({ name: "doomed", permissions: ["sources:read"] });
      const secret = r.json.secret;
      assert.equal((await api.request("GET", "/v1/me", { key: secret })).status, 200);
      const first = await api.request("DELETE", `${keysUrl()}/${r.json.id}`, { key: admin });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.json.revoked_at, api.clock.now().toISOString());
      assertError(await api.request("GET", "/v1/me", { key: secret }), 401, "UNAUTHENTICATED");
      api.clock.advance(1_000);
      const again = await api.request("DELETE", `${keysUrl()}/${r.json.id}`, { key: admin });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.revoked_at, first.json.revoked_at);
      assert.ok(!again.text.includes(secret));
    });

    test("using a key stamps last_used_at", async () => {
      const r = await create({ name: "stamped", permissions: ["sources:read"] });
      assert.equal(r.json.last_used_at, null);
      api.clock.advance(5_000);
      const usedAt = api.clock.now().toISOString();
      assert.equal((await api.request("GET", "/v1/me", { key: r.json.secret })).status, 200);
      const after = await api.request("GET", `${keysUrl()}/${r.json.id}`, { key: admin });
      assert.equal(after.json.last_used_at, usedAt);
    });

    test("lists page by limit and after cursor", async () => {
      const t = await api.tenant("paged");
      const url = `/v1/projects/${t.projectId}/api-keys`;
      for (let i = 0; i < 4; i++) {
        const r = await api.request("POST", url, {
          key: t.key,
          body: { name: `k${i}`, permissions: ["sources:read"] },
        });
        assert.equal(r.status, 201, r.text);
      }
      const all = await api.request("GET", url, { key: t.key });
      assert.equal(all.json.data.length, 5);
      assert.equal(all.json.next_cursor, null);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor === null ? "?limit=2" : `?limit=2&after=${cursor}`;
        const page = await api.request("GET", url + q, { key: t.key });
        assert.equal(page.status, 200, page.text);
        assert.ok(page.json.data.length <= 2);
        seen.push(...page.json.data.map((k: { id: string }) => k.id));
        cursor = page.json.next_cursor;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen,
        all.json.data.map((k: { id: string }) => k.id),
      );
      assertError(await api.request("GET", `${url}?limit=0`, { key: t.key }), 400, "VALIDATION_FAILED");
      assertError(await api.request("GET", `${url}?limit=201`, { key: t.key }), 400, "VALIDATION_FAILED");
    });

    test("invalid bodies answer 400 VALIDATION_FAILED naming the path, without echoing values", async () => {
      const canary = "CANARYVALUE7f3a";
      const past = new Date(api.clock.now().getTime() - 60_000).toISOString();
      const cases: [unknown, string][] = [
        [{ name: "x", permissions: [`sources:${canary}`] }, "body.permissions.0"],
        [{ name: "x", permissions: [] }, "body.permissions"],
        [{ name: "x", permissions: ["sources:read"], expires_at: past }, "body.expires_at"],
        [{ name: "x", permissions: ["sources:read"], expires_at: canary }, "body.expires_at"],
        [{ name: "x", permissions: ["sources:read"], extra: canary }, "body"],
        [{ name: "", permissions: ["sources:read"] }, "body.name"],
      ];
      for (const [body, path] of cases) {
        const r = await create(body);
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
        const paths = r.json.error.details?.issues?.map((i: { path: string }) => i.path);
        assert.ok(Array.isArray(paths) && paths.includes(path), `${JSON.stringify(body)}: ${r.text}`);
        assert.ok(!r.text.includes(canary), r.text);
        assert.ok(!r.text.includes(past), r.text);
      }
    });

    test("malformed JSON, a foreign media type and an oversized body are refused before any work", async () => {
      const headers = { "content-type": "application/json" };
      const malformed = await api.request("POST", keysUrl(), {
        key: admin,
        rawBody: '{"name": "x", CANARY',
        headers,
      });
      assertError(malformed, 400, "MALFORMED_REQUEST");
      assert.ok(!malformed.text.includes("CANARY"));
      const text = await api.request("POST", keysUrl(), {
        key: admin,
        rawBody: "name=x",
        headers: { "content-type": "text/plain" },
      });
      assertError(text, 415, "UNSUPPORTED_MEDIA_TYPE");
      const big = JSON.stringify({ name: "x", permissions: ["sources:read"], pad: "a".repeat(64 * 1024) });
      const large = await api.request("POST", keysUrl(), { key: admin, rawBody: big, headers });
      assertError(large, 413, "PAYLOAD_TOO_LARGE");
    });
  });
}
