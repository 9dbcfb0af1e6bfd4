/**
 * The route security matrix: every authenticated route, every way a
 * credential can be missing, wrong, dead, too weak or aimed at another
 * tenant. The table must cover exactly the routes the OpenAPI document marks
 * as secured, so a new route without a row fails this suite.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, storeWithDeliveries, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { type IdKind, newId, randomBase62 } from "../core/index.ts";
import { insertTestSource, testItem } from "../ingest/store/testing.ts";
import { PROJECT_PERMISSIONS } from "../tenancy/index.ts";

type Param =
  | "tenant_id"
  | "project_id"
  | "key_id"
  | "user_id"
  | "event_id"
  | "source_id"
  | "destination_id"
  | "subscription_id"
  | "delivery_id"
  | "job_id";
type Ids = Record<Param, string>;

const KIND: Record<Param, IdKind> = {
  tenant_id: "tenant",
  project_id: "project",
  key_id: "apiKey",
  user_id: "user",
  event_id: "event",
  source_id: "source",
  destination_id: "destination",
  subscription_id: "subscription",
  delivery_id: "delivery",
  job_id: "replayJob",
};

interface Tenant {
  ids: Ids;
  /** Every project permission. */
  key: string;
  ownerCookie: string;
}

interface Fixture {
  api: TestApi;
  a: Tenant;
  b: Tenant;
}

interface Row {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  /** The permission the route needs, or "none" for any authenticated principal. */
  permission: string;
  /** The credential that succeeds: a project key, a tenant member's session, or a session as such. */
  as: "key" | "member" | "session";
  body?(f: Fixture): Promise<unknown>;
  /** Fresh ids the successful call consumes (a member to remove, a key to revoke). */
  fresh?(f: Fixture): Promise<Partial<Ids>>;
  success: number;
}

const memberToChange = async (f: Fixture) => ({
  user_id: (await f.api.user(f.a.ids.tenant_id, "viewer")).id,
});

const freshSource = async (f: Fixture) => ({
  source_id: (await f.api.source(f.a.ids.tenant_id, f.a.ids.project_id)).id,
});

// Plain HTTP allowed: the matrix's ingest listener is loopback HTTP, as in development.
const freshSendableSource = async (f: Fixture) => ({
  source_id: (await f.api.source(f.a.ids.tenant_id, f.a.ids.project_id, { allow_plain_http: true })).id,
});

const freshDestination = async (f: Fixture) => ({
  destination_id: (await f.api.destination(f.a.ids.tenant_id, f.a.ids.project_id)).id,
});

const freshSubscription = async (f: Fixture) => ({
  subscription_id: await subscriptionIn(f.api, f.a.key, f.a.ids.project_id, f.a.ids.destination_id),
});

/** An event of the tenant's with one delivery per subscription, as ingest stores it. */
async function deliveredEvent(api: TestApi, tenantId: string, projectId: string): Promise<string[]> {
  const source = await insertTestSource(api.tenancy.db, tenantId, projectId);
  const [event] = await storeWithDeliveries(api, [testItem(source, api.clock.now())]);
  if (event?.status !== "stored") throw new Error("the fixture event was not stored");
  const rows = await api.t.admin<{ id: string }>("select id from deliveries where event_id = $1", [
    event.eventId,
  ]);
  return [event.eventId, ...rows.map((r) => r.id)];
}

/** A delivery that has finished (dead-lettered), so it can be replayed. */
const deadDelivery = async (f: Fixture) => {
  const [, id] = await deliveredEvent(f.api, f.a.ids.tenant_id, f.a.ids.project_id);
  await f.api.t.admin("update deliveries set status = 'dead', dead_at = now() where id = $1", [id]);
  await f.api.t.admin("delete from delivery_queue where delivery_id = $1", [id]);
  return { delivery_id: id! };
};

async function subscriptionIn(api: TestApi, key: string, projectId: string, destinationId: string) {
  const r = await api.request("POST", `/v1/projects/${projectId}/subscriptions`, {
    key,
    body: { destination_id: destinationId },
  });
  if (r.status !== 201) throw new Error(`the fixture subscription was not created: ${r.text}`);
  return r.json.id as string;
}

