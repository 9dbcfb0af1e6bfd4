/**
 * Secrets must not leak: the database keeps only hashes of API keys and
 * session tokens (never the raw values, nor their hex), and no log line or
 * response body repeats a presented credential, password or canary, except
 * the one create-key response that hands out the new secret.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { randomBase62 } from "../core/index.ts";
import { PROJECT_PERMISSIONS } from "../tenancy/index.ts";

const CANARY = "CANARY";

/** Every form in which a raw secret could sit in a row's text. */
function forms(raw: string): string[] {
  const out = [raw, Buffer.from(raw, "utf8").toString("hex")];
  // Session tokens are base64url of random bytes: their decoded bytes must not be stored either.
  if (/^[A-Za-z0-9_-]{43}$/.test(raw)) out.push(Buffer.from(raw, "base64url").toString("hex"));
  // The secret part of an API key on its own.
  const m = /^zm_test_[0-9A-Za-z]{16}([0-9A-Za-z]{32})$/.exec(raw);
  if (m?.[1]) out.push(m[1], Buffer.from(m[1]).toString("hex"));
  return out;
}

for (const kind of DRIVERS) {
  describe(`secrets do not leak on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenant: { tenantId: string; projectId: string; key: string };
    /** Raw API keys, session tokens and passwords created by the flows. */
    const keys: string[] = [];
    const tokens: string[] = [];
    const passwords: string[] = [];
    let apiCreatedKey = "";

    before(async () => {
      api = await startTestApi(kind);
      tenant = await api.tenant();
      keys.push(tenant.key);
      const other = await api.tenant("other");
      keys.push(other.key);
      keys.push((await api.key(tenant.tenantId, tenant.projectId, ["sources:read"])).secret);
      const created = await api.request("POST", `/v1/projects/${tenant.projectId}/api-keys`, {
        key: tenant.key,
        body: { name: "handed out once", permissions: [...PROJECT_PERMISSIONS] },
      });
      assert.equal(created.status, 201, created.text);
      apiCreatedKey = created.json.secret;
      keys.push(apiCreatedKey);
      for (const k of keys) assert.equal((await api.request("GET", "/v1/me", { key: k })).status, 200);

      for (const [tenantId, role] of [
        [tenant.tenantId, "owner"],
        [tenant.tenantId, "viewer"],
        [other.tenantId, "admin"],
      ] as const) {
        const u = await api.user(tenantId, role, `pw-${randomBase62(20)}`);
        passwords.push(u.password);
        for (let i = 0; i < 2; i++) {
          const cookie = await api.login(u.email, u.password);
          tokens.push(cookie.slice("zm_session=".length));
          assert.equal((await api.request("GET", "/v1/me", { cookie })).status, 200);
        }
      }
      // One session ended, so revoked rows are searched too.
      assert.equal(
        (await api.request("POST", "/v1/auth/logout", { cookie: `zm_session=${tokens[0]}` })).status,
        204,
      );
    });
    after(async () => {
      await api?.close();
    });

    test("the database holds no raw API key, session token or password anywhere", async () => {
      const tables = await api.t.admin<{ tablename: string }>(
        "select tablename from pg_tables where schemaname = 'public' order by tablename",
      );
      assert.ok(tables.some((t) => t.tablename === "api_keys"));
      assert.ok(tables.some((t) => t.tablename === "sessions"));
      const needles = [...keys, ...tokens, ...passwords].flatMap((raw) =>
        forms(raw).map((f) => [raw, f] as const),
      );
      let rowsSearched = 0;
      for (const { tablename } of tables) {
        const rows = await api.t.admin<{ row: string }>(`select t::text as row from public."${tablename}" t`);
        rowsSearched += rows.length;
        for (const { row } of rows) {
          for (const [raw, needle] of needles) {
            assert.ok(
              !row.includes(needle),
              `${tablename} holds ${raw.slice(0, 12)}… (as ${needle.slice(0, 12)}…)`,
            );
          }
        }
      }
      assert.ok(rowsSearched > 20, `searched ${rowsSearched} rows`);
    });

    test("no canary or credential reaches a log line or a response body", async () => {
      const { projectId, tenantId } = tenant;
      const u = await api.user(tenantId, "owner", `pw-${randomBase62(20)}`);
      passwords.push(u.password);
      const keysUrl = `/v1/projects/${projectId}/api-keys`;
      const json = { "content-type": "application/json" };
      const canaryKey = `zm_test_${CANARY}${randomBase62(42)}`;
      const flows = [
        () => api.request("GET", "/v1/me", { key: canaryKey }),
        () => api.request("GET", keysUrl, { key: `zm_live_${CANARY}${randomBase62(42)}` }),
        () => api.request("GET", keysUrl, { key: `${CANARY}-not-a-key` }),
        () => api.request("GET", "/v1/me", { headers: { authorization: `Basic ${CANARY}` } }),
        () => api.request("GET", "/v1/me", { cookie: `zm_session=${CANARY}${randomBase62(37)}` }),
        () =>
          api.request("POST", "/v1/auth/login", {
            body: { email: u.email, password: `${CANARY}-PASSWORD-1` },
          }),
        () =>
          api.request("POST", "/v1/auth/login", {
            body: {
              email: `${CANARY.toLowerCase()}-${CANARY}@example.test`,
              password: `${CANARY}-PASSWORD-2`,
            },
          }),
        () => api.request("POST", "/v1/auth/login", { body: { email: `${CANARY}@x`, password: 7 } }),
        () =>
          api.request("POST", "/v1/auth/login", {
            rawBody: `{"email": "${CANARY}@x", "password": `,
            headers: json,
          }),
        () =>
          api.request("POST", keysUrl, { key: tenant.key, rawBody: `{"name": "${CANARY}", `, headers: json }),
        () =>
          api.request("POST", keysUrl, {
            key: tenant.key,
            body: { name: "n", permissions: [`${CANARY}:write`], [`${CANARY}_field`]: CANARY },
          }),
        () =>
          api.request("POST", keysUrl, {
            key: tenant.key,
            rawBody: `name=${CANARY}`,
            headers: { "content-type": "text/plain" },
          }),
        () => api.request("GET", `${keysUrl}?after=${CANARY}&limit=1`, { key: tenant.key }),
        () => api.request("GET", `/v1/${CANARY}/nowhere?token=${CANARY}`),
        () => api.request("GET", `/v1/projects/prj_${CANARY}/api-keys`, { key: tenant.key }),
        // Successful flows with real credentials.
        () => api.request("GET", keysUrl, { key: tenant.key }),
        () => api.request("POST", "/v1/auth/login", { body: { email: u.email, password: u.password } }),
      ];
      for (const flow of flows) {
        const r = await flow();
        assert.ok(r.status < 500, `${r.status} ${r.text}`);
      }
      const cookie = await api.login(u.email, u.password);
      tokens.push(cookie.slice("zm_session=".length));
      assert.equal((await api.request("GET", `/v1/tenants/${tenantId}/members`, { cookie })).status, 200);
      assert.equal((await api.request("POST", "/v1/auth/logout", { cookie })).status, 204);
      assert.equal((await api.request("GET", "/v1/me", { cookie })).status, 401);

      const logs = api.logs.text();
      assert.ok(api.logs.lines().length > flows.length, "requests were logged");
      assert.ok(!logs.includes(CANARY), `a canary reached the logs: ${lineWith(logs, CANARY)}`);
      assert.ok(!logs.toLowerCase().includes(CANARY.toLowerCase()), lineWith(logs.toLowerCase(), "canary"));
      for (const secret of [...keys, ...tokens, ...passwords]) {
        for (const form of forms(secret)) {
          assert.ok(!logs.includes(form), `a credential reached the logs: ${lineWith(logs, form)}`);
        }
      }

      for (const body of api.bodies) {
        assert.ok(!body.includes(CANARY), `a canary was echoed: ${body}`);
        for (const secret of [...tokens, ...passwords]) assert.ok(!body.includes(secret), body);
      }
      for (const key of keys) {
        const shown = api.bodies.filter((b) => b.includes(key)).length;
        assert.equal(shown, key === apiCreatedKey ? 1 : 0, `${key.slice(0, 12)}… shown ${shown} times`);
      }
    });
  });
}

function lineWith(text: string, needle: string): string {
  return text.split("\n").find((l) => l.includes(needle)) ?? "";
}