const ROWS: Row[] = [
  { method: "POST", path: "/v1/auth/logout", permission: "none", as: "session", success: 204 },
  { method: "GET", path: "/v1/me", permission: "none", as: "key", success: 200 },
  {
    method: "GET",
    path: "/v1/tenants/:tenant_id/projects",
    permission: "projects:read",
    as: "member",
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/tenants/:tenant_id/projects",
    permission: "projects:write",
    as: "member",
    body: async () => ({ name: "matrix" }),
    success: 201,
  },
  {
    method: "GET",
    path: "/v1/tenants/:tenant_id/members",
    permission: "members:read",
    as: "member",
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/tenants/:tenant_id/members",
    permission: "members:write",
    as: "member",
    body: async (f) => ({ email: (await f.api.lonelyUser()).email, role: "viewer" }),
    success: 201,
  },
  {
    method: "PATCH",
    path: "/v1/tenants/:tenant_id/members/:user_id",
    permission: "members:write",
    as: "member",
    body: async () => ({ role: "developer" }),
    fresh: memberToChange,
    success: 204,
  },
  {
    method: "DELETE",
    path: "/v1/tenants/:tenant_id/members/:user_id",
    permission: "members:write",
    as: "member",
    fresh: memberToChange,
    success: 204,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/api-keys",
    permission: "api_keys:write",
    as: "key",
    body: async () => ({ name: "matrix", permissions: ["sources:read"] }),
    success: 201,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/api-keys",
    permission: "api_keys:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/api-keys/:key_id",
    permission: "api_keys:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/events",
    permission: "events:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/events/:event_id",
    permission: "events:read",
    as: "key",
    success: 200,
  },
  {
    method: "DELETE",
    path: "/v1/projects/:project_id/api-keys/:key_id",
    permission: "api_keys:write",
    as: "key",
    fresh: async (f) => ({
      key_id: (await f.api.key(f.a.ids.tenant_id, f.a.ids.project_id, ["sources:read"])).id,
    }),
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/sources",
    permission: "sources:write",
    as: "key",
    body: async () => ({ name: "matrix", scheme: "github" }),
    success: 201,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/sources",
    permission: "sources:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/sources/:source_id",
    permission: "sources:read",
    as: "key",
    success: 200,
  },
  {
    method: "PATCH",
    path: "/v1/projects/:project_id/sources/:source_id",
    permission: "sources:write",
    as: "key",
    body: async () => ({ name: "matrix" }),
    success: 200,
  },
  {
    method: "DELETE",
    path: "/v1/projects/:project_id/sources/:source_id",
    permission: "sources:write",
    as: "key",
    fresh: freshSource,
    success: 204,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/sources/:source_id/rotate-secret",
    permission: "sources:write",
    as: "key",
    body: async () => ({}),
    fresh: freshSource,
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/sources/:source_id/test",
    permission: "sources:write",
    as: "key",
    fresh: freshSendableSource,
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/destinations",
    permission: "destinations:write",
    as: "key",
    body: async () => ({ name: "matrix", url: "https://hooks.example.test/matrix" }),
    success: 201,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/destinations",
    permission: "destinations:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/destinations/:destination_id",
    permission: "destinations:read",
    as: "key",
    success: 200,
  },
  {
    method: "PATCH",
    path: "/v1/projects/:project_id/destinations/:destination_id",
    permission: "destinations:write",
    as: "key",
    body: async () => ({ name: "matrix" }),
    success: 200,
  },
  {
    method: "DELETE",
    path: "/v1/projects/:project_id/destinations/:destination_id",
    permission: "destinations:write",
    as: "key",
    fresh: freshDestination,
    success: 204,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/destinations/:destination_id/rotate-secret",
    permission: "destinations:write",
    as: "key",
    body: async () => ({}),
    fresh: freshDestination,
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/subscriptions",
    permission: "subscriptions:write",
    as: "key",
    body: async (f) => ({ destination_id: f.a.ids.destination_id, event_types: ["com.example.*"] }),
    success: 201,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/subscriptions",
    permission: "subscriptions:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/subscriptions/:subscription_id",
    permission: "subscriptions:read",
    as: "key",
    success: 200,
  },
  {
    method: "PATCH",
    path: "/v1/projects/:project_id/subscriptions/:subscription_id",
    permission: "subscriptions:write",
    as: "key",
    body: async () => ({ name: "matrix" }),
    success: 200,
  },
  {
    method: "DELETE",
    path: "/v1/projects/:project_id/subscriptions/:subscription_id",
    permission: "subscriptions:write",
    as: "key",
    fresh: freshSubscription,
    success: 204,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/deliveries",
    permission: "deliveries:read",
    as: "key",
    success: 200,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/deliveries/:delivery_id",
    permission: "deliveries:read",
    as: "key",
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/deliveries/:delivery_id/replay",
    permission: "deliveries:write",
    as: "key",
    fresh: deadDelivery,
    success: 202,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/dlq",
    permission: "deliveries:read",
    as: "key",
    success: 200,
  },
  {
    method: "POST",
    path: "/v1/projects/:project_id/dlq/replay",
    permission: "deliveries:write",
    as: "key",
    body: async () => ({}),
    success: 202,
  },
  {
    method: "GET",
    path: "/v1/projects/:project_id/replay-jobs/:job_id",
    permission: "deliveries:read",
    as: "key",
    success: 200,
  },
];

const paramsOf = (path: string) => [...path.matchAll(/:([a-z_]+)/g)].map((m) => m[1] as Param);
const fill = (path: string, ids: Ids) => path.replace(/:([a-z_]+)/g, (_, p: Param) => ids[p]);
const openApiPath = (path: string) => path.replace(/:([a-z_]+)/g, "{$1}");

/** Well formed (`zm_test_` + 48 base62) but never issued. */
const unknownKey = () => `zm_test_${randomBase62(48)}`;

for (const kind of DRIVERS) {
  describe(`route security matrix on ${kind}`, { skip: skipReason(kind) }, () => {
    let f: Fixture;
    let revokedKey: string;
    let expiredKey: string;
    let viewerCookie: string;

    async function tenant(name: string): Promise<Tenant> {
      const { api } = f;
      const t = await api.tenant(name);
      const spare = await api.key(t.tenantId, t.projectId, ["sources:read"]);
      const member = await api.user(t.tenantId, "viewer");
      const owner = await api.user(t.tenantId, "owner");
      const source = await api.source(t.tenantId, t.projectId);
      const destination = await api.destination(t.tenantId, t.projectId);
      const subscription = await subscriptionIn(api, t.key, t.projectId, destination.id);
      const [eventId, deliveryId] = await deliveredEvent(api, t.tenantId, t.projectId);
      const job = await api.request("POST", `/v1/projects/${t.projectId}/dlq/replay`, {
        key: t.key,
        body: {},
      });
      if (job.status !== 202) throw new Error(`the fixture replay job was not created: ${job.text}`);
      return {
        ids: {
          tenant_id: t.tenantId,
          project_id: t.projectId,
          key_id: spare.id,
          user_id: member.id,
          event_id: eventId!,
          source_id: source.id,
          destination_id: destination.id,
          subscription_id: subscription,
          delivery_id: deliveryId!,
          job_id: job.json.id as string,
        },
        key: t.key,
        ownerCookie: await api.login(owner.email, owner.password),
      };
    }

    before(async () => {
      f = { api: await startTestApi(kind, { ingest: true }) } as Fixture;
      f.a = await tenant("tenant a");
      f.b = await tenant("tenant b");
      const { api, a } = f;
      const revoked = await api.key(a.ids.tenant_id, a.ids.project_id, [...PROJECT_PERMISSIONS]);
      assert.equal(
        (
          await api.request("DELETE", `/v1/projects/${a.ids.project_id}/api-keys/${revoked.id}`, {
            key: a.key,
          })
        ).status,
        200,
      );
      revokedKey = revoked.secret;
      const soon = new Date(api.clock.now().getTime() + 5_000);
      expiredKey = (await api.key(a.ids.tenant_id, a.ids.project_id, [...PROJECT_PERMISSIONS], soon)).secret;
      assert.equal((await api.request("GET", "/v1/me", { key: expiredKey })).status, 200);
      api.clock.advance(6_000);
      const viewer = await api.user(a.ids.tenant_id, "viewer");
      viewerCookie = await api.login(viewer.email, viewer.password);
    });
    after(async () => {
      await f?.api.close();
    });

    test("the table covers exactly the routes the OpenAPI document marks as secured", async () => {
      const doc = (await f.api.request("GET", "/openapi.json")).json;
      const secured: string[] = [];
      const open: string[] = [];
      for (const [path, ops] of Object.entries(
        doc.paths as Record<string, Record<string, { security: unknown[] }>>,
      )) {
        for (const [method, op] of Object.entries(ops)) {
          (op.security.length > 0 ? secured : open).push(`${method.toUpperCase()} ${path}`);
        }
      }
      const rows = ROWS.map((r) => `${r.method} ${openApiPath(r.path)}`);
      assert.equal(new Set(rows).size, rows.length, "one row per route");
      assert.deepEqual([...rows].sort(), secured.sort());
      assert.deepEqual(open.sort(), ["GET /healthz", "POST /v1/auth/login"]);
    });

    test("without credentials every route answers 401 before looking at its inputs", async () => {
      for (const row of ROWS) {
        // Ids that do not parse and a body of the wrong shape: a 400 or 404 would describe the route.
        const path = row.path.replace(/:[a-z_]+/g, "not-an-id");
        const r = await f.api.request(row.method, path, {
          ...(row.method === "GET" || row.method === "DELETE" ? {} : { body: { unexpected: true } }),
        });
        assert.equal(r.status, 401, `${row.method} ${row.path}: ${r.text}`);
        const q = await f.api.request(row.method, `${fill(row.path, f.a.ids)}?limit=-5&bogus=1`, {});
        assert.equal(q.status, 401, `${row.method} ${row.path} with a bad query: ${q.text}`);
      }
    });

    test("without credentials a malformed, mistyped or oversized body is answered 401, not 400, 413 or 415", async () => {
      const bodies: { what: string; rawBody: string; headers: Record<string, string> }[] = [
        { what: "broken JSON", rawBody: '{"name": ', headers: { "content-type": "application/json" } },
        { what: "a JSON string", rawBody: '"x"', headers: { "content-type": "application/json" } },
        { what: "text/plain", rawBody: "name=x", headers: { "content-type": "text/plain" } },
        { what: "XML", rawBody: "<a/>", headers: { "content-type": "application/xml" } },
        {
          what: "form data",
          rawBody: "a=b",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        },
        {
          what: "a body over the limit",
          rawBody: `{"name":"${"x".repeat(70 * 1024)}"}`,
          headers: { "content-type": "application/json" },
        },
      ];
      for (const row of ROWS) {
        // A GET cannot carry a body; every other method is tried with each.
        if (row.method === "GET") continue;
        for (const b of bodies) {
          for (const path of [fill(row.path, f.a.ids), row.path.replace(/:[a-z_]+/g, "not-an-id")]) {
            const r = await f.api.request(row.method, path, { rawBody: b.rawBody, headers: b.headers });
            assertError(r, 401, "UNAUTHENTICATED", `${row.method} ${path} with ${b.what}`);
          }
        }
      }
    });

    for (const row of ROWS) {
      test(`${row.method} ${row.path} answers each credential as it should`, async () => {
        const { api, a, b } = f;
        const params = paramsOf(row.path);
        // Denied calls change nothing, so one body serves them all and the final successful call.
        const body = row.body ? await row.body(f) : undefined;
        const call = (ids: Ids, opts: { key?: string; cookie?: string; headers?: Record<string, string> }) =>
          api.request(row.method, fill(row.path, ids), { ...opts, ...(body === undefined ? {} : { body }) });
        const denied = async (
          status: number,
          code: string,
          what: string,
          ids: Ids,
          opts: Parameters<typeof call>[1],
        ) => assertError(await call(ids, opts), status, code, what);
        const wwwAuth = await call(a.ids, {});
        assert.equal(wwwAuth.headers.get("www-authenticate"), 'Bearer realm="zenmesh"');

        await denied(401, "UNAUTHENTICATED", "no credentials", a.ids, {});
        await denied(401, "UNAUTHENTICATED", "unknown key", a.ids, { key: unknownKey() });
        for (const authorization of [
          "Basic dXNlcjpwYXNz",
          "Bearer",
          `Bearer ${a.key} extra`,
          "Bearer zm_test_short",
        ]) {
          await denied(401, "UNAUTHENTICATED", `malformed ${authorization}`, a.ids, {
            headers: { authorization },
          });
        }
        await denied(401, "UNAUTHENTICATED", "unknown session", a.ids, {
          cookie: `zm_session=${randomBase62(43)}`,
        });
        await denied(401, "UNAUTHENTICATED", "revoked key", a.ids, { key: revokedKey });
        await denied(401, "UNAUTHENTICATED", "expired key", a.ids, { key: expiredKey });

        if (row.permission !== "none") {
          if (row.as === "key") {
            const weaker = await api.key(
              a.ids.tenant_id,
              a.ids.project_id,
              PROJECT_PERMISSIONS.filter((p) => p !== row.permission),
            );
            await denied(403, "FORBIDDEN", "key lacking the permission", a.ids, { key: weaker.secret });
          } else {
            // Tenant-level permissions are never held by API keys, however wide.
            await denied(403, "FORBIDDEN", "same-tenant key on a tenant route", a.ids, { key: a.key });
            if (row.permission.endsWith(":write")) {
              await denied(403, "FORBIDDEN", "viewer on a tenant write", a.ids, { cookie: viewerCookie });
            }
          }
        }

        if (params.length > 0) {
          // Another tenant's ids look exactly like ids that do not exist: 404, never 403.
          await denied(404, "NOT_FOUND", "A's key on B's ids", b.ids, { key: a.key });
          await denied(404, "NOT_FOUND", "A's owner on B's ids", b.ids, { cookie: a.ownerCookie });
          const good = row.as === "key" ? { key: a.key } : { cookie: a.ownerCookie };
          for (const p of params) {
            await denied(404, "NOT_FOUND", `B's ${p} under A`, { ...a.ids, [p]: b.ids[p] }, good);
            await denied(404, "NOT_FOUND", `nonexistent ${p}`, { ...a.ids, [p]: newId(KIND[p]) }, good);
          }
        }

        const ids = { ...a.ids, ...(row.fresh ? await row.fresh(f) : {}) };
        let credential: { key?: string; cookie?: string };
        if (row.as === "key") credential = { key: a.key };
        else if (row.as === "member") credential = { cookie: a.ownerCookie };
        else {
          const u = await api.user(a.ids.tenant_id, "developer");
          credential = { cookie: await api.login(u.email, u.password) };
        }
        const ok = await call(ids, credential);
        assert.equal(ok.status, row.success, ok.text);
      });
    }
  });

  describe(`failed-authentication rate limit on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(kind, { failureLimit: 5 });
    });
    after(async () => {
      await api?.close();
    });

    test("after five failed authentications even a valid key is refused until the window passes", async () => {
      const { key } = await api.tenant();
      assert.equal((await api.request("GET", "/v1/me", { key })).status, 200);
      for (let i = 0; i < 5; i++) {
        assertError(await api.request("GET", "/v1/me", { key: unknownKey() }), 401, "UNAUTHENTICATED");
      }
      const limited = await api.request("GET", "/v1/me", { key });
      assertError(limited, 429, "RATE_LIMITED");
      const wait = Number(limited.headers.get("retry-after"));
      assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 60, `retry-after ${wait}`);
      api.clock.advance(wait * 1000);
      assert.equal((await api.request("GET", "/v1/me", { key })).status, 200);
    });

    test("failed logins count toward the same limit", async () => {
      api.clock.advance(61_000);
      const { tenantId } = await api.tenant();
      const u = await api.user(tenantId, "owner");
      for (let i = 0; i < 5; i++) {
        const r = await api.request("POST", "/v1/auth/login", {
          body: { email: u.email, password: "wrong password!" },
        });
        assertError(r, 401, "UNAUTHENTICATED");
      }
      const limited = await api.request("POST", "/v1/auth/login", {
        body: { email: u.email, password: u.password },
      });
      assertError(limited, 429, "RATE_LIMITED");
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);
      api.clock.advance(61_000);
      const ok = await api.request("POST", "/v1/auth/login", {
        body: { email: u.email, password: u.password },
      });
      assert.equal(ok.status, 200, ok.text);
    });
  });
}
